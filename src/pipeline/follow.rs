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

    /// Why Dune's status describes another pipeline than the definition read before the start (a node id
    /// the definition does not have, or another query or view under a defined id), if it does.
    fn contradicts_definition(&self, status: &[NodeExecution]) -> Option<String> {
        if self.nodes.iter().all(|n| n.dependencies.is_none()) {
            return None;
        }
        for ne in status {
            let Some(defined) = self.nodes.iter().find(|n| n.id == ne.id) else {
                return Some(format!(
                    "Dune reports node {}, which the definition does not have",
                    ne.id
                ));
            };
            let same = match &defined.kind {
                NodeKind::Query { query_id } => {
                    !ne.is_materialized_view && (ne.query_id.is_none() || ne.query_id == *query_id)
                }
                NodeKind::MaterializedView { name } => {
                    ne.is_materialized_view && (ne.name.is_none() || ne.name == *name)
                }
            };
            if !same {
                return Some(format!(
                    "Dune reports node {} as {}, the definition as {}",
                    ne.id,
                    match (ne.is_materialized_view, &ne.name, ne.query_id) {
                        (true, Some(n), _) => format!("view {n}"),
                        (false, _, Some(q)) => format!("query {q}"),
                        (true, None, _) => "a materialized view".to_string(),
                        (false, _, None) => "a query".to_string(),
                    },
                    defined.label()
                ));
            }
        }
        None
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
const SETTLE_GRACE: Duration = Duration::from_secs(10);

impl Follower<'_> {
    fn elapsed_label(&self) -> String {
        format!("[{:>7.1}s]", self.clock.elapsed().as_secs_f64())
    }

    /// Sleeps until clock time `next` (the next poll), folding in the execution reads that finish
    /// meanwhile; returns the reason to stop instead, if any.
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
                if let Some(end) = self.settle_unknown(run, at + details::AFTER_END).await {
                    return end;
                }
                self.settle_unstarted(run);
                run.noticed_end_at = Some(at);
                return End::Finished;
            }
            // The next look is due one interval after this one left, however long the answer took;
            // the execution reads run beside the polls and never hold one back.
            let next = self.schedule.next_poll(started, sent, answered);
            self.client
                .plan_polls(self.schedule.plan(started, next, next + 2 * window));
            if let Some(end) = self.wait_until(run, next).await {
                return end;
            }
        }
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

    fn nothing_can_progress(&self, run: &Tracked) -> Progress {
        if run.nodes.is_empty() {
            return Progress::Possible;
        }
        let any_bad = run.nodes.iter().any(|n| n.status.is_bad());
        let mut guess = false;
        for n in &run.nodes {
            match n.status {
                s if s.is_terminal() => {}
                NodeStatus::Pending if run.upstream_broken(n) == Some(true) => {}
                NodeStatus::Pending
                    if n.dependencies.is_none() && n.execution_id.is_none() && any_bad =>
                {
                    guess = true
                }
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

    /// Nodes that never started in a pipeline that ended are `skipped`.
    fn settle_unstarted(&self, run: &mut Tracked) {
        let any_bad = run.nodes.iter().any(|n| n.status.is_bad());
        for i in 0..run.nodes.len() {
            let n = &run.nodes[i];
            let never_started = n.status == NodeStatus::Pending && n.execution_id.is_none();
            let broken = run.upstream_broken(n).unwrap_or(any_bad);
            if never_started && broken {
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
        if let Some(why) = run.contradicts_definition(&status.nodes) {
            self.console.annotate(
                Level::Warning,
                Some("The pipeline differs from its definition"),
                &format!(
                    "{why}: the action follows what Dune reports and does not use the definition's dependencies"
                ),
            );
            run.forget_definition();
        }
        for ne in &status.nodes {
            if self.apply_node(run, ne, at)
                && let Some(node) = run.node_mut(ne.id)
                && let Some(exec) = node.execution_id.clone()
            {
                let failed = node.status == NodeStatus::Failed;
                self.details.push(ne.id, exec, failed);
            }
        }
    }

    /// Returns whether the node's execution should be read now.
    fn apply_node(&self, run: &mut Tracked, ne: &NodeExecution, at: Duration) -> bool {
        let kind = kind_of(ne);
        let label = self.elapsed_label();
        let (node, is_new) = run.node_for(ne);
        // Fill in what a later response knows better.
        match (&mut node.kind, &kind) {
            (NodeKind::Query { query_id }, NodeKind::Query { query_id: Some(q) }) => {
                *query_id = Some(*q)
            }
            (NodeKind::MaterializedView { name }, NodeKind::MaterializedView { name: Some(n) }) => {
                *name = Some(n.clone())
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
        assert_eq!(
            run.contradicts_definition(&[status_node(1, 10), status_node(2, 20)]),
            None
        );
        assert_eq!(run.contradicts_definition(&[status_node(1, 10)]), None);
        assert!(
            run.contradicts_definition(&[status_node(0, 10)])
                .is_some_and(|w| w.contains("node 0"))
        );
        assert!(
            run.contradicts_definition(&[status_node(2, 10)])
                .is_some_and(|w| w.contains("as query 10, the definition as query 20"))
        );
        let mut run = run;
        run.forget_definition();
        assert!(run.nodes.is_empty());
        assert_eq!(run.contradicts_definition(&[status_node(5, 1)]), None);
    }
}
