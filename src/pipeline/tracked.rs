//! The run's state machine: everything learned about one pipeline execution ([`Tracked`]), the folds
//! that bring every pipeline status answer ([`Tracked::fold_status`]) and every execution read
//! ([`Tracked::fold_read`]) into it, and the rules that decide when the run ended ([`Tracked::decide_end`],
//! [`Tracked::progress`]) and how ([`Tracked::verdict`]). No I/O: a fold returns what it saw
//! ([`Seen`]) and which executions want reading ([`WantedRead`]); the follower does the reading and
//! `narrate` the wording. The follower, the execution reads (`details`) and the cancels all use these
//! folds.

use std::collections::BTreeSet;
use std::time::{Duration, SystemTime};

use crate::pipeline::ending::Ending;
use crate::pipeline::hint::ConfiguredLimit;
use crate::pipeline::node::{Node, NodeKind, NodeStatus, is_partial, normalize};
use dune_api::models::{ExecutionStatus, NodeExecution, PipelineStatus};

/// How long "nothing can make progress" must hold before the action believes it (without a definition).
pub const SETTLE_GRACE: Duration = Duration::from_secs(10);

/// Every this many status polls, nodes still running in a word the action does not know have their
/// execution read again.
pub const UNKNOWN_RECHECK_POLLS: u32 = 4;

/// Why a node's execution was not read (worded by `details`, next to the time bound it names).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unread {
    /// The time allowed after the end (`details::AFTER_END`) ran out first.
    AfterEnd,
    /// The workflow was cancelled, or the run ended without the pipeline ending.
    Stopped,
    /// The read failed (a warning names the node).
    Failed,
}

/// Everything learned about one pipeline execution.
#[derive(Debug, Clone, Default)]
pub struct Tracked {
    pub pipeline_execution_id: Option<String>,
    /// The last top-level status string, verbatim.
    pub raw_status: Option<String>,
    /// The top-level `error`, when Dune sent one.
    pub pipeline_error: Option<String>,
    /// Nodes in the order of the definition, when it was read, else in the order Dune lists them.
    pub nodes: Vec<Node>,
    /// Status requests made.
    pub polls: u32,
    /// Clock time at which the end was noticed (the answer that showed it arrived).
    pub noticed_end_at: Option<Duration>,
    /// Nodes whose report contradicted the definition (each warned about once); the rest keep the DAG.
    pub unmatched: Vec<i64>,
    /// Nodes whose execution was not read, and why (their times are observed, see
    /// [`Node::times_observed`]).
    pub unread: Vec<(i64, Unread)>,
    /// Since when (clock time) "nothing can make progress" has been a guess ([`Progress::Probably`]).
    pub settled_since: Option<Duration>,
    /// The credit budget of the run (`max_credits`), when one is set.
    pub max_credits: Option<f64>,
}

/// What a status answer showed, in order, for the log.
#[derive(Debug, Clone, PartialEq)]
pub enum Seen {
    /// The top-level status changed to this word.
    Pipeline(String),
    /// Not one node matches the definition: another pipeline than the definition describes (the
    /// definition was dropped). The reasons, one per node.
    OtherPipeline(Vec<String>),
    /// Node `id` contradicts the definition (said once per node).
    Contradiction { id: i64, why: String },
    /// Node `id` has a new word. `before` is `None` at its first report.
    Node {
        id: i64,
        label: String,
        before: Option<NodeStatus>,
        now: NodeStatus,
        raw: String,
    },
}

/// An execution the follower should read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WantedRead {
    pub id: i64,
    pub execution_id: String,
    /// The node failed (its read goes before the others).
    pub failed: bool,
    /// Only the read can say whether the node ended (its word is not one the action knows).
    pub deciding: bool,
}

/// What folding one status answer produced.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Folded {
    pub seen: Vec<Seen>,
    pub reads: Vec<WantedRead>,
}

/// What folding one execution read produced, for the log.
#[derive(Debug)]
pub enum ReadFolded {
    /// Nothing to say (an unknown node, a node still running, or a read interrupted by the stop).
    Quiet,
    /// The node ended and its details are known (the log shows them).
    Ended,
    /// The read failed; the node keeps the times the action observed.
    Failed(dune_api::Error),
}

/// Whether any node can still make progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    /// Some node runs or may still start.
    Possible,
    /// Without the definition, nothing seems able to run: believed after [`SETTLE_GRACE`].
    Probably,
    /// Certainly nothing can run any more.
    Done,
}

/// Whether a status answer ended the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Not yet.
    Going,
    /// The run ended, noticed at this clock time.
    Ended(Duration),
    /// Nothing could progress for [`SETTLE_GRACE`] although the pipeline does not say it ended: ended
    /// at this clock time (the log says why).
    Settled(Duration),
}

impl Tracked {
    pub(crate) fn node_mut(&mut self, id: i64) -> Option<&mut Node> {
        self.nodes.iter_mut().find(|n| n.id == id)
    }

    /// The node a status response reports, added as the response describes it when it is new (`true`).
    fn node_for(&mut self, ne: &NodeExecution) -> (&mut Node, bool) {
        let (i, is_new) = match self.nodes.iter().position(|n| n.id == ne.id) {
            Some(i) => (i, false),
            None => {
                self.nodes.push(Node::new(ne.id, kind_of(ne)));
                (self.nodes.len() - 1, true)
            }
        };
        (&mut self.nodes[i], is_new)
    }

