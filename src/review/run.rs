//! Running the previews: which query nodes to preview (their SQL file differs from the SQL saved on
//! Dune), each file's SQL run with `POST /v1/sql/execute` on the node's tier and followed to its end, and
//! its whole result diffed, page by page, against the query's latest saved result. Nothing saved on Dune
//! changes: no query update, no query or pipeline execution; only raw-SQL executions (and a cancel of one,
//! when the workflow is cancelled) are started.

use std::collections::BTreeSet;
use std::time::Duration;

use tokio::sync::watch;

use dune_api::definition::{Definition, Task};
use dune_api::models::DuneError;
use dune_api::results::page_rows;
use dune_api::{Client, Clock, ResultFormat, ResultsError};

use super::diff::{DataDiff, DiffSettings, Row, SavedPass};
use super::settings::ReviewSettings;
use crate::pipeline::node::{NodeStatus, normalize};
use crate::results::model::Column;

/// Rows asked for in the first page of each side (later pages are sized from the result's metadata).
const FIRST_PAGE_ROWS: u64 = 1000;

/// The longest wait between two status reads of a preview execution.
const MAX_POLL: Duration = Duration::from_secs(5);

/// A query node whose SQL file differs from the query's saved SQL.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Changed {
    pub node_id: i64,
    pub query_id: i64,
    /// The SQL file, relative to the repository root.
    pub file: String,
    pub sql: String,
    /// The node's tier (the `performance` input when the node sets none).
    pub tier: String,
}

/// Why a node is not previewed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Skip {
    /// It runs after a changed query and reads that query's saved version, not the pull request's.
    Downstream { of: Vec<i64> },
    /// Its SQL has `{{name}}` placeholders, which `/v1/sql/execute` cannot fill in.
    Parameters,
}

/// A node that is not previewed, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct NotPreviewed {
    pub node_id: i64,
    /// The query it runs (`None`: a materialized view).
    pub query_id: Option<i64>,
    pub label: String,
    pub reason: Skip,
}

/// What a preview found.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Found {
    /// A dry run: it would be previewed.
    Planned,
    /// The diff against the saved result.
    Diff(Box<DataDiff>),
    /// The query has no saved result: only the preview's size and columns.
    NoSavedResult { rows: u64, columns: Vec<Column> },
    /// The SQL failed on Dune (with its line and column in the SQL file, when Dune gives them).
    SqlFailed(DuneError),
    /// The preview could not be run or read (Dune's API, a cancelled or expired execution, the timeout).
    Error(String),
}

/// One previewed query.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct QueryReview {
    pub changed: Changed,
    pub execution_id: Option<String>,
    /// Credits the preview execution spent.
    pub credits: Option<f64>,
    pub found: Found,
}

/// The previews of one run.
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct Review {
    pub queries: Vec<QueryReview>,
    pub not_previewed: Vec<NotPreviewed>,
    /// Nodes with a SQL file equal to the saved SQL.
    pub unchanged: usize,
    /// Whether this was a dry run (nothing executed).
    pub dry_run: bool,
}

impl Review {
    /// Previews whose SQL failed.
    pub(crate) fn failed(&self) -> impl Iterator<Item = &QueryReview> {
        self.queries
            .iter()
            .filter(|q| matches!(q.found, Found::SqlFailed(_)))
    }

    /// Previews that could not be run or read.
    pub(crate) fn errors(&self) -> impl Iterator<Item = &QueryReview> {
        self.queries
            .iter()
            .filter(|q| matches!(q.found, Found::Error(_)))
    }
}

/// A SQL file of the pipeline file, as the selection sees it.
#[derive(Debug, Clone)]
pub(crate) struct SqlFile {
    pub node_id: i64,
    pub query_id: i64,
    pub file: String,
    pub text: String,
}

/// Whether `sql` has a `{{name}}` placeholder (Dune's query parameters).
fn has_placeholders(sql: &str) -> bool {
    sql.find("{{").is_some_and(|i| sql[i..].contains("}}"))
}

