//! `sync_sql`: before anything runs, each query whose SQL lives in the repository ([`super::sql`]) is
//! read from Dune (`GET /api/v1/query/{id}`: `query_sql`, `version`), and updated
//! (`PATCH /api/v1/query/{id}`) where it differs from its file. A dry run only says what would be
//! updated. The first failed update stops the sync: nothing runs, and what was and was not updated is
//! kept for the summary.
//!
//! `only_changed`: [`changed_subset`] is the part of the pipeline to run: the nodes whose SQL changed and
//! everything downstream of them, with the dependencies among them, each with the reason it runs.

use dune_api::definition::Definition;
use dune_api::queries::QueryWriter;
use dune_api::{Client, Clock};

use super::definition::PipelineFile;
use super::sql::{SqlNode, differs, normalized, sql_files};
use crate::runner::console::{Console, Level, one_line};

/// A diff in the summary is cut after this many lines (the log has none: it is in the repository).
pub const MAX_DIFF_LINES: usize = 120;

/// What the sync did with one query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// The saved SQL is the file's (line endings and trailing newlines aside).
    Unchanged { version: Option<i64> },
    /// Updated from the file: the version before and the one Dune reported after.
    Updated {
        before: Option<i64>,
        after: Option<i64>,
        diff: String,
    },
    /// A dry run: it differs and would be updated.
    WouldUpdate { version: Option<i64>, diff: String },
    /// It differs; the update was refused or failed.
    Failed { diff: String, error: String },
    /// It differs; not updated because an earlier update failed.
    NotUpdated { diff: String },
    /// Its saved SQL could not be read.
    Unread { error: String },
}

impl Change {
    /// Whether the node's SQL changed with this sync (or would, in a dry run).
    pub fn changed(&self) -> bool {
        matches!(self, Change::Updated { .. } | Change::WouldUpdate { .. })
    }

    /// The diff from the saved SQL to the file's, when they differ.
    pub fn diff(&self) -> Option<&str> {
        match self {
            Change::Updated { diff, .. }
            | Change::WouldUpdate { diff, .. }
            | Change::Failed { diff, .. }
            | Change::NotUpdated { diff } => Some(diff),
            Change::Unchanged { .. } | Change::Unread { .. } => None,
        }
    }
}

/// One query of the sync.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Synced {
    pub node: SqlNode,
    pub change: Change,
}

/// Why the sync stopped: the query and Dune's error.
#[derive(Debug, Clone)]
pub struct SyncFailure {
    pub query_id: i64,
    /// `true`: the update failed; `false`: reading the saved SQL failed.
    pub updating: bool,
    pub error: dune_api::Error,
}

impl SyncFailure {
    /// Whether Dune refused the key (401/403): the update needs the `Read/Write` scope.
    pub fn scope_refused(&self) -> bool {
        self.updating && matches!(self.error.status(), Some(401 | 403))
    }
}

/// What `sync_sql` did.
#[derive(Debug, Clone)]
pub struct SqlSync {
    pub queries: Vec<Synced>,
    pub dry_run: bool,
    /// The cap on updates (Dune's low limit, a minute).
    pub writes_per_minute: usize,
    /// Set when the sync stopped on an error: nothing runs.
    pub failure: Option<SyncFailure>,
    /// With `only_changed`: each node of the file and why it runs (or does not).
    pub reasons: Vec<(i64, Reason)>,
    /// With `only_changed`: the file's whole definition (the run has only part of it).
    pub full: Option<Definition>,
}

impl SqlSync {
    /// The nodes whose SQL changed (or would, in a dry run).
    pub fn changed_nodes(&self) -> Vec<i64> {
        self.queries
            .iter()
            .filter(|q| q.change.changed())
            .map(|q| q.node.node_id)
            .collect()
    }

    /// Queries by what happened to them: `(updated, not updated but differing)`.
    pub fn updated_and_not(&self) -> (Vec<&Synced>, Vec<&Synced>) {
        let updated = self
            .queries
            .iter()
            .filter(|q| matches!(q.change, Change::Updated { .. }))
            .collect();
        let not = self
            .queries
            .iter()
            .filter(|q| {
                matches!(
                    q.change,
                    Change::Failed { .. } | Change::NotUpdated { .. } | Change::Unread { .. }
                )
            })
            .collect();
        (updated, not)
    }

    /// How many queries were already up to date.
    pub fn unchanged(&self) -> usize {
        self.queries
            .iter()
            .filter(|q| matches!(q.change, Change::Unchanged { .. }))
            .count()
    }
}