    /// Whether every node completed (and there is at least one).
    pub fn all_completed(&self) -> bool {
        !self.nodes.is_empty() && self.nodes.iter().all(|n| n.status == NodeStatus::Completed)
    }

    /// Nodes that are running or queued with an execution (what a cancel can reach).
    pub fn cancellable(&self) -> Vec<(i64, String)> {
        self.nodes
            .iter()
            .filter(|n| {
                matches!(
                    n.status,
                    NodeStatus::Pending | NodeStatus::Executing | NodeStatus::Unknown
                )
            })
            .filter_map(|n| n.execution_id.clone().map(|e| (n.id, e)))
            .collect()
    }

    /// Whether the last top-level status is a word that says the pipeline ended.
    pub fn pipeline_ended(&self) -> bool {
        self.raw_status
            .as_deref()
            .is_some_and(|s| normalize(s).is_terminal())
    }

    /// Folds one status response, answered at clock time `at`, into the state: the top-level status and
    /// error, the nodes that contradict the definition, and every node's word (a node that ended never
    /// goes back to running). Returns what changed and the executions to read: each node that just ended
    /// (or whose word is not recognised), and every [`UNKNOWN_RECHECK_POLLS`] polls the nodes still
    /// running in such a word.
    pub fn fold_status(&mut self, status: &PipelineStatus, at: Duration) -> Folded {
        let mut out = Folded::default();
        if status.status != self.raw_status {
            if let Some(s) = &status.status {
                out.seen.push(Seen::Pipeline(s.clone()));
            }
            self.raw_status = status.status.clone();
        }
        if let Some(e) = &status.error {
            self.pipeline_error = Some(e.message.clone());
        }
        let contradictions = self.contradictions(&status.nodes);
        if !contradictions.is_empty() && contradictions.len() == status.nodes.len() {
            out.seen.push(Seen::OtherPipeline(
                contradictions.into_iter().map(|(_, w)| w).collect(),
            ));
            self.forget_definition();
        } else {
            for (id, why) in contradictions {
                if self.unmatched.contains(&id) {
                    continue;
                }
                self.unmatched.push(id);
                out.seen.push(Seen::Contradiction { id, why });
            }
        }
        for ne in &status.nodes {
            if let Some(seen) = self.fold_node(ne, at) {
                out.seen.push(seen);
                if let Some(node) = self.nodes.iter().find(|n| n.id == ne.id)
                    && let Some(exec) = &node.execution_id
                    && (node.status.is_terminal() || node.status == NodeStatus::Unknown)
                {
                    out.reads.push(WantedRead {
                        id: node.id,
                        execution_id: exec.clone(),
                        failed: node.status == NodeStatus::Failed,
                        deciding: node.status == NodeStatus::Unknown,
                    });
                }
            }
        }
        // A node whose word the action does not know was settled by its execution's state when the word
        // last changed; if the word then stays the same while the execution ends, only the execution says
        // so: look again every few polls.
        if self.polls % UNKNOWN_RECHECK_POLLS == 0 {
            for n in &self.nodes {
                if !n.status.is_terminal()
                    && n.raw_status
                        .as_deref()
                        .is_some_and(|r| normalize(r) == NodeStatus::Unknown)
                    && let Some(exec) = &n.execution_id
                {
                    out.reads.push(WantedRead {
                        id: n.id,
                        execution_id: exec.clone(),
                        failed: false,
                        deciding: true,
                    });
                }
            }
        }
        out
    }

    /// Folds one node of a status response; `Some` when its word changed.
    fn fold_node(&mut self, ne: &NodeExecution, at: Duration) -> Option<Seen> {
        let kind = kind_of(ne);
        let unmatched = self.unmatched.contains(&ne.id);
        let (node, is_new) = self.node_for(ne);
        // Fill in what a later response knows better; a view keeps its full name when Dune reports the short
        // one, and a node Dune reports as another kind than the definition takes Dune's.
        match (&mut node.kind, &kind) {
            (NodeKind::Query { query_id }, NodeKind::Query { query_id: Some(q) }) => {
                *query_id = Some(*q)
            }
            (NodeKind::MaterializedView { name }, NodeKind::MaterializedView { name: Some(n) }) => {
                let keep = name
                    .as_deref()
                    .is_some_and(|old| same_view(old, n) && old.len() >= n.len());
                if !keep {
                    *name = Some(n.clone());
                }
            }
            (NodeKind::Query { .. }, NodeKind::MaterializedView { .. })
            | (NodeKind::MaterializedView { .. }, NodeKind::Query { .. })
                if unmatched =>
            {
                node.kind = kind.clone();
            }
            _ => {}
        }
        if ne.execution_id.is_some() {
            node.execution_id = ne.execution_id.clone();
        }
        if let Some(e) = &ne.error
            && node.error.is_none()
        {
            node.error = Some(e.clone());
        }
        let raw = ne.status.clone().unwrap_or_default();
        let now = if raw.is_empty() {
            NodeStatus::Unknown
        } else {
            normalize(&raw)
        };
        if node.raw_status.as_deref() == Some(raw.as_str())
            || (node.details_read && node.status.is_terminal())
            // A node that ended never goes back to running (or to a word the action does not know).
            || (node.status.is_terminal() && !now.is_terminal())
        {
            return None;
        }
        let before = node.status;
        // A node listed from the definition is reported for the first time too.
        let first_report = node.raw_status.is_none();
        node.raw_status = Some(raw.clone());
        node.status = now;
        if now == NodeStatus::Executing && node.observed_started.is_none() {
            node.observed_started = Some(at);
        }
        if now.is_terminal() && node.observed_ended.is_none() {
            node.observed_ended = Some(at);
        }
        Some(Seen::Node {
            id: node.id,
            label: node.label(),
            before: (!(is_new || first_report)).then_some(before),
            now,
            raw,
        })
    }

