//! Following a pipeline execution: poll its status on the adaptive schedule, fold every answer into the
//! run's state ([`crate::pipeline::tracked`], which decides when the run ended), queue a read of each
//! node's execution when it ends (an extra, [`crate::pipeline::details`], read beside the polls and never
//! in their way), and stop when the run ended, timed out, was told to stop, or the API failed. The loop
//! only: the rules live in `tracked`, the words in `narrate`.

use std::time::Duration;

use tokio::sync::watch;

use crate::pipeline::details::{self, DetailReads};
use crate::pipeline::narrate;
use crate::pipeline::node::NodeStatus;
use crate::pipeline::schedule::Schedule;
use crate::pipeline::tracked::{Decision, Progress, Tracked};
use crate::runner::console::Console;
use dune_api::Client;
use dune_api::clock::Clock;

/// Why following stopped: the loop's own answer, before anything is cancelled. `app` turns it into the
/// run's [`crate::pipeline::ending::Ending`] (for [`Followed::Finished`], the state's
/// [`Tracked::verdict`]).
#[derive(Debug, Clone)]
pub enum Followed {
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
    /// `wait: false`: the pipeline started and was not followed (the follower never returns this).
    Detached,
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

impl Follower<'_> {
    /// Sleeps until clock time `next` (the next poll), folding in the execution reads that finish
    /// meanwhile; returns the reason to stop instead, if any ([`Followed::Finished`] when a read showed
    /// that nothing can progress any more).
    async fn wait_until(&mut self, run: &mut Tracked, next: Duration) -> Option<Followed> {
        loop {
            let now = self.clock.elapsed();
            if now >= self.deadline {
                return Some(Followed::TimedOut);
            }
            if now >= next {
                return None;
            }
            let d = next.min(self.deadline) - now;
            let mut stop = self.stop.clone();
            if *stop.borrow() {
                return Some(Followed::Stopped);
            }
            let busy = !self.details.is_idle();
            tokio::select! {
                _ = self.clock.sleep(d) => {}
                _ = stop.wait_for(|s| *s) => return Some(Followed::Stopped),
                Some((id, read)) = self.details.next(), if busy => {
                    details::apply_read(self.console, self.clock, run, id, read);
                    // A read can settle the last node whose word the action does not know: with the
                    // definition, the run is then over without waiting for another poll.
                    if run.progress() == Progress::Done {
                        return Some(Followed::Finished);
                    }
                }
            }
        }
    }

    /// Polls until the pipeline ends, times out, is stopped, or the API fails. `run` is updated in place,
    /// so whatever was learned survives any ending. The execution reads still missing stay in
    /// [`Follower::details`].
    pub async fn follow(&mut self, run: &mut Tracked) -> Followed {
        let end = self.poll(run).await;
        // The polls are over: extras may use the whole cap.
        self.client.plan_polls(Vec::new());
        end
    }

    async fn poll(&mut self, run: &mut Tracked) -> Followed {
        let Some(id) = run.pipeline_execution_id.clone() else {
            return Followed::Finished;
        };
        let started = self.clock.elapsed();
        let window = dune_api::rate::DEFAULT_WINDOW;
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
                    _ = stop.wait_for(|s| *s) => return Followed::Stopped,
                }
            };
            let answered = self.clock.elapsed();
            run.polls += 1;
            let status = match status {
                Ok(s) => s,
                Err(dune_api::Error::Interrupted { .. }) => return Followed::Stopped,
                Err(e) => {
                    if self.clock.elapsed() >= self.deadline {
                        return Followed::TimedOut;
                    }
                    return Followed::Api(e);
                }
            };
            let folded = run.fold_status(&status, answered);
            narrate::status_answer(self.console, self.clock, &folded.seen);
            for read in folded.reads {
                if read.deciding {
                    self.details.push_deciding(read.id, read.execution_id);
                } else {
                    self.details.push(read.id, read.execution_id, read.failed);
                }
            }
            match run.decide_end(answered, self.clock.elapsed()) {
                Decision::Ended(at) => return self.finished(run, at).await,
                Decision::Settled(at) => {
                    narrate::settled(self.console, self.clock, run);
                    return self.finished(run, at).await;
                }
                Decision::Going => {}
            }
            // The next look is due one interval after this one left, however long the answer took;
            // the execution reads run beside the polls and never hold one back.
            let next = self.schedule.next_poll(started, sent, answered);
            self.client
                .plan_polls(self.schedule.plan(started, next, next + 2 * window));
            match self.wait_until(run, next).await {
                Some(Followed::Finished) => {
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
    async fn finished(&mut self, run: &mut Tracked, at: Duration) -> Followed {
        if let Some(end) = self.settle_unknown(run, at + details::AFTER_END).await {
            return end;
        }
        let skipped = run.conclude(at);
        narrate::skipped(self.console, self.clock, run, &skipped);
        Followed::Finished
    }

    /// Waits (until clock time `until` at most) for the reads of nodes whose status string the action
    /// does not know: their execution's state decides how the run ended.
    async fn settle_unknown(&mut self, run: &mut Tracked, until: Duration) -> Option<Followed> {
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
                _ = stop.wait_for(|s| *s) => return Some(Followed::Stopped),
            }
        }
        None
    }
}
