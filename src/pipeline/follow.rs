//! Following a pipeline execution: poll its status on the adaptive schedule, track every node, queue a
//! read of each node's execution when it ends (an extra, [`crate::pipeline::details`], read beside the
//! polls and never in their way), and decide when the run is over (the top-level status says so, or
//! no node can make progress any more), when it timed out, or when it was told to stop.

use std::time::Duration;

use tokio::sync::watch;

use crate::pipeline::details::{self, DetailReads, Unread};
use crate::pipeline::node::{Node, NodeKind, NodeStatus, normalize};
use crate::pipeline::schedule::Schedule;
use crate::runner::console::{Console, Level};
use dune_api::Client;
use dune_api::clock::Clock;
use dune_api::models::{NodeExecution, PipelineStatus};

/// Why following stopped.
#[derive(Debug, Clone)]
pub enum End {
    /// The pipeline ended.
    Finished,
    /// The overall `timeout` passed.
    TimedOut,
    /// The workflow was cancelled (a signal).
    Stopped,
    /// The workflow was cancelled while the start request was in flight, and its answer did not come in
    /// time: a pipeline may have started that the action cannot name.
    StoppedWhileStarting,
    /// Dune's API failed in a way retries could not fix.
    Api(dune_api::Error),
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
}

impl Tracked {
    pub(crate) fn node_mut(&mut self, id: i64) -> Option<&mut Node> {
        self.nodes.iter_mut().find(|n| n.id == id)
    }

    /// The node a status response reports, added as the response describes it when it is new (`true`).
    pub(crate) fn node_for(&mut self, ne: &NodeExecution) -> (&mut Node, bool) {
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
        let mut seen = std::collections::BTreeSet::new();
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

/// Follows one pipeline execution.
pub struct Follower<'a> {
    pub client: &'a Client,
    pub console: &'a Console,
    pub clock: Clock,
    pub schedule: Schedule,
    /// Clock time at which to give up.
    pub deadline: Duration,
    pub stop: watch::Receiver<bool>,
    /// The per-node execution reads, queued as nodes end; what is left when following stops is
    /// finished (within [`details::AFTER_END`]) or abandoned by the caller.
    pub details: &'a mut DetailReads,
}

/// How long "nothing can make progress" must hold before the action believes it (without a definition).
pub const SETTLE_GRACE: Duration = Duration::from_secs(10);

/// Every this many status polls, nodes still running in a word the action does not know have their
/// execution read again.
const UNKNOWN_RECHECK_POLLS: u32 = 4;

impl Follower<'_> {
    fn elapsed_label(&self) -> String {
        format!("[{:>7.1}s]", self.clock.elapsed().as_secs_f64())
    }

    /// Sleeps until clock time `next` (the next poll), folding in the execution reads that finish
    /// meanwhile; returns the reason to stop instead, if any ([`End::Finished`] when a read showed that
    /// nothing can progress any more).
    async fn wait_until(&mut self, run: &mut Tracked, next: Duration) -> Option<End> {
        loop {
            let now = self.clock.elapsed();
            if now >= self.deadline {
                return Some(End::TimedOut);
            }
            if now >= next {
                return None;
            }
            let d = next.min(self.deadline) - now;
            let mut stop = self.stop.clone();
            if *stop.borrow() {
                return Some(End::Stopped);
            }
            let busy = !self.details.is_idle();
            tokio::select! {
                _ = self.clock.sleep(d) => {}
                _ = stop.wait_for(|s| *s) => return Some(End::Stopped),
                Some((id, read)) = self.details.next(), if busy => {
                    details::apply_read(self.console, self.clock, run, id, read);
                    // A read can settle the last node whose word the action does not know: with the
                    // definition, the run is then over without waiting for another poll.
                    if matches!(self.nothing_can_progress(run), Progress::Done) {
                        return Some(End::Finished);
                    }
                }
            }
        }
    }