    /// Folds one read of node `id`'s execution: its state settles a word the action does not know, and
    /// it brings the exact times, the credits and the error.
    pub fn fold_read(
        &mut self,
        id: i64,
        result: Result<ExecutionStatus, dune_api::Error>,
    ) -> ReadFolded {
        let Some(node) = self.node_mut(id) else {
            return ReadFolded::Quiet;
        };
        match result {
            Ok(es) => {
                if let Some(state) = &es.state {
                    let precise = normalize(state);
                    // The execution's own state settles an unrecognised pipeline status string (each time
                    // it is read, as long as Dune's word for the node stays unrecognised); a node that
                    // ended stays ended.
                    let word_unknown = node.status == NodeStatus::Unknown
                        || node
                            .raw_status
                            .as_deref()
                            .is_none_or(|r| normalize(r) == NodeStatus::Unknown);
                    let backwards = node.status.is_terminal() && !precise.is_terminal();
                    if word_unknown && precise != NodeStatus::Unknown && !backwards {
                        node.status = precise;
                    }
                    if node.status == NodeStatus::Completed && is_partial(state) {
                        node.raw_status = Some(state.clone());
                    }
                }
                node.started_at = es.started_at.or(node.started_at.take());
                node.ended_at = es.ended_at.or(es.cancelled_at).or(node.ended_at.take());
                node.credits = es.credits.or(node.credits);
                if es.error.is_some() {
                    node.error = es.error;
                }
                node.details_read = node.status.is_terminal();
                if node.details_read {
                    ReadFolded::Ended
                } else {
                    ReadFolded::Quiet
                }
            }
            Err(dune_api::Error::Interrupted { .. }) => {
                self.unread.push((id, Unread::Stopped));
                ReadFolded::Quiet
            }
            Err(e) => {
                self.unread.push((id, Unread::Failed));
                ReadFolded::Failed(e)
            }
        }
    }

    /// Whether any node can still make progress. A node that never started (pending, or in a word the
    /// action does not know, and without an execution id) below a failed, cancelled or skipped node cannot:
    /// with the definition that is certain, without it a guess that must hold for [`SETTLE_GRACE`]. So a
    /// run ends, whatever words Dune uses, once no node is running: with the definition at the first status
    /// answer after the last running node ended, without it [`SETTLE_GRACE`] after that.
    pub fn progress(&self) -> Progress {
        if self.nodes.is_empty() {
            return Progress::Possible;
        }
        let any_bad = self.nodes.iter().any(|n| n.status.is_bad());
        let mut guess = false;
        for n in &self.nodes {
            let unstarted = matches!(n.status, NodeStatus::Pending | NodeStatus::Unknown)
                && n.execution_id.is_none();
            match n.status {
                s if s.is_terminal() => {}
                _ if unstarted && self.upstream_broken(n) == Some(true) => {}
                _ if unstarted && n.dependencies.is_none() && any_bad => guess = true,
                _ => return Progress::Possible,
            }
        }
        if guess {
            // Without the definition, "no node is running and the rest never started" is a guess: wait a
            // little to be sure nothing else starts.
            if self.nodes.iter().any(|n| n.status == NodeStatus::Executing) {
                return Progress::Possible;
            }
            return Progress::Probably;
        }
        Progress::Done
    }

    /// After a status answer (folded, answered at clock time `answered`; `now` is the clock now): has the
    /// run ended? The top-level word says so, or no node can make progress (at once with the definition,
    /// after [`SETTLE_GRACE`] of the same guess without it).
    pub fn decide_end(&mut self, answered: Duration, now: Duration) -> Decision {
        if self.pipeline_ended() {
            return Decision::Ended(answered);
        }
        match self.progress() {
            Progress::Done => Decision::Ended(now),
            Progress::Probably => {
                let since = *self.settled_since.get_or_insert(now);
                if now.saturating_sub(since) >= SETTLE_GRACE {
                    Decision::Settled(now)
                } else {
                    Decision::Going
                }
            }
            Progress::Possible => {
                self.settled_since = None;
                Decision::Going
            }
        }
    }

    /// The run ended, noticed at clock time `at`: nodes that never started are settled as skipped
    /// (returned, in order, for the log). Pending or in an unknown word without an execution id, below a
    /// node that did not complete; or reported failed or cancelled (some vocabularies say `aborted` for a
    /// node blocked by a failure) without ever having had an execution or an error of its own, when the
    /// definition shows a broken upstream.
    pub fn conclude(&mut self, at: Duration) -> Vec<i64> {
        let any_bad = self.nodes.iter().any(|n| n.status.is_bad());
        let mut skipped = Vec::new();
        for i in 0..self.nodes.len() {
            let n = &self.nodes[i];
            let never_started = matches!(n.status, NodeStatus::Pending | NodeStatus::Unknown)
                && n.execution_id.is_none();
            let broken = self.upstream_broken(n).unwrap_or(any_bad);
            let blocked_not_failed = n.status.is_bad()
                && n.execution_id.is_none()
                && n.error.is_none()
                && !n.cancelled_by_action
                && self.upstream_broken(n) == Some(true);
            if never_started && broken || blocked_not_failed {
                skipped.push(n.id);
                self.nodes[i].status = NodeStatus::Skipped;
            }
        }
        self.noticed_end_at = Some(at);
        skipped
    }

