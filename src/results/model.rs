//! What a node's result is read into (its columns and preview rows) and what can go wrong reading it,
//! shared by `fetch` and `mod.rs` (below both, so that they do not import each other).

/// A column of a result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    pub name: String,
    /// Dune's type name (`varchar`, `double`, …).
    pub kind: Option<String>,
}

/// The rows shown in the summary: cell texts already shortened, `None` for null.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Preview {
    pub columns: Vec<Column>,
    pub rows: Vec<Vec<Option<String>>>,
}

/// What can go wrong fetching a result.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// The API failed (after the client's retries).
    #[error(transparent)]
    Api(dune_api::Error),
    /// The file could not be written.
    #[error("could not write {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    /// Dune has no result for the execution.
    #[error("Dune has no result for execution {execution_id} (state {state})")]
    NoResult { execution_id: String, state: String },
    /// The pages did not add up.
    #[error("the result pages are inconsistent: {0}")]
    Inconsistent(String),
    /// The workflow was cancelled during the download.
    #[error("stopped: the workflow was cancelled")]
    Stopped,
    /// Dune kept refusing pages for exceeding its per-request limit, even after the page size was lowered.
    #[error(
        "{source} (Dune refused {rows} rows a page, after the action lowered the page size once)"
    )]
    PageLimit { source: dune_api::Error, rows: u64 },
}

impl From<dune_api::ResultsError> for FetchError {
    fn from(e: dune_api::ResultsError) -> Self {
        match e {
            dune_api::ResultsError::NoResult {
                execution_id,
                state,
            } => FetchError::NoResult {
                execution_id,
                state,
            },
            dune_api::ResultsError::PageLimit { source, rows } => {
                FetchError::PageLimit { source, rows }
            }
            dune_api::ResultsError::Inconsistent { detail, .. } => FetchError::Inconsistent(detail),
            dune_api::ResultsError::Api(e) => FetchError::Api(e),
            // A kind of failure the crate adds later: its own words.
            other => FetchError::Inconsistent(other.to_string()),
        }
    }
}

impl FetchError {
    /// What the user should do about it.
    pub fn hint(&self) -> &'static str {
        match self {
            FetchError::Api(e) => crate::pipeline::hint::hint(e),
            FetchError::Io { .. } => {
                "check that `results_dir` is writable and that the runner has enough disk space"
            }
            FetchError::NoResult { .. } => {
                "the result may have expired (Dune keeps results 90 days) or the execution did not complete: re-run the pipeline"
            }
            FetchError::PageLimit { .. } => {
                "Dune's per-request limit on a result page (rows × columns) is lower than the action could meet: download the result from Dune directly, or report it with the log of this step"
            }
            FetchError::Inconsistent(_) | FetchError::Stopped => {
                "re-run the job; if it persists, report it with the log of this step"
            }
        }
    }
}
