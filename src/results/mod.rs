//! Node results: after the pipeline ends, the results of the selected query nodes (`result_nodes`: the
//! sinks by default) are previewed (the first `result_rows` rows, for the job summary) and, with
//! `results_dir`, every completed query node's result is streamed page by page to a file that a later step
//! can use without calling Dune again. A failed download is an error for that node only.
//!
//! Results are extras on the client's cap ([`dune_api::Priority::Extra`]): several nodes are fetched at
//! once ([`IN_FLIGHT`]), sinks first. A preview not read within the time allowed after the end
//! ([`crate::pipeline::details::AFTER_END`]) is left out and said in the summary; files are not cut short.

pub mod fetch;
pub mod file;
pub mod model;
pub mod settings;

use std::collections::{BTreeSet, VecDeque};
use std::sync::Mutex;
use std::time::Duration;

use serde_json::json;

use dune_api::{Client, Clock};
use tokio::sync::watch;

pub use model::{FetchError, Preview};
use settings::ResultsDir;
pub use settings::{ResultNodes, ResultsConfig};

use crate::pipeline::node::{Node, NodeStatus, is_partial, normalize};
use crate::runner::console::{Console, Level, capitalize, truncate_chars};
use crate::runner::files::{HandOver, hand_over as hand_over_dir};

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
    /// Whether the summary shows its preview (the node is one `result_nodes` selects).
    pub previewed: bool,
    /// Why the result could not be read or written.
    pub error: Option<String>,
}

/// What [`fetch_all`] read, and what it left out.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Fetched {
    pub results: Vec<NodeResult>,
    /// Completed query nodes selected for a preview that was not read in the time allowed after the end.
    pub unread: Vec<i64>,
    /// Completed query nodes `result_nodes: sinks` left out of the previews.
    pub not_selected: usize,
}

/// How many nodes' results are fetched at once.
pub const IN_FLIGHT: usize = 4;

/// Which nodes' results to read, and until when.
pub struct Selection<'a> {
    pub nodes: &'a [Node],
    /// The root query of a query's pipeline.
    pub root_query: Option<u64>,
    pub clock: Clock,
    /// Clock time after which no preview is read (files still are).
    pub bound: Duration,
}

/// The sink nodes: nothing depends on them. Without the definition's dependencies, the root query's
/// nodes (for a query's pipeline), else every node.
pub fn sinks(nodes: &[Node], root_query: Option<u64>) -> BTreeSet<i64> {
    if nodes.iter().any(|n| n.dependencies.is_some()) {
        let depended_on: BTreeSet<i64> = nodes
            .iter()
            .flat_map(|n| n.dependencies.iter().flatten().copied())
            .collect();
        return nodes
            .iter()
            .map(|n| n.id)
            .filter(|id| !depended_on.contains(id))
            .collect();
    }
    match root_query {
        Some(q) => nodes
            .iter()
            .filter(|n| n.query_id() == Some(q as i64))
            .map(|n| n.id)
            .collect(),
        None => nodes.iter().map(|n| n.id).collect(),
    }
}

/// The `results` output's budget: like `nodes`, it must fit in one environment variable (128 KiB on
/// Linux), and both together well under the job's 1 MB of outputs in UTF-16.
pub const RESULTS_OUTPUT_BUDGET: usize = 64 * 1024;

/// The `results` output: a JSON array, one object per query node with a result; cut from the end (with a
/// final `{"truncated": true, "omitted": N}` marker) when it would not fit in `budget` bytes.
pub fn output(results: &[NodeResult], budget: usize) -> String {
    let mut items: Vec<String> = results
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
            .to_string()
        })
        .collect();
    let size = |items: &[String]| 2 + items.iter().map(|i| i.len() + 1).sum::<usize>();
    let marker_room = 64;
    let mut omitted = 0;
    if size(&items) > budget {
        while size(&items) + marker_room > budget && items.pop().is_some() {
            omitted += 1;
        }
        items.push(json!({"truncated": true, "omitted": omitted}).to_string());
    }
    format!("[{}]", items.join(","))
}

