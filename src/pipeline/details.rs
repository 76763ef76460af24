//! Per-node execution reads (exact times, credits, error position) as *extras*: queued as nodes end
//! (failed nodes first), sent a few at a time beside the polls on the client's extras share of the rate
//! cap, so they never delay a status poll. Once the pipeline has ended, what is still missing gets
//! [`AFTER_END`]; what was not read by then is recorded ([`Unread`]) and said in the summary, and those
//! nodes keep the times the action observed itself, marked as such.

use std::collections::{BTreeSet, VecDeque};
use std::time::{Duration, SystemTime};

use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::pipeline::follow::Tracked;
use crate::pipeline::node::{Node, NodeStatus, is_partial, normalize};
use crate::runner::console::{Console, Level};
use dune_api::models::ExecutionStatus;
use dune_api::{Client, Clock};

/// How long the extras still missing when the pipeline's end is noticed may take (clock time, counted
/// from the moment the end was noticed): execution reads and result previews alike. A second under the
/// 10 s the step may take after the end is noticed, for writing the outputs and the summary.
pub const AFTER_END: Duration = Duration::from_secs(9);

/// How many execution reads are in flight at once (each still waits for its slot in the cap).
pub const IN_FLIGHT: usize = 4;

/// Why a node's execution was not read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unread {
    /// The time allowed after the end ([`AFTER_END`]) ran out first.
    AfterEnd,
    /// The workflow was cancelled, or the run ended without the pipeline ending.
    Stopped,
    /// The read failed (a warning names the node).
    Failed,
}

impl Unread {
    /// Why, in words.
    pub fn why(self) -> String {
        match self {
            Unread::AfterEnd => format!(
                "the {} s allowed after the pipeline ended ran out (the request cap was spent on status polls first)",
                AFTER_END.as_secs()
            ),
            Unread::Stopped => "the run was stopped before they were read".into(),
            Unread::Failed => "the read failed (see the warnings)".into(),
        }
    }
}

type Read = (i64, Result<ExecutionStatus, dune_api::Error>);

/// The queue of execution reads and the ones in flight.
pub struct DetailReads {
    /// The extras share of the cap, for reads of details.
    client: Client,
    /// The polls' share, for reads that decide whether the run has ended.
    deciding: Client,
    /// Node, execution, whether the node failed (those go first), whether the read decides the ending
    /// (those go before all, with the polls' priority).
    queue: VecDeque<(i64, String, bool, bool)>,
    running: JoinSet<Read>,
    in_flight: BTreeSet<i64>,
}

impl DetailReads {
    /// Reads on the extras share of `client`'s cap.
    pub fn new(client: &Client) -> Self {
        DetailReads {
            client: client.extras(),
            deciding: client.clone(),
            queue: VecDeque::new(),
            running: JoinSet::new(),
            in_flight: BTreeSet::new(),
        }
    }

    /// Queues a read of node `id`'s execution `exec`; a failed node's goes before the others.
    pub fn push(&mut self, id: i64, exec: String, failed: bool) {
        self.enqueue(id, exec, failed, false);
    }

    /// Queues a read that decides how the run goes on (a node in a word the action does not know: only
    /// its execution says whether it ended): first in the queue, and with the polls' priority in the cap,
    /// since noticing the end is what the budget is for.
    pub fn push_deciding(&mut self, id: i64, exec: String) {
        self.enqueue(id, exec, false, true);
    }

    fn enqueue(&mut self, id: i64, exec: String, failed: bool, deciding: bool) {
        if self.in_flight.contains(&id) || self.queue.iter().any(|q| q.0 == id) {
            return;
        }
        // Deciding reads first; then failed nodes, after the failed ones already queued; then the rest.
        let at = if deciding {
            self.queue
                .iter()
                .position(|q| !q.3)
                .unwrap_or(self.queue.len())
        } else if failed {
            self.queue
                .iter()
                .position(|q| !q.3 && !q.2)
                .unwrap_or(self.queue.len())
        } else {
            self.queue.len()
        };
        self.queue.insert(at, (id, exec, failed, deciding));
        self.pump();
    }

    /// Whether nothing is queued or in flight.
    pub fn is_idle(&self) -> bool {
        self.queue.is_empty() && self.running.is_empty()
    }

    /// Whether node `id`'s read is queued or in flight.
    pub fn is_pending(&self, id: i64) -> bool {
        self.in_flight.contains(&id) || self.queue.iter().any(|q| q.0 == id)
    }

    /// Nodes queued or in flight.
    pub fn pending(&self) -> usize {
        self.queue.len() + self.running.len()
    }

    fn pump(&mut self) {
        while self.running.len() < IN_FLIGHT {
            let Some((id, exec, _, deciding)) = self.queue.pop_front() else {
                return;
            };
            let client = if deciding {
                self.deciding.clone()
            } else {
                self.client.clone()
            };
            self.in_flight.insert(id);
            self.running
                .spawn(async move { (id, client.execution_status(&exec).await) });
        }
    }