    /// The credits known to be spent: the sum of `execution_cost_credits` over the nodes whose execution
    /// was read (credits add up as the reads come in).
    pub fn spent(&self) -> f64 {
        self.nodes.iter().filter_map(|n| n.credits).sum()
    }

    /// Nodes that executed (or are executing) whose cost is not known: their execution was not read (yet,
    /// or within the rate budget), or Dune gave no `execution_cost_credits`.
    pub fn credits_unknown(&self) -> Vec<i64> {
        self.nodes
            .iter()
            .filter(|n| n.credits.is_none() && n.execution_id.is_some())
            .map(|n| n.id)
            .collect()
    }

    /// Whether the known spend passed the budget (`max_credits`).
    pub fn over_budget(&self) -> bool {
        self.max_credits.is_some_and(|max| self.spent() > max)
    }

    /// The nodes that spent the budget, costliest first (id, credits).
    pub fn spenders(&self) -> Vec<(i64, f64)> {
        let mut v: Vec<(i64, f64)> = self
            .nodes
            .iter()
            .filter_map(|n| n.credits.filter(|c| *c > 0.0).map(|c| (n.id, c)))
            .collect();
        v.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        v
    }

    /// The first failed node whose execution Dune refused with "would exceed your configured limits" (a
    /// limit the team set on dune.com), and which limit.
    pub fn refused_by_limit(&self) -> Option<(&Node, ConfiguredLimit)> {
        self.nodes
            .iter()
            .filter(|n| n.status == NodeStatus::Failed)
            .find_map(|n| {
                let limit = ConfiguredLimit::of_message(&n.error.as_ref()?.message)?;
                Some((n, limit))
            })
    }

    /// How a pipeline that ended did: an API error when Dune refused a node for a limit set on dune.com
    /// (as it does a request: exit 4); over budget when the known spend passed `max_credits`; completed
    /// when every node did (and the top-level status is not a failure), else failed, or cancelled when
    /// nothing failed but a node or the pipeline was cancelled.
    pub fn verdict(&self) -> Ending {
        if self.refused_by_limit().is_some() {
            return Ending::ApiError;
        }
        if self.over_budget() {
            return Ending::OverBudget;
        }
        let top = self.raw_status.as_deref().map(normalize);
        let has = |status| self.nodes.iter().any(|n| n.status == status);
        let top_bad = matches!(top, Some(NodeStatus::Failed | NodeStatus::Cancelled));
        if self.all_completed() && !top_bad
            || self.nodes.is_empty() && top == Some(NodeStatus::Completed)
        {
            Ending::Completed
        } else if has(NodeStatus::Failed) {
            Ending::Failed
        } else if has(NodeStatus::Cancelled) || top == Some(NodeStatus::Cancelled) {
            Ending::Cancelled
        } else {
            Ending::Failed
        }
    }

    /// For nodes whose execution was not read: `started_at` / `ended_at` from the first polls that showed
    /// them executing and ended (RFC 3339, at poll resolution, counted from `origin`, the wall time at
    /// clock time zero), which [`Node::times_observed`] then marks.
    pub fn fill_observed(&mut self, origin: SystemTime) {
        let stamp = |at: Duration| humantime::format_rfc3339_millis(origin + at).to_string();
        for n in self.nodes.iter_mut().filter(|n| !n.details_read) {
            if n.started_at.is_none() {
                n.started_at = n.observed_started.map(stamp);
            }
            if n.ended_at.is_none() && n.status.is_terminal() {
                n.ended_at = n.observed_ended.map(stamp);
            }
        }
    }

    /// The nodes of a status response that contradict the definition read before the start (a node id the
    /// definition does not have, or another query or view under a defined id), each with the reason. Empty
    /// when there is no definition. A view named by its short name in one place and its full name in the
    /// other is the same view.
    fn contradictions(&self, status: &[NodeExecution]) -> Vec<(i64, String)> {
        if self.nodes.iter().all(|n| n.dependencies.is_none()) {
            return Vec::new();
        }
        let mut found = Vec::new();
        for ne in status {
            let Some(defined) = self.nodes.iter().find(|n| n.id == ne.id) else {
                found.push((
                    ne.id,
                    format!(
                        "Dune reports node {}, which the definition does not have",
                        ne.id
                    ),
                ));
                continue;
            };
            let same = match &defined.kind {
                NodeKind::Query { query_id } => {
                    !ne.is_materialized_view && (ne.query_id.is_none() || ne.query_id == *query_id)
                }
                NodeKind::MaterializedView { name } => {
                    ne.is_materialized_view
                        && match (&ne.name, name) {
                            (Some(a), Some(b)) => same_view(a, b),
                            _ => true,
                        }
                }
            };
            if !same {
                found.push((
                    ne.id,
                    format!(
                        "Dune reports node {} as {}, the definition as {}",
                        ne.id,
                        match (ne.is_materialized_view, &ne.name, ne.query_id) {
                            (true, Some(n), _) => format!("view {n}"),
                            (false, _, Some(q)) => format!("query {q}"),
                            (true, None, _) => "a materialized view".to_string(),
                            (false, _, None) => "a query".to_string(),
                        },
                        defined.label()
                    ),
                ));
            }
        }
        found
    }