/// Fetches the results of the completed query nodes of `selection`, [`IN_FLIGHT`] at a time, sinks
/// first, until `stop` flips: previews of the selected nodes until the selection's bound, and with
/// `results_dir` every node's file. A failed read or download is an error of that node's result (and an
/// `::error::` naming it), never of the others.
pub async fn fetch_all(
    config: &ResultsConfig,
    client: &Client,
    console: &Console,
    stop: watch::Receiver<bool>,
    selection: Selection<'_>,
) -> Fetched {
    // The pipeline's `timeout` is over; result reads get the client's own per-request retries.
    let client = client.clone().with_deadline(Duration::MAX).extras();
    let fetcher = fetch::Fetcher {
        client: &client,
        config,
        stop,
    };
    let sinks = sinks(selection.nodes, selection.root_query);
    let completed: Vec<&Node> = selection
        .nodes
        .iter()
        .filter(|n| n.status == NodeStatus::Completed && n.query_id().is_some())
        .collect();
    let shown = |n: &Node| {
        config.preview_rows != 0 && (config.nodes == ResultNodes::All || sinks.contains(&n.id))
    };
    let files = config.dir.is_some();
    let mut queue: Vec<(usize, &Node, bool)> = completed
        .iter()
        .enumerate()
        .map(|(i, n)| (i, *n, shown(n)))
        .filter(|(_, _, shown)| *shown || files)
        .collect();
    // Sinks first, then the rest in the pipeline's order.
    queue.sort_by_key(|(i, n, _)| (!sinks.contains(&n.id), *i));
    let not_selected = if config.preview_rows == 0 {
        0
    } else {
        completed.iter().filter(|n| !shown(n)).count()
    };
    let queue = Mutex::new(VecDeque::from(queue));
    let done: Mutex<Vec<(usize, NodeResult)>> = Mutex::new(Vec::new());
    let unread: Mutex<Vec<i64>> = Mutex::new(Vec::new());
    let worker = || async {
        loop {
            let next = match queue.lock() {
                Ok(mut q) => q.pop_front(),
                Err(p) => p.into_inner().pop_front(),
            };
            let Some((i, node, previewed)) = next else {
                return;
            };
            let left = selection.bound.saturating_sub(selection.clock.elapsed());
            let fetched = if files {
                one_node(&fetcher, console, node, previewed).await
            } else if left.is_zero() {
                None
            } else {
                tokio::select! {
                    r = one_node(&fetcher, console, node, previewed) => r,
                    _ = selection.clock.sleep(left) => None,
                }
            };
            match fetched {
                Some(r) => push(&done, (i, r)),
                None if !files && node.execution_id.is_some() => push(&unread, node.id),
                None => {}
            }
        }
    };
    // IN_FLIGHT workers (the assertion keeps the two in step).
    const _: () = assert!(IN_FLIGHT == 4);
    tokio::join!(worker(), worker(), worker(), worker());
    let mut results = into_inner(done);
    results.sort_by_key(|(i, _)| *i);
    let unread = into_inner(unread);
    if let Some(dir) = &config.dir {
        hand_over(dir, console);
    }
    if !unread.is_empty() {
        console.line(&format!(
            "Previews of {} nodes were not read: the {} s allowed after the pipeline ended ran out",
            unread.len(),
            crate::pipeline::details::AFTER_END.as_secs()
        ));
    }
    Fetched {
        results: results.into_iter().map(|(_, r)| r).collect(),
        unread,
        not_selected,
    }
}

/// Gives `results_dir` to the workspace's owner, so that a later step can change and delete the files
/// (see [`crate::runner::files::hand_over`]); says what it did.
fn hand_over(dir: &ResultsDir, console: &Console) {
    let Some(workspace) = &dir.workspace else {
        return;
    };
    if !dir.path.is_dir() {
        return;
    }
    match hand_over_dir(workspace, &dir.path) {
        Ok(HandOver::AlreadyTheirs) => {}
        Ok(HandOver::Chowned { uid, gid, entries }) => console.line(&format!(
            "Result files: {entries} files and directories of `{}` given to {uid}:{gid}, the owner of the workspace, so later steps can change and delete them",
            dir.relative
        )),
        Ok(HandOver::MadeWritable { entries }) => console.line(&format!(
            "Result files: {entries} files and directories of `{}` made writable for every user (could not give them to the owner of the workspace)",
            dir.relative
        )),
        Err(e) => console.annotate(
            Level::Warning,
            Some("Result files may belong to root"),
            &format!(
                "Could not give `{}` to the owner of the workspace ({e}): a later step may be unable to change or delete its files",
                dir.relative
            ),
        ),
    }
}

fn push<T>(m: &Mutex<Vec<T>>, v: T) {
    match m.lock() {
        Ok(mut g) => g.push(v),
        Err(p) => p.into_inner().push(v),
    }
}

fn into_inner<T>(m: Mutex<Vec<T>>) -> Vec<T> {
    m.into_inner().unwrap_or_else(|p| p.into_inner())
}

async fn one_node(
    fetcher: &fetch::Fetcher<'_>,
    console: &Console,
    node: &Node,
    previewed: bool,
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
        previewed,
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
    result.preview = (fetcher.config.preview_rows != 0).then_some(page.preview);
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
