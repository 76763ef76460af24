//! The pipeline execution model: a deterministic schedule computed from the node definitions when the
//! pipeline starts (and recomputed when a node is cancelled). What a client sees at any virtual time is
//! a pure function of that schedule, never of when requests happen to arrive.

use std::time::Duration;

use serde_json::{Map, Value};

use crate::scenario::{NodeDef, Outcome, cost};

/// Top-level status is `pending` for this long after the POST, then `executing`.
const PIPELINE_PENDING_FOR: Duration = Duration::from_millis(500);

/// What a node does.
#[derive(Debug, Clone)]
pub(crate) enum NodeKind {
    Query {
        query_id: u64,
        parameters: Map<String, Value>,
    },
    View {
        name: String,
    },
}

/// A node of a running pipeline.
#[derive(Debug, Clone)]
pub(crate) struct RunNode {
    pub(crate) id: u64,
    pub(crate) kind: NodeKind,
    /// Indices (into the pipeline's nodes) of the dependencies.
    pub(crate) deps: Vec<usize>,
    /// Behaviour (queue, duration, outcome, error, rows...); its id and kind fields are not used.
    pub(crate) behaviour: NodeDef,
    pub(crate) execution_id: String,
    /// Whether it runs on the large tier (it costs twice as much a second).
    pub(crate) large: bool,
    /// The seed of the result rows when the query's SQL is known (it follows the SQL text).
    pub(crate) sql_seed: Option<u64>,
}

impl RunNode {
    pub(crate) fn query_id(&self) -> Option<u64> {
        match &self.kind {
            NodeKind::Query { query_id, .. } => Some(*query_id),
            NodeKind::View { .. } => None,
        }
    }

    pub(crate) fn rows(&self) -> u64 {
        self.behaviour.rows.unwrap_or(5)
    }

    pub(crate) fn error_message(&self) -> String {
        match (&self.behaviour.error, &self.kind) {
            (Some(m), _) => m.clone(),
            (None, NodeKind::Query { .. }) => "Query execution failed (simulated)".to_owned(),
            (None, NodeKind::View { .. }) => {
                "Materialized view refresh failed (simulated)".to_owned()
            }
        }
    }

    /// `execution_cost_credits` once ended with `outcome`: the node's `credits` when the scenario sets
    /// them, else [`cost`] of its tier and executing time (nothing when it failed or was cancelled).
    pub(crate) fn credits(&self, outcome: Outcome) -> f64 {
        if let Some(c) = self.behaviour.credits {
            return c;
        }
        match outcome {
            Outcome::Failed | Outcome::Cancelled => 0.0,
            _ => cost(
                matches!(self.kind, NodeKind::View { .. }),
                self.large,
                self.behaviour.duration,
            ),
        }
    }

    /// Human label used in pipeline-level error messages.
    pub(crate) fn label(&self) -> String {
        match &self.kind {
            NodeKind::Query { query_id, .. } => format!("node {} (query {query_id})", self.id),
            NodeKind::View { name } => format!("node {} (materialized view {name})", self.id),
        }
    }
}

/// When things happen to a node, in virtual time relative to the pipeline's creation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Timeline {
    /// A dependency did not complete: the node never runs; blocked from `at` on.
    Blocked { at: Duration },
    /// Submitted at `submit`, executing from `start` (None: cancelled while queued), ended at `end`.
    Runs {
        submit: Duration,
        start: Option<Duration>,
        end: Duration,
        outcome: Outcome,
    },
}

/// A node's state at one instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Not submitted yet (dependencies still running).
    Waiting,
    /// Will never run.
    Blocked,
    /// Submitted, queued.
    Pending,
    Executing,
    Ended(Outcome),
}

/// Top-level pipeline state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PipelineState {
    Pending,
    Executing,
    Completed,
    Failed,
    Cancelled,
}

#[derive(Debug)]
pub(crate) struct PipelineRun {
    /// Absolute virtual time of creation.
    pub(crate) created: Duration,
    pub(crate) nodes: Vec<RunNode>,
    order: Vec<usize>,
    cancels: Vec<Option<Duration>>,
    timeline: Vec<Timeline>,
}