    /// Polls until the pipeline ends, times out, is stopped, or the API fails. `run` is updated in place,
    /// so whatever was learned survives any ending. The execution reads still missing stay in
    /// [`Follower::details`].
    pub async fn follow(&mut self, run: &mut Tracked) -> End {
        let end = self.poll(run).await;
        // The polls are over: extras may use the whole cap.
        self.client.plan_polls(Vec::new());
        end
    }

    async fn poll(&mut self, run: &mut Tracked) -> End {
        let Some(id) = run.pipeline_execution_id.clone() else {
            return End::Finished;
        };
        let started = self.clock.elapsed();
        let window = dune_api::rate::DEFAULT_WINDOW;
        let mut settled_since: Option<Duration> = None;
        loop {
            let sent = self.clock.elapsed();
            // Keep the cap's slots for this poll's successors while it is in flight.
            let following = sent + self.schedule.interval(sent.saturating_sub(started));
            self.client
                .plan_polls(self.schedule.plan(started, following, sent + 2 * window));
            // The first look comes quickly; a 404 then is retried (the execution may not be visible yet).
            let fresh = run.polls < 3;
            let status = {
                let mut stop = self.stop.clone();
                tokio::select! {
                    s = self.client.pipeline_status(&id, fresh) => s,
                    _ = stop.wait_for(|s| *s) => return End::Stopped,
                }
            };
            let answered = self.clock.elapsed();
            run.polls += 1;
            let status = match status {
                Ok(s) => s,
                Err(dune_api::Error::Interrupted { .. }) => return End::Stopped,
                Err(e) => {
                    if self.clock.elapsed() >= self.deadline {
                        return End::TimedOut;
                    }
                    return End::Api(e);
                }
            };
            self.apply(run, &status, answered);

            let top_ended = status
                .status
                .as_deref()
                .is_some_and(|s| normalize(s).is_terminal());
            // When the end was noticed, if it was.
            let ended = if top_ended {
                Some(answered)
            } else {
                match self.nothing_can_progress(run) {
                    Progress::Done => Some(self.clock.elapsed()),
                    Progress::Probably => {
                        let now = self.clock.elapsed();
                        let since = *settled_since.get_or_insert(now);
                        let settled = now.saturating_sub(since) >= SETTLE_GRACE;
                        if settled {
                            self.console.line(&format!(
                                "{} no node can make progress (the pipeline still reports {:?}); ending the run",
                                self.elapsed_label(),
                                run.raw_status.as_deref().unwrap_or("")
                            ));
                        }
                        settled.then_some(now)
                    }
                    Progress::Possible => {
                        settled_since = None;
                        None
                    }
                }
            };
            if let Some(at) = ended {
                return self.finished(run, at).await;
            }
            // The next look is due one interval after this one left, however long the answer took;
            // the execution reads run beside the polls and never hold one back.
            let next = self.schedule.next_poll(started, sent, answered);
            self.client
                .plan_polls(self.schedule.plan(started, next, next + 2 * window));
            match self.wait_until(run, next).await {
                Some(End::Finished) => {
                    let at = self.clock.elapsed();
                    return self.finished(run, at).await;
                }
                Some(end) => return end,
                None => {}
            }
        }
    }

    /// The run ended, noticed at clock time `at`: the reads that settle unknown words are waited for
    /// (within [`details::AFTER_END`]), nodes that never started are settled.
    async fn finished(&mut self, run: &mut Tracked, at: Duration) -> End {
        if let Some(end) = self.settle_unknown(run, at + details::AFTER_END).await {
            return end;
        }
        self.settle_unstarted(run);
        run.noticed_end_at = Some(at);
        End::Finished
    }

    /// Waits (until clock time `until` at most) for the reads of nodes whose status string the action
    /// does not know: their execution's state decides how the run ended.
    async fn settle_unknown(&mut self, run: &mut Tracked, until: Duration) -> Option<End> {
        let waiting = |run: &Tracked, details: &DetailReads| {
            run.nodes
                .iter()
                .any(|n| n.status == NodeStatus::Unknown && details.is_pending(n.id))
        };
        while waiting(run, self.details) {
            let left = until.saturating_sub(self.clock.elapsed());
            if left.is_zero() {
                return None;
            }
            let mut stop = self.stop.clone();
            tokio::select! {
                read = self.details.next() => match read {
                    Some((id, r)) => details::apply_read(self.console, self.clock, run, id, r),
                    None => return None,
                },
                _ = self.clock.sleep(left) => return None,
                _ = stop.wait_for(|s| *s) => return Some(End::Stopped),
            }
        }
        None
    }