    /// Drops what came from the definition: nodes Dune never reported, and every node's dependencies.
    fn forget_definition(&mut self) {
        self.nodes.retain(|n| n.raw_status.is_some());
        for n in &mut self.nodes {
            n.dependencies = None;
        }
    }

    /// Whether some node has an ancestor (by the definition's dependencies) that failed, was cancelled or
    /// was skipped.
    fn upstream_broken(&self, node: &Node) -> Option<bool> {
        let deps = node.dependencies.as_ref()?;
        let mut seen = BTreeSet::new();
        let mut stack: Vec<i64> = deps.clone();
        while let Some(id) = stack.pop() {
            if !seen.insert(id) {
                continue;
            }
            if let Some(dep) = self.nodes.iter().find(|n| n.id == id) {
                if matches!(
                    dep.status,
                    NodeStatus::Failed | NodeStatus::Cancelled | NodeStatus::Skipped
                ) {
                    return Some(true);
                }
                if let Some(more) = &dep.dependencies {
                    stack.extend(more.iter().copied());
                }
            }
        }
        Some(false)
    }
}

/// Whether two names are the same materialized view: equal, or equal in their last part when one of them
/// is the short name (`mv_daily_volume` and `dune.acme.mv_daily_volume`). Case is ignored.
pub fn same_view(a: &str, b: &str) -> bool {
    let short = |s: &str| {
        s.rsplit('.')
            .next()
            .unwrap_or(s)
            .trim()
            .to_ascii_lowercase()
    };
    a.trim().eq_ignore_ascii_case(b.trim())
        || ((!a.contains('.') || !b.contains('.')) && short(a) == short(b))
}

