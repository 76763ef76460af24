//! How a run ended: the one value the `status` output, the exit code, the summary's verdict and the check
//! run's conclusion are all derived from. Which ending a pipeline that ended gets is decided by the run's
//! state machine (`Tracked::verdict` in the `tracked` module); the endings without a pipeline (invalid
//! input, API error, timeout, a dry run, a fresh result) by `outcome`'s constructors.

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
    /// The pipeline completed (or a fresh result was reused), but a result could not be read.
    pub const RESULTS: u8 = 5;
    /// Over the credit budget (`max_credits`): the rest was cancelled, or nothing was started.
    pub const OVER_BUDGET: u8 = 6;
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// Every node completed (exit 0).
    Completed,
    /// A dry run showed the plan (exit 0).
    Planned,
    /// `wait: false`: the pipeline was started and not followed (exit 0).
    Started,
    /// Every sink query's latest result ended within `max_age`: nothing executed, they were reused (exit 0).
    Fresh,
    /// `only_changed` and no SQL changed: nothing executed (exit 0).
    Unchanged,
    /// `preview: true`: every changed query's SQL was run as raw SQL and diffed; nothing saved changed
    /// (exit 0). A preview whose SQL failed is [`Ending::Failed`].
    Previewed,
    /// A node or the pipeline failed, or the pipeline ended without every node completing (exit 1).
    Failed,
    /// Cancelled on Dune, or the workflow was cancelled (exit 1).
    Cancelled,
    /// The `timeout` passed (exit 3).
    TimedOut,
    /// An input was invalid; nothing was sent (exit 2).
    InvalidInput,
    /// Dune's API failed in a way retries could not fix (exit 4).
    ApiError,
    /// The pipeline completed (`fresh`: a result was reused) but a node's result could not be read or
    /// downloaded: the status stays `completed` (or `fresh`), the error is in `results[].error` (exit 5).
    ResultsFailed { fresh: bool },
    /// The known spend passed `max_credits` (what still ran or waited was cancelled), or the estimate
    /// did before the start (nothing was started) (exit 6).
    OverBudget,
}

impl Ending {
    /// The `status` output (`error` for both an invalid input and an API error).
    pub fn status(self) -> &'static str {
        match self {
            Ending::Completed => "completed",
            Ending::Planned => "planned",
            Ending::Started => "started",
            Ending::Fresh => "fresh",
            Ending::Unchanged => "unchanged",
            Ending::Previewed => "previewed",
            Ending::Failed => "failed",
            Ending::Cancelled => "cancelled",
            Ending::TimedOut => "timed_out",
            Ending::OverBudget => "over_budget",
            Ending::InvalidInput | Ending::ApiError => "error",
            Ending::ResultsFailed { fresh: false } => "completed",
            Ending::ResultsFailed { fresh: true } => "fresh",
        }
    }

    /// The step's exit code.
    pub fn exit_code(self) -> u8 {
        match self {
            Ending::Completed
            | Ending::Planned
            | Ending::Started
            | Ending::Fresh
            | Ending::Unchanged
            | Ending::Previewed => exit::OK,
            Ending::Failed | Ending::Cancelled => exit::FAILED,
            Ending::InvalidInput => exit::INPUT,
            Ending::TimedOut => exit::TIMED_OUT,
            Ending::ApiError => exit::API,
            Ending::ResultsFailed { .. } => exit::RESULTS,
            Ending::OverBudget => exit::OVER_BUDGET,
        }
    }

    /// Whether the action could not run or follow the pipeline (the `error` status).
    pub fn is_error(self) -> bool {
        matches!(self, Ending::InvalidInput | Ending::ApiError)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_and_exit_code_come_from_the_ending() {
        let all = [
            (Ending::Completed, "completed", 0),
            (Ending::Planned, "planned", 0),
            (Ending::Started, "started", 0),
            (Ending::Fresh, "fresh", 0),
            (Ending::Unchanged, "unchanged", 0),
            (Ending::Previewed, "previewed", 0),
            (Ending::Failed, "failed", 1),
            (Ending::Cancelled, "cancelled", 1),
            (Ending::TimedOut, "timed_out", 3),
            (Ending::InvalidInput, "error", 2),
            (Ending::ApiError, "error", 4),
            (Ending::ResultsFailed { fresh: false }, "completed", 5),
            (Ending::ResultsFailed { fresh: true }, "fresh", 5),
            (Ending::OverBudget, "over_budget", 6),
        ];
        for (ending, status, code) in all {
            assert_eq!((ending.status(), ending.exit_code()), (status, code));
            assert_eq!(ending.is_error(), status == "error");
        }
    }
}