    /// Whether any node can still make progress. A node that never started (pending, or in a word the
    /// action does not know, and without an execution id) below a failed, cancelled or skipped node cannot:
    /// with the definition that is certain, without it a guess that must hold for [`SETTLE_GRACE`]. So a
    /// run ends, whatever words Dune uses, once no node is running: with the definition at the first status
    /// answer after the last running node ended (one poll interval, at most `max(1.25 s, 8%` of the run
    /// time`)`), without it [`SETTLE_GRACE`] after that.
    fn nothing_can_progress(&self, run: &Tracked) -> Progress {
        if run.nodes.is_empty() {
            return Progress::Possible;
        }
        let any_bad = run.nodes.iter().any(|n| n.status.is_bad());
        let mut guess = false;
        for n in &run.nodes {
            let unstarted = matches!(n.status, NodeStatus::Pending | NodeStatus::Unknown)
                && n.execution_id.is_none();
            match n.status {
                s if s.is_terminal() => {}
                _ if unstarted && run.upstream_broken(n) == Some(true) => {}
                _ if unstarted && n.dependencies.is_none() && any_bad => guess = true,
                _ => return Progress::Possible,
            }
        }
        if guess {
            // Without the definition, "no node is running and the rest never started" is a guess: wait a
            // little to be sure nothing else starts.
            if run.nodes.iter().any(|n| n.status == NodeStatus::Executing) {
                return Progress::Possible;
            }
            return Progress::Probably;
        }
        Progress::Done
    }

    /// Nodes that never started in a pipeline that ended are `skipped`: pending or in an unknown word
    /// without an execution id, below a node that did not complete. So is a node that Dune reports as
    /// failed or cancelled (some vocabularies say `aborted` for a node blocked by a failure) without ever
    /// having had an execution or an error of its own, when the definition shows a broken upstream.
    fn settle_unstarted(&self, run: &mut Tracked) {
        let any_bad = run.nodes.iter().any(|n| n.status.is_bad());
        for i in 0..run.nodes.len() {
            let n = &run.nodes[i];
            let never_started = matches!(n.status, NodeStatus::Pending | NodeStatus::Unknown)
                && n.execution_id.is_none();
            let broken = run.upstream_broken(n).unwrap_or(any_bad);
            let blocked_not_failed = n.status.is_bad()
                && n.execution_id.is_none()
                && n.error.is_none()
                && !n.cancelled_by_action
                && run.upstream_broken(n) == Some(true);
            if never_started && broken || blocked_not_failed {
                let label = n.label();
                let id = n.id;
                run.nodes[i].status = NodeStatus::Skipped;
                self.console.line(&format!(
                    "{} node {id} ({label}) skipped: it never started because an upstream node did not complete",
                    self.elapsed_label()
                ));
            }
        }
    }