/// What a node of a status response is: a query execution or a materialized-view refresh.
pub fn kind_of(ne: &NodeExecution) -> NodeKind {
    if ne.is_materialized_view {
        NodeKind::MaterializedView {
            name: ne.name.clone(),
        }
    } else {
        NodeKind::Query {
            query_id: ne.query_id,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn status_node(id: i64, query_id: i64) -> NodeExecution {
        let mut n = NodeExecution::default();
        n.id = id;
        n.status = Some("pending".into());
        n.query_id = Some(query_id);
        n
    }

    fn defined(id: i64, query_id: i64, deps: Vec<i64>) -> Node {
        let mut n = Node::new(
            id,
            NodeKind::Query {
                query_id: Some(query_id),
            },
        );
        n.dependencies = Some(deps);
        n
    }

    /// A status answer, as Dune sends it: `(node, word, execution)`.
    fn answer(top: &str, nodes: &[(i64, &str, Option<&str>)]) -> PipelineStatus {
        let nodes: Vec<_> = nodes
            .iter()
            .map(|(id, word, exec)| {
                json!({"query_execution_status": {
                    "id": id, "status": word, "query_id": 100 + id, "execution_id": exec,
                }})
            })
            .collect();
        PipelineStatus::from_value(&json!({"status": top, "node_executions": nodes}))
            .expect("a status answer")
    }

    /// An execution read, as Dune sends it.
    fn execution(state: &str) -> ExecutionStatus {
        ExecutionStatus::from_value(&json!({
            "state": state,
            "execution_started_at": "2026-01-01T00:00:00Z",
            "execution_ended_at": "2026-01-01T00:00:05Z",
        }))
        .expect("an execution read")
    }

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    fn status_of(run: &Tracked, id: i64) -> NodeStatus {
        run.nodes
            .iter()
            .find(|n| n.id == id)
            .map(|n| n.status)
            .unwrap_or(NodeStatus::Unknown)
    }

    #[test]
    fn a_status_that_contradicts_the_definition_is_noticed() {
        let run = Tracked {
            nodes: vec![defined(1, 10, vec![]), defined(2, 20, vec![1])],
            ..Tracked::default()
        };
        assert!(
            run.contradictions(&[status_node(1, 10), status_node(2, 20)])
                .is_empty()
        );
        assert!(run.contradictions(&[status_node(1, 10)]).is_empty());
        let found = run.contradictions(&[status_node(0, 10)]);
        assert_eq!(found.len(), 1);
        assert!(found[0].1.contains("node 0"));
        let found = run.contradictions(&[status_node(1, 10), status_node(2, 10)]);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].0, 2);
        assert!(
            found[0]
                .1
                .contains("as query 10, the definition as query 20")
        );
        let mut run = run;
        run.forget_definition();
        assert!(run.nodes.is_empty());
        assert!(run.contradictions(&[status_node(5, 1)]).is_empty());
    }

    #[test]
    fn short_and_full_view_names_are_one_view() {
        assert!(same_view("mv_daily_volume", "dune.acme.mv_daily_volume"));
        assert!(same_view("dune.acme.mv_daily_volume", "mv_daily_volume"));
        assert!(same_view("dune.acme.MV_Daily", "dune.acme.mv_daily"));
        assert!(!same_view("dune.acme.mv_a", "dune.other.mv_a"));
        assert!(!same_view("mv_a", "dune.acme.mv_b"));
        let mut view = Node::new(
            1,
            NodeKind::MaterializedView {
                name: Some("dune.acme.mv_daily_volume".into()),
            },
        );
        view.dependencies = Some(vec![]);
        let run = Tracked {
            nodes: vec![view, defined(2, 20, vec![1])],
            ..Tracked::default()
        };
        let mut short = NodeExecution::default();
        short.id = 1;
        short.is_materialized_view = true;
        short.status = Some("pending".into());
        short.name = Some("mv_daily_volume".into());
        assert!(run.contradictions(&[short, status_node(2, 20)]).is_empty());
    }

    #[test]
    fn a_fold_says_what_changed_and_which_executions_to_read() {
        let mut run = Tracked::default();
        let first = run.fold_status(
            &answer(
                "executing",
                &[(1, "executing", Some("E1")), (2, "pending", None)],
            ),
            secs(1),
        );
        assert_eq!(first.seen[0], Seen::Pipeline("executing".into()));
        assert!(matches!(
            first.seen[1],
            Seen::Node {
                id: 1,
                before: None,
                now: NodeStatus::Executing,
                ..
            }
        ));
        assert!(first.reads.is_empty());
        assert_eq!(run.nodes[0].observed_started, Some(secs(1)));

        // The same answer again changes nothing.
        let again = run.fold_status(
            &answer(
                "executing",
                &[(1, "executing", Some("E1")), (2, "pending", None)],
            ),
            secs(2),
        );
        assert_eq!(again, Folded::default());

        let ended = run.fold_status(
            &answer(
                "executing",
                &[(1, "failed", Some("E1")), (2, "pending", None)],
            ),
            secs(3),
        );
        assert!(matches!(
            ended.seen[0],
            Seen::Node {
                id: 1,
                before: Some(NodeStatus::Executing),
                now: NodeStatus::Failed,
                ..
            }
        ));
        assert_eq!(
            ended.reads,
            vec![WantedRead {
                id: 1,
                execution_id: "E1".into(),
                failed: true,
                deciding: false,
            }]
        );
        assert_eq!(run.nodes[0].observed_ended, Some(secs(3)));
    }

    #[test]
    fn a_word_the_action_does_not_know_is_settled_by_the_execution() {
        let mut run = Tracked::default();
        let folded = run.fold_status(
            &answer("executing", &[(1, "QUERY_STATE_WEIRD", Some("E1"))]),
            secs(1),
        );
        // Read at once, deciding (and again by the recheck every few polls: the queue keeps one).
        assert!(!folded.reads.is_empty());
        assert!(folded.reads.iter().all(|r| r.id == 1 && r.deciding));
        assert_eq!(run.progress(), Progress::Possible);
        assert!(matches!(
            run.fold_read(1, Ok(execution("QUERY_STATE_COMPLETED"))),
            ReadFolded::Ended
        ));
        assert_eq!(status_of(&run, 1), NodeStatus::Completed);
        assert!(run.nodes[0].details_read);
        assert_eq!(run.progress(), Progress::Done);
        assert_eq!(run.verdict(), Ending::Completed);
    }

    #[test]
    fn credits_add_up_as_reads_come_in_and_pass_the_budget() {
        let mut run = seen_once(
            &[
                (1, "completed", Some("E1")),
                (2, "completed", Some("E2")),
                (3, "running", Some("E3")),
            ],
            secs(1),
        );
        run.max_credits = Some(10.0);
        let cost = |c: f64| {
            ExecutionStatus::from_value(&json!({
                "state": "QUERY_STATE_COMPLETED",
                "execution_cost_credits": c,
            }))
            .expect("an execution read")
        };
        assert_eq!(run.credits_unknown(), vec![1, 2, 3]);
        run.fold_read(1, Ok(cost(4.0)));
        assert!(!run.over_budget());
        assert_eq!(run.spent(), 4.0);
        run.fold_read(2, Ok(cost(12.0)));
        assert!(run.over_budget());
        assert_eq!(run.spenders(), vec![(2, 12.0), (1, 4.0)]);
        assert_eq!(run.credits_unknown(), vec![3]);
        assert_eq!(run.verdict(), Ending::OverBudget);
    }

    #[test]
    fn a_node_refused_for_a_configured_limit_is_an_api_error() {
        let mut run = seen_once(
            &[(1, "completed", Some("E1")), (2, "failed", Some("E2"))],
            secs(1),
        );
        run.fold_read(
            2,
            Ok(ExecutionStatus::from_value(&json!({
                "state": "QUERY_STATE_FAILED",
                "error": {"type": "FAILED_TYPE_EXECUTION_FAILED", "message": "This api request would exceed your configured limits per billing cycle."},
            }))
            .expect("an execution read")),
        );
        let (node, limit) = run.refused_by_limit().expect("refused");
        assert_eq!((node.id, limit), (2, ConfiguredLimit::Monthly));
        assert_eq!(run.verdict(), Ending::ApiError);
        // Any other failure is the pipeline's own.
        let plain = seen_once(&[(1, "failed", Some("E1"))], secs(1));
        assert_eq!(plain.refused_by_limit().map(|(n, _)| n.id), None);
        assert_eq!(plain.verdict(), Ending::Failed);
    }

    #[test]
    fn a_failed_read_leaves_the_node_unread() {
        let mut run = seen_once(&[(1, "completed", Some("E1"))], secs(1));
        let e = dune_api::Error::Interrupted {
            endpoint: "GET /v1/execution/E1/status".into(),
        };
        assert!(matches!(run.fold_read(1, Err(e)), ReadFolded::Quiet));
        assert_eq!(run.unread, vec![(1, Unread::Stopped)]);
        assert!(matches!(
            run.fold_read(9, Ok(execution("QUERY_STATE_COMPLETED"))),
            ReadFolded::Quiet
        ));
    }

    /// A run that has seen one status answer (the pipeline executing), at `at`.
    fn seen_once(nodes: &[(i64, &str, Option<&str>)], at: Duration) -> Tracked {
        let mut run = Tracked::default();
        run.fold_status(&answer("executing", nodes), at);
        run
    }

    /// Node 1 failed, node 2 has not started.
    fn one_failed_one_waiting() -> PipelineStatus {
        answer(
            "executing",
            &[(1, "failed", Some("E1")), (2, "pending", None)],
        )
    }

    #[test]
    fn with_the_definition_a_failure_below_ends_the_run_at_once() {
        let mut run = Tracked {
            nodes: vec![defined(1, 101, vec![]), defined(2, 102, vec![1])],
            ..Tracked::default()
        };
        run.fold_status(&one_failed_one_waiting(), secs(4));
        assert_eq!(run.progress(), Progress::Done);
        assert_eq!(run.decide_end(secs(4), secs(5)), Decision::Ended(secs(5)));
        assert_eq!(run.conclude(secs(5)), vec![2]);
        assert_eq!(status_of(&run, 2), NodeStatus::Skipped);
        assert_eq!(run.noticed_end_at, Some(secs(5)));
        assert_eq!(run.verdict(), Ending::Failed);
    }

    #[test]
    fn without_the_definition_the_guess_must_hold_for_the_grace() {
        let mut run = Tracked::default();
        run.fold_status(&one_failed_one_waiting(), secs(4));
        assert_eq!(run.progress(), Progress::Probably);
        assert_eq!(run.decide_end(secs(4), secs(4)), Decision::Going);
        assert_eq!(run.decide_end(secs(9), secs(9)), Decision::Going);
        assert_eq!(
            run.decide_end(secs(14), secs(14)),
            Decision::Settled(secs(14))
        );
        // The top-level word ends it at the answer, whatever the nodes say.
        let mut run = Tracked::default();
        run.fold_status(
            &answer("completed", &[(1, "executing", Some("E1"))]),
            secs(2),
        );
        assert_eq!(run.decide_end(secs(2), secs(3)), Decision::Ended(secs(2)));
    }

    #[test]
    fn the_verdict_names_one_ending() {
        let ended = |top: &str, words: &[&str]| {
            let mut run = Tracked::default();
            let nodes: Vec<_> = words
                .iter()
                .enumerate()
                .map(|(i, w)| (i as i64 + 1, *w, Some("E")))
                .collect();
            run.fold_status(&answer(top, &nodes), secs(1));
            run.verdict()
        };
        assert_eq!(
            ended("completed", &["completed", "completed"]),
            Ending::Completed
        );
        assert_eq!(ended("failed", &["completed", "completed"]), Ending::Failed);
        assert_eq!(ended("failed", &["failed", "cancelled"]), Ending::Failed);
        assert_eq!(
            ended("cancelled", &["completed", "cancelled"]),
            Ending::Cancelled
        );
        assert_eq!(
            ended("cancelled", &["completed", "completed"]),
            Ending::Cancelled
        );
        assert_eq!(ended("completed", &["completed", "weird"]), Ending::Failed);
        assert_eq!(ended("completed", &[]), Ending::Completed);
    }

    #[test]
    fn observed_times_fill_what_no_read_brought() {
        let mut run = seen_once(&[(1, "executing", Some("E1"))], secs(2));
        run.fold_status(
            &answer("completed", &[(1, "completed", Some("E1"))]),
            secs(7),
        );
        run.fill_observed(SystemTime::UNIX_EPOCH);
        assert_eq!(
            run.nodes[0].started_at.as_deref(),
            Some("1970-01-01T00:00:02.000Z")
        );
        assert_eq!(
            run.nodes[0].ended_at.as_deref(),
            Some("1970-01-01T00:00:07.000Z")
        );
        assert!(run.nodes[0].times_observed());
    }

    // Property tests: answers drawn from every word class the action knows, one it does not, and none.

    const WORDS: &[&str] = &[
        "pending",
        "executing",
        "completed",
        "failed",
        "cancelled",
        "QUERY_STATE_COMPLETED_PARTIAL",
        "QUERY_STATE_WEIRD",
        "",
    ];
    const ENDED: &[&str] = &["completed", "failed", "cancelled"];
    const NOT_ENDED: &[&str] = &["pending", "executing", "QUERY_STATE_WEIRD", ""];

    /// One thing the follower can learn: a status answer (a word per node, with an execution or not) or
    /// an execution read of one node.
    #[derive(Debug, Clone)]
    enum Learned {
        Poll(Vec<(usize, bool)>),
        Read(i64, usize),
    }

    fn learned(nodes: usize) -> impl Strategy<Value = Learned> {
        prop_oneof![
            proptest::collection::vec((0..WORDS.len(), any::<bool>()), nodes)
                .prop_map(Learned::Poll),
            (1..=nodes as i64, 0..WORDS.len()).prop_map(|(id, w)| Learned::Read(id, w)),
        ]
    }

    fn fold(run: &mut Tracked, step: &Learned, at: Duration) {
        match step {
            Learned::Poll(words) => {
                let nodes: Vec<_> = words
                    .iter()
                    .enumerate()
                    .map(|(i, (w, exec))| (i as i64 + 1, WORDS[*w], exec.then_some("E")))
                    .collect();
                run.fold_status(&answer("executing", &nodes), at);
                run.polls += 1;
            }
            Learned::Read(id, w) => {
                run.fold_read(*id, Ok(execution(WORDS[*w])));
            }
        }
    }

    /// A node's life up to the poll that shows it ended, with the word it ends in.
    fn life() -> impl Strategy<Value = (Vec<usize>, usize)> {
        (
            proptest::collection::vec(0..NOT_ENDED.len(), 0..4),
            0..ENDED.len(),
        )
    }

    proptest! {
        /// Whatever Dune says, in whatever order, a node that ended never goes back to running.
        #[test]
        fn a_node_never_goes_back_from_ended_to_running(
            steps in proptest::collection::vec(learned(3), 1..24),
        ) {
            let mut run = Tracked::default();
            let mut ended = std::collections::BTreeMap::new();
            for (i, step) in steps.iter().enumerate() {
                fold(&mut run, step, secs(i as u64));
                for n in &run.nodes {
                    if ended.contains_key(&n.id) {
                        prop_assert!(n.status.is_terminal(), "node {} went back: {:?}", n.id, n);
                    }
                    if n.status.is_terminal() {
                        ended.insert(n.id, n.status);
                    }
                }
            }
        }

        /// The end decided is the same whether the execution read of a node comes before or after the
        /// poll that shows that node ended.
        #[test]
        fn a_read_before_or_after_the_poll_decides_the_same_end(
            lives in proptest::collection::vec(life(), 1..4),
            defined_deps in any::<bool>(),
        ) {
            let n = lives.len();
            let start = |run: &mut Tracked| {
                if defined_deps {
                    run.nodes = (1..=n as i64)
                        .map(|id| defined(id, 100 + id, (1..id).collect()))
                        .collect();
                }
            };
            let mut read_first = Tracked::default();
            let mut poll_first = Tracked::default();
            start(&mut read_first);
            start(&mut poll_first);
            let longest = lives.iter().map(|(steps, _)| steps.len()).max().unwrap_or(0);
            let poll_at = |step: usize| -> PipelineStatus {
                let nodes: Vec<_> = lives
                    .iter()
                    .enumerate()
                    .map(|(i, (steps, end))| {
                        let word = steps.get(step).map_or(ENDED[*end], |w| NOT_ENDED[*w]);
                        (i as i64 + 1, word, Some("E"))
                    })
                    .collect();
                answer("executing", &nodes)
            };
            for step in 0..longest {
                read_first.fold_status(&poll_at(step), secs(step as u64));
                poll_first.fold_status(&poll_at(step), secs(step as u64));
            }
            let last = poll_at(longest);
            let at = secs(longest as u64);
            for (i, (_, end)) in lives.iter().enumerate() {
                read_first.fold_read(i as i64 + 1, Ok(execution(ENDED[*end])));
            }
            read_first.fold_status(&last, at);
            poll_first.fold_status(&last, at);
            for (i, (_, end)) in lives.iter().enumerate() {
                poll_first.fold_read(i as i64 + 1, Ok(execution(ENDED[*end])));
            }
            let a = (read_first.decide_end(at, at), read_first.conclude(at), read_first.verdict());
            let b = (poll_first.decide_end(at, at), poll_first.conclude(at), poll_first.verdict());
            prop_assert_eq!(a, b);
            let statuses = |run: &Tracked| run.nodes.iter().map(|n| n.status).collect::<Vec<_>>();
            prop_assert_eq!(statuses(&read_first), statuses(&poll_first));
        }

        /// A run whose nodes have all ended gets exactly one ending: the first answer that shows it ends
        /// the run, and the verdict is completed, failed or cancelled, the same however often it is asked.
        #[test]
        fn a_run_whose_nodes_all_ended_gets_one_ending(
            ends in proptest::collection::vec(0..ENDED.len(), 1..5),
            top in prop_oneof![Just("executing"), Just("completed"), Just("failed")],
            defined_deps in any::<bool>(),
        ) {
            let mut run = Tracked::default();
            if defined_deps {
                run.nodes = (1..=ends.len() as i64)
                    .map(|id| defined(id, 100 + id, Vec::new()))
                    .collect();
            }
            let nodes: Vec<_> = ends
                .iter()
                .enumerate()
                .map(|(i, e)| (i as i64 + 1, ENDED[*e], Some("E")))
                .collect();
            run.fold_status(&answer(top, &nodes), secs(3));
            let decided = run.decide_end(secs(3), secs(4));
            prop_assert!(matches!(decided, Decision::Ended(_)), "{decided:?}");
            let verdict = run.verdict();
            prop_assert!(matches!(
                verdict,
                Ending::Completed | Ending::Failed | Ending::Cancelled
            ));
            run.conclude(secs(4));
            prop_assert_eq!(run.verdict(), verdict);
            prop_assert_eq!(run.decide_end(secs(5), secs(5)), Decision::Ended(secs(5)));
            let all_completed = ends.iter().all(|e| ENDED[*e] == "completed");
            prop_assert_eq!(verdict == Ending::Completed, all_completed && top != "failed");
        }
    }
}