impl PipelineRun {
    /// `order` must be a topological order of `nodes` (dependencies first).
    pub(crate) fn new(created: Duration, nodes: Vec<RunNode>, order: Vec<usize>) -> Self {
        let n = nodes.len();
        let mut run = PipelineRun {
            created,
            nodes,
            order,
            cancels: vec![None; n],
            timeline: Vec::new(),
        };
        run.recompute();
        run
    }

    fn recompute(&mut self) {
        let mut tl = vec![Timeline::Blocked { at: Duration::ZERO }; self.nodes.len()];
        for &i in &self.order {
            let node = &self.nodes[i];
            let mut ready = Duration::ZERO;
            let mut blocked: Option<Duration> = None;
            for &d in &node.deps {
                let at = match tl[d] {
                    Timeline::Blocked { at } => Some(at),
                    Timeline::Runs { end, outcome, .. } if outcome.is_success() => {
                        ready = ready.max(end);
                        None
                    }
                    Timeline::Runs { end, .. } => Some(end),
                };
                if let Some(at) = at {
                    blocked = Some(blocked.map_or(at, |b| b.min(at)));
                }
            }
            tl[i] = match blocked {
                Some(at) => Timeline::Blocked { at },
                None => {
                    let b = &node.behaviour;
                    let submit = ready;
                    let start = submit.saturating_add(b.queue);
                    let end = start.saturating_add(b.duration);
                    match self.cancels[i] {
                        Some(c) if c < end => Timeline::Runs {
                            submit,
                            start: (c >= start).then_some(start),
                            end: c.max(submit),
                            outcome: Outcome::Cancelled,
                        },
                        _ => Timeline::Runs {
                            submit,
                            start: Some(start),
                            end,
                            outcome: b.outcome,
                        },
                    }
                }
            };
        }
        self.timeline = tl;
    }

    /// Virtual time since creation.
    pub(crate) fn rel(&self, now: Duration) -> Duration {
        now.saturating_sub(self.created)
    }

    pub(crate) fn timeline(&self, i: usize) -> Timeline {
        self.timeline[i]
    }

    /// Node `i`'s state at relative time `t`.
    pub(crate) fn phase(&self, i: usize, t: Duration) -> Phase {
        match self.timeline[i] {
            Timeline::Blocked { at } if t >= at => Phase::Blocked,
            Timeline::Blocked { .. } => Phase::Waiting,
            Timeline::Runs { submit, .. } if t < submit => Phase::Waiting,
            Timeline::Runs { end, outcome, .. } if t >= end => Phase::Ended(outcome),
            Timeline::Runs {
                start: Some(start), ..
            } if t >= start => Phase::Executing,
            Timeline::Runs { .. } => Phase::Pending,
        }
    }

    /// Whether node `i` has an execution id visible at `t`.
    pub(crate) fn submitted(&self, i: usize, t: Duration) -> bool {
        !matches!(self.phase(i, t), Phase::Waiting | Phase::Blocked)
    }

    /// Top-level state at relative time `t`, with the node that decided a failure/cancellation.
    pub(crate) fn state(&self, t: Duration) -> (PipelineState, Option<usize>) {
        let phases: Vec<Phase> = (0..self.nodes.len()).map(|i| self.phase(i, t)).collect();
        let done = phases
            .iter()
            .all(|p| matches!(p, Phase::Ended(_) | Phase::Blocked));
        if !done {
            let state = if t < PIPELINE_PENDING_FOR {
                PipelineState::Pending
            } else {
                PipelineState::Executing
            };
            return (state, None);
        }
        let failed = phases
            .iter()
            .position(|p| matches!(p, Phase::Ended(Outcome::Failed | Outcome::Expired)));
        if let Some(i) = failed {
            return (PipelineState::Failed, Some(i));
        }
        let cancelled = phases
            .iter()
            .position(|p| matches!(p, Phase::Ended(Outcome::Cancelled)));
        if let Some(i) = cancelled {
            return (PipelineState::Cancelled, Some(i));
        }
        if phases
            .iter()
            .all(|p| matches!(p, Phase::Ended(o) if o.is_success()))
        {
            (PipelineState::Completed, None)
        } else {
            // Unreachable in practice: a blocked node implies a failed or cancelled one.
            (PipelineState::Failed, None)
        }
    }