    /// Folds one status response (answered at clock time `at`) into the tracked state, logging every
    /// change, and queues a read of the execution of each node that just ended (or whose status string is
    /// not recognised).
    fn apply(&mut self, run: &mut Tracked, status: &PipelineStatus, at: Duration) {
        if status.status != run.raw_status {
            if let Some(s) = &status.status {
                self.console
                    .line(&format!("{} pipeline {}", self.elapsed_label(), s));
            }
            run.raw_status = status.status.clone();
        }
        if let Some(e) = &status.error {
            run.pipeline_error = Some(e.message.clone());
        }
        let contradictions = run.contradictions(&status.nodes);
        if !contradictions.is_empty() && contradictions.len() == status.nodes.len() {
            // Not one node matches: another pipeline than the definition describes.
            let why: Vec<&str> = contradictions.iter().map(|(_, w)| w.as_str()).collect();
            self.console.annotate(
                Level::Warning,
                Some("The pipeline differs from its definition"),
                &format!(
                    "{}: the action follows what Dune reports and does not use the definition's dependencies",
                    why.join("; ")
                ),
            );
            run.forget_definition();
        } else {
            for (id, why) in contradictions {
                if run.unmatched.contains(&id) {
                    continue;
                }
                run.unmatched.push(id);
                self.console.annotate(
                    Level::Warning,
                    Some(&format!("Node {id} differs from the pipeline definition")),
                    &format!(
                        "{why}: the action follows what Dune reports for node {id}; the definition's dependencies still hold for the other nodes"
                    ),
                );
            }
        }
        for ne in &status.nodes {
            if self.apply_node(run, ne, at)
                && let Some(node) = run.node_mut(ne.id)
                && let Some(exec) = node.execution_id.clone()
            {
                match node.status {
                    NodeStatus::Unknown => self.details.push_deciding(ne.id, exec),
                    status => self.details.push(ne.id, exec, status == NodeStatus::Failed),
                }
            }
        }
        // A node whose word the action does not know was settled by its execution's state when the word
        // last changed; if the word then stays the same while the execution ends, only the execution says
        // so: look again every few polls.
        if run.polls % UNKNOWN_RECHECK_POLLS == 0 {
            let stale: Vec<i64> = run
                .nodes
                .iter()
                .filter(|n| {
                    !n.status.is_terminal()
                        && n.execution_id.is_some()
                        && n.raw_status
                            .as_deref()
                            .is_some_and(|r| normalize(r) == NodeStatus::Unknown)
                })
                .map(|n| n.id)
                .collect();
            for id in stale {
                if let Some(exec) = run.node_mut(id).and_then(|n| n.execution_id.clone()) {
                    self.details.push_deciding(id, exec);
                }
            }
        }
    }

    /// Returns whether the node's execution should be read now.
    fn apply_node(&self, run: &mut Tracked, ne: &NodeExecution, at: Duration) -> bool {
        let kind = kind_of(ne);
        let label = self.elapsed_label();
        let run_unmatched = run.unmatched.contains(&ne.id);
        let (node, is_new) = run.node_for(ne);
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
                if run_unmatched =>
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
        if node.raw_status.as_deref() == Some(raw.as_str())
            || (node.details_read && node.status.is_terminal())
        {
            return false;
        }
        let before = node.status;
        // A node listed from the definition is reported for the first time too.
        let first_report = node.raw_status.is_none();
        node.raw_status = Some(raw.clone());
        let now = if raw.is_empty() {
            NodeStatus::Unknown
        } else {
            normalize(&raw)
        };
        node.status = now;
        if now == NodeStatus::Executing && node.observed_started.is_none() {
            node.observed_started = Some(at);
        }
        if now.is_terminal() && node.observed_ended.is_none() {
            node.observed_ended = Some(at);
        }
        let label_text = node.label();
        let id = node.id;
        let shown = if now == NodeStatus::Unknown {
            format!("{} (unrecognised status {:?})", now.as_str(), raw)
        } else {
            now.as_str().to_string()
        };
        if is_new || first_report {
            self.console
                .line(&format!("{label} node {id} ({label_text}) {shown}"));
        } else {
            self.console.line(&format!(
                "{label} node {id} ({label_text}) {} → {shown}",
                before.as_str()
            ));
        }
        node.execution_id.is_some() && (now.is_terminal() || now == NodeStatus::Unknown)
    }
}

enum Progress {
    Possible,
    Probably,
    Done,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status_node(id: i64, query_id: i64) -> NodeExecution {
        NodeExecution {
            id,
            is_materialized_view: false,
            status: Some("pending".into()),
            query_id: Some(query_id),
            name: None,
            execution_id: None,
            error: None,
        }
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
        let short = NodeExecution {
            id: 1,
            is_materialized_view: true,
            status: Some("pending".into()),
            query_id: None,
            name: Some("mv_daily_volume".into()),
            execution_id: None,
            error: None,
        };
        assert!(run.contradictions(&[short, status_node(2, 20)]).is_empty());
    }
}