/// Splits the nodes with SQL files into those to preview (`differs` says their SQL changed) and the rest;
/// every node downstream of a changed one is listed as not previewed. `default_tier` is the
/// `performance` input.
pub(crate) fn select(
    definition: &Definition,
    files: &[SqlFile],
    differs: impl Fn(&SqlFile) -> bool,
    default_tier: &str,
) -> (Vec<Changed>, Vec<NotPreviewed>, usize) {
    let mut changed = Vec::new();
    let mut skipped = Vec::new();
    let mut unchanged = 0;
    let mut changed_ids = BTreeSet::new();
    for f in files {
        if !differs(f) {
            unchanged += 1;
            continue;
        }
        changed_ids.insert(f.node_id);
        if has_placeholders(&f.text) {
            skipped.push(NotPreviewed {
                node_id: f.node_id,
                query_id: Some(f.query_id),
                label: format!("query {}", f.query_id),
                reason: Skip::Parameters,
            });
            continue;
        }
        let tier = definition
            .nodes
            .iter()
            .find(|n| n.id == f.node_id)
            .and_then(|n| n.performance())
            .map_or_else(|| default_tier.to_string(), |t| t.as_str().to_string());
        changed.push(Changed {
            node_id: f.node_id,
            query_id: f.query_id,
            file: f.file.clone(),
            sql: f.text.clone(),
            tier,
        });
    }
    // Every node that (transitively) depends on a changed one, and which changed ones it depends on.
    let previewed: BTreeSet<i64> = changed.iter().map(|c| c.node_id).collect();
    for n in &definition.nodes {
        if previewed.contains(&n.id) || skipped.iter().any(|s| s.node_id == n.id) {
            continue;
        }
        let mut of = BTreeSet::new();
        let mut seen = BTreeSet::new();
        let mut stack: Vec<i64> = n.dependencies.clone();
        while let Some(d) = stack.pop() {
            if !seen.insert(d) {
                continue;
            }
            if changed_ids.contains(&d) {
                of.insert(d);
            }
            if let Some(dn) = definition.nodes.iter().find(|x| x.id == d) {
                stack.extend(dn.dependencies.iter().copied());
            }
        }
        if of.is_empty() {
            continue;
        }
        let (query_id, label) = match &n.task {
            Task::Query { query_id, .. } => (Some(*query_id), format!("query {query_id}")),
            Task::View { name, .. } => (None, format!("materialized view {name}")),
        };
        skipped.push(NotPreviewed {
            node_id: n.id,
            query_id,
            label,
            reason: Skip::Downstream {
                of: of.into_iter().collect(),
            },
        });
    }
    skipped.sort_by_key(|s| s.node_id);
    (changed, skipped, unchanged)
}

/// What runs the previews.
pub(crate) struct Previewer<'a> {
    pub client: &'a Client,
    pub clock: Clock,
    pub stop: watch::Receiver<bool>,
    /// Clock time after which no preview goes on (the `timeout`).
    pub deadline: Duration,
    pub settings: &'a ReviewSettings,
}

/// Why a preview stopped early.
enum Stop {
    Api(dune_api::Error),
    Other(String),
}

impl From<dune_api::Error> for Stop {
    fn from(e: dune_api::Error) -> Stop {
        Stop::Api(e)
    }
}

impl From<ResultsError> for Stop {
    fn from(e: ResultsError) -> Stop {
        match e {
            ResultsError::Api(e) => Stop::Api(e),
            other => Stop::Other(other.to_string()),
        }
    }
}

impl Stop {
    fn message(self) -> String {
        match self {
            Stop::Api(e) => e.to_string(),
            Stop::Other(s) => s,
        }
    }
}

/// One page of a result, its rows parsed.
struct Page {
    rows: Vec<Row>,
    columns: Vec<Column>,
    /// `result.metadata`, to size the next pages.
    metadata: Option<dune_api::models::ResultMetadata>,
    /// Whether there is a page after this one.
    more: bool,
    /// The execution the page belongs to (read on the first page of a saved result).
    execution_id: Option<String>,
}

fn read_page(page: dune_api::Page) -> Result<Page, Stop> {
    let mut rows = Vec::with_capacity(page.json_rows().len());
    for r in page.json_rows() {
        rows.push(
            serde_json::from_slice::<Row>(r)
                .map_err(|e| Stop::Other(format!("a row is not a JSON object ({e})")))?,
        );
    }
    let columns = page
        .metadata
        .as_ref()
        .map(|m| {
            m.column_names
                .iter()
                .enumerate()
                .map(|(i, name)| Column {
                    name: name.clone(),
                    kind: m.column_types.get(i).cloned(),
                })
                .collect()
        })
        .unwrap_or_default();
    Ok(Page {
        rows,
        columns,
        metadata: page.metadata,
        more: page.has_next,
        execution_id: page.execution_id,
    })
}

