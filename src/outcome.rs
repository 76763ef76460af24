//! How a run ended, in the terms the user sees: the `status` output, the exit code, and the one problem
//! to report in a single `::error::`.

use std::time::Duration;

use crate::inputs::Performance;
use crate::pipeline::Tracked;
use crate::plan::Plan;

/// The run's final status (the `status` output).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunStatus {
    /// Every node completed.
    Completed,
    /// A node or the pipeline failed.
    Failed,
    /// A node or the pipeline was cancelled (also: the workflow was cancelled).
    Cancelled,
    /// The `timeout` passed.
    TimedOut,
    /// The action could not run or follow the pipeline (invalid input, Dune API error).
    Error,
    /// A dry run: the plan was shown, nothing was executed.
    Planned,
}

impl RunStatus {
    /// The `status` output value.
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Completed => "completed",
            RunStatus::Failed => "failed",
            RunStatus::Cancelled => "cancelled",
            RunStatus::TimedOut => "timed_out",
            RunStatus::Error => "error",
            RunStatus::Planned => "planned",
        }
    }
}

/// Exit codes (documented in README).
pub mod exit {
    /// Every node completed.
    pub const OK: u8 = 0;
    /// A node or the pipeline failed or was cancelled.
    pub const FAILED: u8 = 1;
    /// Invalid input or configuration; nothing was sent to Dune.
    pub const INPUT: u8 = 2;
    /// Timed out.
    pub const TIMED_OUT: u8 = 3;
    /// Dune API error.
    pub const API: u8 = 4;
}

/// The problem reported as the step's one `::error::`.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    pub title: String,
    pub message: String,
}

/// Everything the reports are made from.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub query_id: Option<u64>,
    pub performance: Option<Performance>,
    pub tracked: Tracked,
    pub status: RunStatus,
    pub exit_code: u8,
    pub problem: Option<Problem>,
    /// Clock time from start to the end of the run.
    pub wall_time: Duration,
    /// Why nodes were cancelled by the action, when they were (`timeout`, `workflow cancelled`).
    pub cancel_reason: Option<String>,
    /// What was planned to run, once known (the source and, when it could be read, the definition).
    pub plan: Option<Plan>,
    /// The results of completed query nodes (when `result_rows` is not 0).
    pub results: Vec<crate::results::NodeResult>,
}

impl Outcome {
    /// How a run of `config` ended, before any cancels, plan or results are added to it.
    pub fn of(
        config: &crate::inputs::Config,
        tracked: Tracked,
        status: RunStatus,
        exit_code: u8,
        problem: Option<Problem>,
        wall_time: Duration,
    ) -> Outcome {
        Outcome {
            query_id: config.query_id,
            performance: Some(config.performance),
            tracked,
            status,
            exit_code,
            problem,
            wall_time,
            cancel_reason: None,
            plan: None,
            results: Vec::new(),
        }
    }

    /// The root query's node execution id (the last query node whose query id is the root's; for a
    /// pipeline file, the one query node that no other node depends on).
    pub fn root_execution_id(&self) -> Option<String> {
        let nodes = &self.tracked.nodes;
        let root = match self.query_id {
            Some(q) => nodes.iter().rev().find(|n| n.query_id() == Some(q as i64)),
            // A pipeline file has no root query: its root is the one query node nothing depends on.
            None => {
                let depended_on: Vec<i64> = nodes
                    .iter()
                    .flat_map(|n| n.dependencies.iter().flatten().copied())
                    .collect();
                let mut sinks = nodes
                    .iter()
                    .filter(|n| n.dependencies.is_some() && !depended_on.contains(&n.id));
                match (sinks.next(), sinks.next()) {
                    (Some(only), None) if only.query_id().is_some() => Some(only),
                    _ => None,
                }
            }
        };
        root.and_then(|n| n.execution_id.clone())
    }

    /// Ids of nodes that failed or were cancelled.
    pub fn failed_nodes(&self) -> Vec<i64> {
        self.tracked
            .nodes
            .iter()
            .filter(|n| n.status.is_bad())
            .map(|n| n.id)
            .collect()
    }
}
