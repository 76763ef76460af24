//! Per-node execution reads (exact times, credits, error position) as *extras*: queued as nodes end
//! (failed nodes first), sent a few at a time beside the polls on the client's extras share of the rate
//! cap, so they never delay a status poll. Once the pipeline has ended, what is still missing gets
//! [`AFTER_END`]; what was not read by then is recorded ([`Unread`]) and said in the summary, and those
//! nodes keep the times the action observed itself, marked as such.

use std::collections::{BTreeSet, VecDeque};
use std::time::{Duration, SystemTime};

use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::pipeline::narrate;
use crate::pipeline::tracked::Tracked;
pub use crate::pipeline::tracked::Unread;
use crate::runner::console::Console;
use dune_api::models::ExecutionStatus;
use dune_api::{Client, Clock};

/// How long the extras still missing when the pipeline's end is noticed may take (clock time, counted
/// from the moment the end was noticed): execution reads and result previews alike. A second under the
/// 10 s the step may take after the end is noticed, for writing the outputs and the summary.
pub const AFTER_END: Duration = Duration::from_secs(9);

/// How many execution reads are in flight at once (each still waits for its slot in the cap).
pub const IN_FLIGHT: usize = 4;

// Worded here, next to the bound [`Unread::AfterEnd`] names.
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
                "{} {left} node execution reads left unread: {}",
                narrate::elapsed_label(clock),
                why.why()
            ));
            self.abandon(run, why);
        }
        fill_observed(run, clock);
    }
}

/// Folds one execution read into node `id` ([`Tracked::fold_read`]) and logs what it brought.
pub fn apply_read(
    console: &Console,
    clock: Clock,
    run: &mut Tracked,
    id: i64,
    result: Result<ExecutionStatus, dune_api::Error>,
) {
    let folded = run.fold_read(id, result);
    narrate::read(console, clock, run, id, &folded);
}

/// For nodes whose execution was not read: the times the action observed ([`Tracked::fill_observed`]),
/// counted from the wall time at clock time zero.
pub fn fill_observed(run: &mut Tracked, clock: Clock) {
    let origin = SystemTime::now()
        .checked_sub(clock.elapsed())
        .unwrap_or(SystemTime::UNIX_EPOCH);
    run.fill_observed(origin);
}