/// The unified diff from `saved` to `file` (both compared as [`normalized`]), cut after
/// [`MAX_DIFF_LINES`] lines.
pub fn unified_diff(saved: &str, file: &str, saved_name: &str, file_name: &str) -> String {
    let saved = format!("{}\n", normalized(saved));
    let file = format!("{}\n", normalized(file));
    let diff = similar::TextDiff::from_lines(&saved, &file);
    let text = diff
        .unified_diff()
        .context_radius(3)
        .header(saved_name, file_name)
        .to_string();
    let lines: Vec<&str> = text.lines().collect();
    if lines.len() <= MAX_DIFF_LINES {
        return text;
    }
    let mut cut = lines[..MAX_DIFF_LINES].join("\n");
    cut.push_str(&format!(
        "\n… {} more lines of diff (the file is in the repository)\n",
        lines.len() - MAX_DIFF_LINES
    ));
    cut
}

/// Reads every query's saved SQL, then updates those that differ from their file (a dry run updates
/// nothing). Stops at the first error; the rest are kept as not updated.
pub async fn sync(
    file: &PipelineFile,
    client: &Client,
    clock: Clock,
    writes_per_minute: usize,
    dry_run: bool,
    console: &Console,
) -> SqlSync {
    let mut result = SqlSync {
        queries: Vec::new(),
        dry_run,
        writes_per_minute,
        failure: None,
        reasons: Vec::new(),
        full: None,
    };
    let nodes = sql_files(file);
    console.group(&format!(
        "Syncing the SQL of {} quer{} from {}",
        nodes.len(),
        if nodes.len() == 1 { "y" } else { "ies" },
        one_line(&file.path)
    ));
    // Every saved SQL is read before anything is written: a read that fails leaves Dune untouched.
    let mut saved = Vec::new();
    for node in nodes {
        match client.query(node.query_id.unsigned_abs()).await {
            Ok(q) => saved.push(q),
            Err(error) => {
                result.queries = nodes
                    .iter()
                    .map(|n| Synced {
                        node: n.clone(),
                        change: Change::Unread {
                            error: if n.query_id == node.query_id {
                                error.to_string()
                            } else {
                                "not read: an earlier read failed".into()
                            },
                        },
                    })
                    .collect();
                result.failure = Some(SyncFailure {
                    query_id: node.query_id,
                    updating: false,
                    error,
                });
                console.end_group();
                return result;
            }
        }
    }
    let writer = QueryWriter::new(client, clock, writes_per_minute);
    for (node, saved) in nodes.iter().zip(saved) {
        let push = |result: &mut SqlSync, change: Change| {
            result.queries.push(Synced {
                node: node.clone(),
                change,
            })
        };
        let what = format!(
            "query {} (node {}, {})",
            node.query_id,
            node.node_id,
            one_line(&node.file)
        );
        if !differs(&saved.query_sql, &node.text) {
            console.line(&format!("{what}: up to date"));
            push(
                &mut result,
                Change::Unchanged {
                    version: saved.version,
                },
            );
            continue;
        }
        let version = saved
            .version
            .map_or_else(|| "?".to_string(), |v| v.to_string());
        let diff = unified_diff(
            &saved.query_sql,
            &node.text,
            &format!("query {} (version {version} on Dune)", node.query_id),
            &node.file,
        );
        if dry_run {
            console.line(&format!("Dry run: {what} would be updated"));
            push(
                &mut result,
                Change::WouldUpdate {
                    version: saved.version,
                    diff,
                },
            );
            continue;
        }
        if result.failure.is_some() {
            push(&mut result, Change::NotUpdated { diff });
            continue;
        }
        match writer
            .update_sql(node.query_id.unsigned_abs(), &node.text)
            .await
        {
            Ok(()) => {
                // The version after, as Dune reports it (one more read); unknown if that read fails.
                let after = client
                    .query(node.query_id.unsigned_abs())
                    .await
                    .ok()
                    .and_then(|q| q.version);
                let shown = after.map_or_else(|| "?".to_string(), |v| v.to_string());
                console.line(&format!("{what}: updated, version {version} → {shown}"));
                push(
                    &mut result,
                    Change::Updated {
                        before: saved.version,
                        after,
                        diff,
                    },
                );
            }
            Err(error) => {
                console.annotate(
                    Level::Error,
                    Some(&format!("SQL of query {} not updated", node.query_id)),
                    &format!("{what}: {error}"),
                );
                push(
                    &mut result,
                    Change::Failed {
                        diff,
                        error: error.to_string(),
                    },
                );
                result.failure = Some(SyncFailure {
                    query_id: node.query_id,
                    updating: true,
                    error,
                });
            }
        }
    }
    console.end_group();
    result
}

/// Why a node of the file runs with `only_changed`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// Its SQL changed.
    SqlChanged,
    /// It depends (directly) on this node, which runs.
    Downstream(i64),
    /// Neither: it does not run.
    NotRun,
}

impl Reason {
    /// `SQL changed`, `downstream of 2`, `not run`.
    pub fn describe(self) -> String {
        match self {
            Reason::SqlChanged => "SQL changed".into(),
            Reason::Downstream(of) => format!("downstream of {of}"),
            Reason::NotRun => "not run: unchanged".into(),
        }
    }
}