    /// Cancels node `i` at relative time `t` if it is queued or executing; returns whether it did.
    pub(crate) fn cancel(&mut self, i: usize, t: Duration) -> bool {
        if !matches!(self.phase(i, t), Phase::Pending | Phase::Executing) {
            return false;
        }
        self.cancels[i] = Some(t);
        self.recompute();
        true
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    fn node(id: u64, deps: Vec<usize>, def: NodeDef) -> RunNode {
        RunNode {
            id,
            kind: NodeKind::Query {
                query_id: id,
                parameters: Map::new(),
            },
            deps,
            behaviour: def,
            execution_id: format!("x{id}"),
            large: false,
            sql_seed: None,
        }
    }

    #[test]
    fn executions_cost_by_tier_and_executing_time() {
        assert_eq!(cost(false, false, secs(10)), 10.0);
        assert_eq!(cost(true, false, secs(10)), 5.0);
        assert_eq!(cost(false, true, secs(10)), 20.0);
        assert_eq!(cost(true, true, Duration::from_millis(2500)), 2.5);
        let mut n = node(1, vec![], NodeDef::query(1, 1).duration(secs(30)));
        assert_eq!(n.credits(Outcome::Completed), 30.0);
        assert_eq!(n.credits(Outcome::Failed), 0.0);
        n.large = true;
        assert_eq!(n.credits(Outcome::CompletedPartial), 60.0);
        n.behaviour.credits = Some(12.5);
        assert_eq!(n.credits(Outcome::Completed), 12.5);
    }

    fn chain(fail_second: bool) -> PipelineRun {
        let mut second = NodeDef::query(2, 2).queue(secs(1)).duration(secs(10));
        if fail_second {
            second = second.failing("boom");
        }
        PipelineRun::new(
            secs(100),
            vec![
                node(
                    1,
                    vec![],
                    NodeDef::query(1, 1).queue(secs(2)).duration(secs(5)),
                ),
                node(2, vec![0], second),
                node(3, vec![1], NodeDef::query(3, 3).duration(secs(3))),
            ],
            vec![0, 1, 2],
        )
    }

    #[test]
    fn progression() {
        let run = chain(false);
        assert_eq!(run.rel(secs(101)), secs(1));
        assert_eq!(run.state(Duration::ZERO).0, PipelineState::Pending);
        assert_eq!(run.phase(0, secs(1)), Phase::Pending);
        assert_eq!(run.phase(0, secs(2)), Phase::Executing);
        assert_eq!(run.phase(1, secs(6)), Phase::Waiting);
        assert_eq!(run.phase(1, secs(7)), Phase::Pending);
        assert_eq!(run.phase(1, secs(8)), Phase::Executing);
        assert_eq!(run.state(secs(8)).0, PipelineState::Executing);
        assert_eq!(run.phase(2, secs(20)), Phase::Executing);
        assert_eq!(run.phase(2, secs(21)), Phase::Ended(Outcome::Completed));
        assert_eq!(run.state(secs(21)), (PipelineState::Completed, None));
    }

    #[test]
    fn failure_blocks_downstream() {
        let run = chain(true);
        assert_eq!(run.phase(2, secs(17)), Phase::Waiting);
        assert_eq!(run.phase(1, secs(18)), Phase::Ended(Outcome::Failed));
        assert_eq!(run.phase(2, secs(18)), Phase::Blocked);
        assert_eq!(run.state(secs(17)).0, PipelineState::Executing);
        assert_eq!(run.state(secs(18)), (PipelineState::Failed, Some(1)));
    }

    #[test]
    fn cancel_recomputes() {
        let mut run = chain(false);
        assert!(!run.cancel(2, secs(3)), "not submitted yet");
        assert!(run.cancel(0, secs(1)), "queued");
        assert!(!run.cancel(0, secs(2)), "already cancelled");
        assert_eq!(
            run.timeline(0),
            Timeline::Runs {
                submit: Duration::ZERO,
                start: None,
                end: secs(1),
                outcome: Outcome::Cancelled
            }
        );
        assert_eq!(run.phase(1, secs(1)), Phase::Blocked);
        assert_eq!(run.phase(2, secs(1)), Phase::Blocked);
        assert_eq!(run.state(secs(1)), (PipelineState::Cancelled, Some(0)));
    }
}