    /// The next read that finished; `None` when nothing is queued or in flight.
    pub async fn next(&mut self) -> Option<Read> {
        loop {
            self.pump();
            match self.running.join_next().await? {
                Ok(read) => {
                    self.in_flight.remove(&read.0);
                    return Some(read);
                }
                // A task that panicked or was aborted: its node counts as not read.
                Err(_) => continue,
            }
        }
    }

    /// Drops every read still queued or in flight, recording their nodes as not read for `why`.
    pub fn abandon(&mut self, run: &mut Tracked, why: Unread) {
        self.running.abort_all();
        let ids: BTreeSet<i64> = self
            .queue
            .drain(..)
            .map(|q| q.0)
            .chain(std::mem::take(&mut self.in_flight))
            .collect();
        for id in ids {
            if run.node_mut(id).is_some_and(|n| !n.details_read) {
                run.unread.push((id, why));
            }
        }
        self.running = JoinSet::new();
    }

    /// Waits for the reads still missing until clock time `until` (or the stop signal), folding each in;
    /// what is left is abandoned, and nodes without a read keep the times the action observed.
    pub async fn finish(
        &mut self,
        run: &mut Tracked,
        console: &Console,
        clock: Clock,
        until: Duration,
        stop: &watch::Receiver<bool>,
    ) {
        let mut stop = stop.clone();
        while !self.is_idle() && !*stop.borrow() {
            let left = until.saturating_sub(clock.elapsed());
            if left.is_zero() {
                break;
            }
            tokio::select! {
                read = self.next() => match read {
                    Some((id, r)) => apply_read(console, clock, run, id, r),
                    None => break,
                },
                _ = clock.sleep(left) => break,
                _ = stop.wait_for(|s| *s) => break,
            }
        }
        if !self.is_idle() {
            let why = if *stop.borrow() {
                Unread::Stopped
            } else {
                Unread::AfterEnd
            };
            let left = self.pending();
            console.line(&format!(
                "[{:>7.1}s] {left} node execution reads left unread: {}",
                clock.elapsed().as_secs_f64(),
                why.why()
            ));
            self.abandon(run, why);
        }
        fill_observed(run, clock);
    }
}

/// Folds one execution read into node `id`: authoritative state, times, credits and error.
pub fn apply_read(
    console: &Console,
    clock: Clock,
    run: &mut Tracked,
    id: i64,
    result: Result<ExecutionStatus, dune_api::Error>,
) {
    let Some(node) = run.node_mut(id) else {
        return;
    };
    match result {
        Ok(es) => {
            if let Some(state) = &es.state {
                let precise = normalize(state);
                // The execution's own state settles an unrecognised pipeline status string (each time it
                // is read, as long as Dune's word for the node stays unrecognised).
                let word_unknown = node.status == NodeStatus::Unknown
                    || node
                        .raw_status
                        .as_deref()
                        .is_none_or(|r| normalize(r) == NodeStatus::Unknown);
                if word_unknown && precise != NodeStatus::Unknown {
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
            if node.status.is_terminal() {
                log_details(console, node);
            }
        }
        Err(dune_api::Error::Interrupted { .. }) => run.unread.push((id, Unread::Stopped)),
        Err(e) => {
            console.annotate(
                Level::Warning,
                Some(&format!("Could not read node {id}'s execution")),
                &format!(
                    "{e} (at {:.1}s); its times are the action's own observations",
                    clock.elapsed().as_secs_f64()
                ),
            );
            run.unread.push((id, Unread::Failed));
        }
    }
}

/// For nodes whose execution was not read: `started_at` / `ended_at` from the first polls that showed
/// them executing and ended (RFC 3339, at poll resolution), which [`Node::times_observed`] then marks.
pub fn fill_observed(run: &mut Tracked, clock: Clock) {
    let origin = SystemTime::now()
        .checked_sub(clock.elapsed())
        .unwrap_or(SystemTime::UNIX_EPOCH);
    let stamp = |at: Duration| humantime::format_rfc3339_millis(origin + at).to_string();
    for n in run.nodes.iter_mut().filter(|n| !n.details_read) {
        if n.started_at.is_none() {
            n.started_at = n.observed_started.map(stamp);
        }
        if n.ended_at.is_none() && n.status.is_terminal() {
            n.ended_at = n.observed_ended.map(stamp);
        }
    }
}

fn log_details(console: &Console, node: &Node) {
    console.group(&format!(
        "node {} ({}) {}",
        node.id,
        node.label(),
        node.status.as_str()
    ));
    let mut lines = vec![
        format!(
            "execution id: {}",
            node.execution_id.as_deref().unwrap_or("-")
        ),
        format!(
            "raw status:   {}",
            node.raw_status.as_deref().unwrap_or("-")
        ),
        format!(
            "started at:   {}",
            node.started_at.as_deref().unwrap_or("-")
        ),
        format!("ended at:     {}", node.ended_at.as_deref().unwrap_or("-")),
    ];
    if let Some(c) = node.credits {
        lines.push(format!("credits:      {c}"));
    }
    if let Some(e) = &node.error {
        lines.push(format!("error:        {}", e.message));
    }
    console.verbatim(&lines.join("\n"));
    console.end_group();
}