/// The part of `definition` to run when `changed` nodes' SQL changed: those nodes and everything
/// downstream of them, in the file's order, each keeping only the dependencies inside the part; and
/// every node of the file with its [`Reason`]. `None` when nothing changed.
pub fn changed_subset(
    definition: &Definition,
    changed: &[i64],
) -> Option<(Definition, Vec<(i64, Reason)>)> {
    let mut reasons: Vec<(i64, Reason)> = definition
        .nodes
        .iter()
        .map(|n| {
            let r = if changed.contains(&n.id) {
                Reason::SqlChanged
            } else {
                Reason::NotRun
            };
            (n.id, r)
        })
        .collect();
    if !reasons.iter().any(|(_, r)| *r == Reason::SqlChanged) {
        return None;
    }
    // The definition has no cycles (it was validated): this reaches a fixed point.
    loop {
        let mut grew = false;
        for n in &definition.nodes {
            let runs = |id: i64| {
                reasons
                    .iter()
                    .any(|(i, r)| *i == id && *r != Reason::NotRun)
            };
            if runs(n.id) {
                continue;
            }
            if let Some(dep) = n.dependencies.iter().copied().find(|d| runs(*d)) {
                if let Some(entry) = reasons.iter_mut().find(|(i, _)| *i == n.id) {
                    entry.1 = Reason::Downstream(dep);
                }
                grew = true;
            }
        }
        if !grew {
            break;
        }
    }
    let runs = |id: i64| {
        reasons
            .iter()
            .any(|(i, r)| *i == id && *r != Reason::NotRun)
    };
    let nodes = definition
        .nodes
        .iter()
        .filter(|n| runs(n.id))
        .map(|n| {
            let mut n = n.clone();
            n.dependencies.retain(|d| runs(*d));
            n
        })
        .collect();
    Some((Definition { nodes }, reasons))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn five() -> Definition {
        // 1 → 2 → 4 → 5, 3 → 4
        Definition::from_response(&json!({"pipeline": {"nodes": [
            {"id": 1, "dependencies": [], "query_execution": {"query_id": 11}},
            {"id": 2, "dependencies": [1], "query_execution": {"query_id": 22}},
            {"id": 3, "dependencies": [], "query_execution": {"query_id": 33}},
            {"id": 4, "dependencies": [2, 3], "query_execution": {"query_id": 44}},
            {"id": 5, "dependencies": [4], "query_execution": {"query_id": 55}},
        ]}}))
        .expect("reads")
    }

    #[test]
    fn the_subset_is_the_changed_nodes_and_their_downstream() {
        let (d, reasons) = changed_subset(&five(), &[2]).expect("something changed");
        let ids: Vec<(i64, Vec<i64>)> = d
            .nodes
            .iter()
            .map(|n| (n.id, n.dependencies.clone()))
            .collect();
        assert_eq!(ids, vec![(2, vec![]), (4, vec![2]), (5, vec![4])]);
        assert_eq!(
            reasons,
            vec![
                (1, Reason::NotRun),
                (2, Reason::SqlChanged),
                (3, Reason::NotRun),
                (4, Reason::Downstream(2)),
                (5, Reason::Downstream(4)),
            ]
        );
        let (d, _) = changed_subset(&five(), &[1, 3]).expect("changed");
        assert_eq!(d.nodes.len(), 5);
        assert_eq!(d.nodes[3].dependencies, vec![2, 3]);
        assert!(changed_subset(&five(), &[]).is_none());
        let (d, _) = changed_subset(&five(), &[5]).expect("changed");
        assert_eq!(d.nodes.len(), 1);
        assert!(d.nodes[0].dependencies.is_empty());
    }

    #[test]
    fn the_example_pipeline_names_its_sql_files() {
        let root = env!("CARGO_MANIFEST_DIR");
        let file =
            crate::pipeline::definition::read_file("examples/dune/sql-pipeline.yml", Some(root))
                .expect("the example is valid");
        let files: Vec<(i64, &str)> = sql_files(&file)
            .iter()
            .map(|s| (s.query_id, s.file.as_str()))
            .collect();
        assert_eq!(
            files,
            vec![
                (3493801, "examples/dune/queries/daily_volume.sql"),
                (3493802, "examples/dune/queries/top_pairs.sql"),
                (3493803, "examples/dune/queries/fees.sql"),
                (3493826, "examples/dune/queries/dashboard.sql"),
            ]
        );
    }

    #[test]
    fn diffs_are_unified_and_cut() {
        let d = unified_diff(
            "SELECT 1\r\nFROM a\r\n",
            "SELECT 1\nFROM b\n",
            "saved",
            "x.sql",
        );
        assert_eq!(
            d,
            "--- saved\n+++ x.sql\n@@ -1,2 +1,2 @@\n SELECT 1\n-FROM a\n+FROM b\n"
        );
        let long: String = (0..500).map(|i| format!("line {i}\n")).collect();
        let d = unified_diff("", &long, "saved", "x.sql");
        assert_eq!(d.lines().count(), MAX_DIFF_LINES + 1);
        assert!(d.ends_with("more lines of diff (the file is in the repository)\n"));
    }
}