impl Previewer<'_> {
    fn check(&self) -> Result<(), Stop> {
        if *self.stop.borrow() {
            return Err(Stop::Other(
                "the workflow was cancelled before the preview ended".into(),
            ));
        }
        if self.clock.elapsed() >= self.deadline {
            return Err(Stop::Other(
                "the `timeout` passed before the preview ended".into(),
            ));
        }
        Ok(())
    }

    /// Reads every page of an execution's result from `offset` (the first page already read), handing
    /// each row to `row` until it says to stop. `limit` is the page size.
    async fn rest(
        &self,
        execution_id: &str,
        offset: u64,
        limit: u64,
        mut row: impl FnMut(Row) -> bool,
    ) -> Result<(), Stop> {
        let mut pages = self
            .client
            .result_pages(execution_id, ResultFormat::Json)
            .page_rows(limit)
            .allow_partial(true)
            .starting_at(offset);
        loop {
            self.check()?;
            let page = match pages.next_page().await {
                Ok(Some(p)) => read_page(p)?,
                Ok(None) => return Ok(()),
                Err(ResultsError::NoResult { state, .. }) => {
                    return Err(Stop::Other(format!(
                        "execution {execution_id} has no result ({state})"
                    )));
                }
                Err(e) => return Err(e.into()),
            };
            for r in page.rows {
                if !row(r) {
                    return Ok(());
                }
            }
        }
    }

    /// Follows a preview execution to its end: its credits, or why it did not complete.
    async fn follow(&self, execution_id: &str) -> Result<Result<Option<f64>, DuneError>, Stop> {
        let mut wait = Duration::from_millis(500);
        loop {
            if let Err(stop) = self.check() {
                // Best effort: an execution nobody will read is not left running.
                let _ = self.client.cancel_execution(execution_id).await;
                return Err(stop);
            }
            let status = self.client.execution_status(execution_id).await?;
            let state = status.state.clone().unwrap_or_default();
            match normalize(&state) {
                NodeStatus::Completed => return Ok(Ok(status.credits)),
                NodeStatus::Failed => {
                    return Ok(Err(status.error.unwrap_or_else(|| {
                        let mut e = DuneError::default();
                        e.message = format!("the preview execution ended {state}");
                        e
                    })));
                }
                NodeStatus::Cancelled | NodeStatus::Skipped => {
                    return Err(Stop::Other(format!(
                        "the preview execution {execution_id} ended {state}"
                    )));
                }
                _ => {}
            }
            if !self.clock.sleep_unless_stopped(wait, &self.stop).await {
                continue;
            }
            wait = (wait * 2).min(MAX_POLL);
        }
    }

    /// Previews one changed query.
    pub(crate) async fn preview(&self, changed: &Changed) -> QueryReview {
        let mut review = QueryReview {
            changed: changed.clone(),
            execution_id: None,
            credits: None,
            found: Found::Error(String::new()),
        };
        review.found = match self.run(changed, &mut review).await {
            Ok(found) => found,
            Err(stop) => Found::Error(stop.message()),
        };
        review
    }

    async fn run(&self, changed: &Changed, review: &mut QueryReview) -> Result<Found, Stop> {
        self.check()?;
        let id = self.client.execute_sql(&changed.sql, &changed.tier).await?;
        review.execution_id = Some(id.clone());
        match self.follow(&id).await? {
            Ok(credits) => review.credits = credits,
            Err(e) => return Ok(Found::SqlFailed(e)),
        }
        // The preview's first page: its columns (held while the saved side is read: one small page).
        self.check()?;
        let first = match self
            .client
            .result_pages(&id, ResultFormat::Json)
            .page_rows(FIRST_PAGE_ROWS)
            .allow_partial(true)
            .first_page()
            .await
        {
            Ok(p) => read_page(p)?,
            Err(ResultsError::NoResult { state, .. }) => {
                return Err(Stop::Other(format!(
                    "the preview execution {id} has no result ({state})"
                )));
            }
            Err(e) => return Err(e.into()),
        };
        let preview_limit = page_rows(first.metadata.as_ref(), ResultFormat::Json);
        let preview_total = first.metadata.as_ref().and_then(|m| m.total_row_count);
        // The saved side's first page, from the query's latest result.
        self.check()?;
        let saved_first = match self
            .client
            .query_result_page(changed.query_id.unsigned_abs(), FIRST_PAGE_ROWS)
            .await
        {
            Ok(p) => read_page(p)?,
            Err(ResultsError::NoResult { .. }) => {
                return Ok(self.no_saved(&id, first, preview_total).await);
            }
            Err(ResultsError::Api(e)) if e.status() == Some(404) => {
                return Ok(self.no_saved(&id, first, preview_total).await);
            }
            Err(e) => return Err(e.into()),
        };
        let saved_id = saved_first.execution_id.clone().ok_or_else(|| {
            Stop::Other("the saved result names no execution to read its pages from".into())
        })?;
        let saved_limit = page_rows(saved_first.metadata.as_ref(), ResultFormat::Json);
        let settings = DiffSettings {
            sample_rows: self.settings.rows,
            key: self.settings.key.clone(),
        };
        // Pass 1: the saved result.
        let mut saved = SavedPass::new(settings, saved_first.columns, first.columns);
        let first_saved_rows = saved_first.rows.len() as u64;
        for r in &saved_first.rows {
            saved.row(r);
        }
        if saved_first.more {
            self.rest(&saved_id, first_saved_rows, saved_limit, |r| {
                saved.row(&r);
                true
            })
            .await?;
        }
        // Pass 2: the preview.
        let mut preview = saved.finish();
        let first_rows = first.rows.len() as u64;
        for r in first.rows {
            preview.row(r);
        }
        if first.more {
            self.rest(&id, first_rows, preview_limit, |r| {
                preview.row(r);
                true
            })
            .await?;
        }
        // Pass 3, when the report needs saved rows.
        let mut look = preview.finish();
        if look.wants_more() {
            self.rest(&saved_id, 0, saved_limit, |r| {
                look.row(r);
                look.wants_more()
            })
            .await?;
        }
        Ok(Found::Diff(Box::new(look.finish())))
    }

    /// Without a saved result: the preview's size (its metadata, else its pages counted) and columns.
    async fn no_saved(&self, id: &str, first: Page, total: Option<u64>) -> Found {
        let columns = first.columns;
        let rows = match total {
            Some(t) => t,
            None => {
                let mut n = first.rows.len() as u64;
                if first.more {
                    let counted = self
                        .rest(id, n, FIRST_PAGE_ROWS * 10, |_| {
                            n += 1;
                            true
                        })
                        .await;
                    if let Err(e) = counted {
                        return Found::Error(e.message());
                    }
                }
                n
            }
        };
        Found::NoSavedResult { rows, columns }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn definition() -> Definition {
        Definition::from_document(&serde_json::json!({"pipeline": {"nodes": [
            {"id": 1, "query_execution": {"query_id": 11}},
            {"id": 2, "query_execution": {"query_id": 12, "performance": "large"}},
            {"id": 3, "dependencies": [2], "query_execution": {"query_id": 13}},
            {"id": 4, "dependencies": [3], "materialized_view_refresh": {"name": "dune.t.v"}},
            {"id": 5, "dependencies": [1], "query_execution": {"query_id": 15}},
        ]}}))
        .expect("definition")
    }

    fn file(node_id: i64, query_id: i64, text: &str) -> SqlFile {
        SqlFile {
            node_id,
            query_id,
            file: format!("q{query_id}.sql"),
            text: text.into(),
        }
    }

    #[test]
    fn changed_nodes_are_previewed_and_their_downstream_listed() {
        let files = [
            file(1, 11, "select 1"),
            file(2, 12, "select 2 -- changed"),
            file(3, 13, "select 3"),
        ];
        let (changed, skipped, unchanged) =
            select(&definition(), &files, |f| f.query_id == 12, "medium");
        assert_eq!(unchanged, 2);
        assert_eq!(changed.len(), 1);
        assert_eq!((changed[0].node_id, changed[0].tier.as_str()), (2, "large"));
        let ids: Vec<(i64, Skip)> = skipped
            .iter()
            .map(|s| (s.node_id, s.reason.clone()))
            .collect();
        assert_eq!(
            ids,
            vec![
                (3, Skip::Downstream { of: vec![2] }),
                (4, Skip::Downstream { of: vec![2] })
            ]
        );
    }

    #[test]
    fn sql_with_placeholders_is_not_previewed() {
        let files = [file(1, 11, "select * from t where chain = '{{chain}}'")];
        let (changed, skipped, _) = select(&definition(), &files, |_| true, "medium");
        assert!(changed.is_empty());
        assert_eq!(skipped[0].reason, Skip::Parameters);
        assert_eq!(skipped[1].reason, Skip::Downstream { of: vec![1] });
    }
}
