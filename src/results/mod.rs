//! Node results: after the pipeline ends, each completed query node's result is previewed (the first
//! `result_rows` rows, for the job summary) and, with `results_dir`, streamed page by page to a file that a
//! later step can use without calling Dune again. A failed download is an error for that node only.

pub mod csv;
pub mod fetch;
pub mod file;
pub mod settings;

use std::time::Duration;

use serde_json::{Value, json};

use dune_api::Client;
use tokio::sync::watch;

pub use settings::ResultsConfig;

use crate::pipeline::node::{Node, NodeStatus, is_partial, normalize};
use crate::runner::console::{Console, Level, capitalize, truncate_chars};

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

/// The result of one query node (an item of the `results` output).
#[derive(Debug, Clone, PartialEq)]
pub struct NodeResult {
    pub node_id: i64,
    pub query_id: Option<i64>,
    pub execution_id: String,
    /// The file written, relative to the workspace.
    pub path: Option<String>,
    /// Rows of the whole result.
    pub rows: Option<u64>,
    /// Size of the file written; without one, Dune's `total_result_set_bytes`.
    pub bytes: Option<u64>,
    /// Whether Dune truncated the result (`QUERY_STATE_COMPLETED_PARTIAL`).
    pub partial: bool,
    pub preview: Option<Preview>,
    /// Why the result could not be read or written.
    pub error: Option<String>,
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

impl FetchError {
    /// What the user should do about it.
    pub fn hint(&self) -> &'static str {
        match self {
            FetchError::Api(e) => e.hint(),
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

/// The `results` output: a JSON array, one object per query node with a result.
pub fn output(results: &[NodeResult]) -> String {
    Value::Array(
        results
            .iter()
            .map(|r| {
                json!({
                    "node_id": r.node_id,
                    "query_id": r.query_id,
                    "execution_id": r.execution_id,
                    "path": r.path,
                    "rows": r.rows,
                    "bytes": r.bytes,
                    "partial": r.partial,
                    "error": r.error.as_deref().map(|e| truncate_chars(e, 500)),
                })
            })
            .collect(),
    )
    .to_string()
}

/// Fetches the results of the completed query nodes in `nodes`, one after another, until `stop` flips.
/// A failed read or download is an error of that node's result (and an `::error::` naming it), never of
/// the others.
pub async fn fetch_all(
    config: &ResultsConfig,
    client: &Client,
    console: &Console,
    stop: watch::Receiver<bool>,
    nodes: &[Node],
) -> Vec<NodeResult> {
    // The pipeline's `timeout` is over; result reads get the client's own per-request retries.
    let client = client.clone().with_deadline(Duration::MAX);
    let fetcher = fetch::Fetcher {
        client: &client,
        config,
        stop,
    };
    let mut results = Vec::new();
    for node in nodes
        .iter()
        .filter(|n| n.status == NodeStatus::Completed && n.query_id().is_some())
    {
        if let Some(r) = one_node(&fetcher, console, node).await {
            results.push(r);
        }
    }
    results
}

async fn one_node(
    fetcher: &fetch::Fetcher<'_>,
    console: &Console,
    node: &Node,
) -> Option<NodeResult> {
    let execution_id = node.execution_id.clone()?;
    let mut partial = node.raw_status.as_deref().is_some_and(is_partial);
    let mut result = NodeResult {
        node_id: node.id,
        query_id: node.query_id(),
        execution_id: execution_id.clone(),
        path: None,
        rows: None,
        bytes: None,
        partial,
        preview: None,
        error: None,
    };
    let label = format!("node {} ({})", node.id, node.label());
    let fail = |result: &mut NodeResult, what: &str, e: FetchError| {
        let message = format!("{e}. {}.", capitalize(e.hint()));
        console.annotate(
            Level::Error,
            Some(&format!("Results of {label} {what}")),
            &message,
        );
        result.error = Some(message);
    };

    let mut first = fetcher.preview(&execution_id, partial).await;
    // A partial result that the pipeline status did not announce. Dune asks for the flag either with an
    // error, or with a 200 that has no result and a partial (or failed) state: ask again with the flag.
    let asks_for_flag = match &first {
        Err(FetchError::Api(e)) => {
            e.status() == Some(400)
                && e.dune_message()
                    .is_some_and(|m| m.to_ascii_lowercase().contains("partial"))
        }
        Err(FetchError::NoResult { state, .. }) => {
            is_partial(state) || normalize(state) == NodeStatus::Failed
        }
        _ => false,
    };
    if !partial && asks_for_flag {
        let again = fetcher.preview(&execution_id, true).await;
        if again.is_ok() {
            partial = true;
            first = again;
        }
    }
    let page = match first {
        Ok(p) => p,
        Err(e) => {
            fail(&mut result, "could not be read", e);
            return Some(result);
        }
    };
    partial |= page.state.as_deref().is_some_and(is_partial);
    result.partial = partial;
    let meta = page.metadata.clone();
    result.rows = meta.as_ref().and_then(|m| m.total_row_count);
    result.bytes = meta.as_ref().and_then(|m| m.total_result_set_bytes);
    result.preview = Some(page.preview);
    if partial {
        console.annotate(
            Level::Warning,
            Some(&format!("Partial result of {label}")),
            "Dune truncated this result because it was too large (QUERY_STATE_COMPLETED_PARTIAL): the preview, the file and the row count hold only the rows Dune kept.",
        );
    }
    let rows = result
        .rows
        .map_or_else(|| "an unknown number of".to_string(), |r| r.to_string());

    if fetcher.config.dir.is_none() {
        console.line(&format!("Results of {label}: {rows} rows"));
        return Some(result);
    }
    match fetcher
        .download(node.query_id(), &execution_id, partial, meta.as_ref())
        .await
    {
        Ok(d) => {
            console.line(&format!(
                "Results of {label}: wrote {} rows ({} bytes, {} pages) to {} in {:.2}s",
                d.rows, d.bytes, d.pages, d.path, d.seconds
            ));
            result.rows = Some(d.rows);
            result.bytes = Some(d.bytes);
            result.path = Some(d.path);
        }
        Err(e) => fail(&mut result, "could not be downloaded", e),
    }
    Some(result)
}
