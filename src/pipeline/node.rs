//! A pipeline node as the action tracks it, and the mapping of Dune's (undocumented) status strings onto a
//! small normalised set. Unknown strings are kept verbatim and classified conservatively: never as success.

use serde::Serialize;

use dune_api::models::DuneError;

/// A node's status, normalised.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NodeStatus {
    /// A dry run's node: planned, never to be started.
    Planned,
    Pending,
    Executing,
    Completed,
    Failed,
    Cancelled,
    /// Never started because something upstream failed or was cancelled.
    Skipped,
    /// A status string the action does not recognise.
    Unknown,
}

impl NodeStatus {
    /// The normalised name (as in the `nodes` output).
    pub fn as_str(self) -> &'static str {
        match self {
            NodeStatus::Planned => "planned",
            NodeStatus::Pending => "pending",
            NodeStatus::Executing => "executing",
            NodeStatus::Completed => "completed",
            NodeStatus::Failed => "failed",
            NodeStatus::Cancelled => "cancelled",
            NodeStatus::Skipped => "skipped",
            NodeStatus::Unknown => "unknown",
        }
    }

    /// Whether the node has ended (it will not change again).
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            NodeStatus::Completed
                | NodeStatus::Failed
                | NodeStatus::Cancelled
                | NodeStatus::Skipped
        )
    }

    /// Whether the node ended without success.
    pub fn is_bad(self) -> bool {
        matches!(self, NodeStatus::Failed | NodeStatus::Cancelled)
    }
}

/// Prefixes that only say what kind of status a word is (`QUERY_STATE_`, `PIPELINE_EXECUTION_STATUS_`, …),
/// stripped (repeatedly) before the word is classified.
const STATUS_PREFIXES: &[&str] = &[
    "pipeline_execution_status_",
    "pipeline_execution_state_",
    "pipeline_status_",
    "pipeline_state_",
    "query_execution_status_",
    "query_execution_state_",
    "query_state_",
    "query_status_",
    "execution_status_",
    "execution_state_",
    "refresh_status_",
    "refresh_state_",
    "node_status_",
    "node_state_",
    "state_",
    "status_",
];

/// Normalises a status string from Dune by meaning, not by list: case and separators are folded, prefixes
/// such as `QUERY_STATE_` or `PIPELINE_EXECUTION_STATUS_` are stripped, and the word is classified by its
/// stems, in this order: skipped (skip, blocked, upstream failure), cancellation (cancel), failure (fail, error,
/// abort, expire, reject, crash, timeout), success (complete, success, succeed, done, finish, ok, pass),
/// waiting (pending, queue, wait, schedule, submit, create, new, ready, not started), running (execut,
/// run, progress, start, process, refresh, active, busy). An "-ing" form of an ending word (`completing`,
/// `cancelling`) is still running; a negated success (`unsuccessful`, `not_completed`) is not a success.
/// Anything else is [`NodeStatus::Unknown`], kept verbatim by the caller and settled by the execution's
/// own state.
pub fn normalize(raw: &str) -> NodeStatus {
    let folded = raw
        .trim()
        .to_ascii_lowercase()
        .replace(['-', ' ', '.', ':', '/'], "_");
    let mut s = folded.trim_matches('_');
    'strip: loop {
        for prefix in STATUS_PREFIXES {
            if let Some(rest) = s.strip_prefix(prefix)
                && !rest.is_empty()
            {
                s = rest;
                continue 'strip;
            }
        }
        break;
    }
    classify(s)
}

fn classify(s: &str) -> NodeStatus {
    let tokens: Vec<&str> = s.split('_').filter(|t| !t.is_empty()).collect();
    let has = |stems: &[&str]| stems.iter().any(|stem| s.contains(stem));
    let token = |words: &[&str]| tokens.iter().any(|t| words.contains(t));
    // A verb still in progress ("completing", "cancelling", "failing over") has not ended.
    let ongoing = tokens.last().is_some_and(|t| t.ends_with("ing"));
    let negated = tokens
        .first()
        .is_some_and(|t| matches!(*t, "not" | "non" | "no" | "never") || t.starts_with("un"))
        || s.contains("incomplete");
    if s.is_empty() {
        return NodeStatus::Unknown;
    }
    if has(&[
        "skip",
        "blocked",
        "upstream_fail",
        "upstream_error",
        "upstream_cancel",
    ]) {
        return NodeStatus::Skipped;
    }
    if matches!(tokens.first(), Some(&("not" | "never")))
        && has(&["start", "run", "execut", "submit"])
    {
        return NodeStatus::Pending;
    }
    if has(&["cancel"]) {
        return if ongoing {
            NodeStatus::Executing
        } else {
            NodeStatus::Cancelled
        };
    }
    if has(&[
        "fail",
        "error",
        "abort",
        "expire",
        "reject",
        "crash",
        "timeout",
        "timed_out",
    ]) || token(&["killed", "terminated", "invalid"])
    {
        return if ongoing {
            NodeStatus::Executing
        } else {
            NodeStatus::Failed
        };
    }
    if has(&["complet", "success", "succeed", "finish"])
        || token(&[
            "done",
            "ok",
            "passed",
            "executed",
            "processed",
            "refreshed",
            "ran",
        ])
    {
        return if negated {
            NodeStatus::Unknown
        } else if ongoing {
            NodeStatus::Executing
        } else {
            NodeStatus::Completed
        };
    }
    if has(&[
        "pending", "queue", "wait", "schedul", "submit", "creat", "accept", "initiali",
    ]) || token(&["new", "ready", "idle", "init", "received"])
    {
        return NodeStatus::Pending;
    }
    if has(&[
        "execut", "running", "progress", "start", "process", "refresh", "active", "busy", "working",
    ]) || token(&["run", "live"])
    {
        return NodeStatus::Executing;
    }
    NodeStatus::Unknown
}

/// Whether a raw status says the result was cut short (`QUERY_STATE_COMPLETED_PARTIAL`).
pub fn is_partial(raw: &str) -> bool {
    raw.to_ascii_lowercase().contains("partial")
}

/// What a node does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NodeKind {
    /// Executes a saved query.
    Query { query_id: Option<i64> },
    /// Refreshes a materialized view.
    MaterializedView { name: Option<String> },
}

/// One node of the pipeline and everything learned about it.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub id: i64,
    pub kind: NodeKind,
    pub status: NodeStatus,
    /// The status string as Dune sent it (pipeline status, or execution state when that was more precise).
    pub raw_status: Option<String>,
    pub execution_id: Option<String>,
    pub started_at: Option<String>,
    pub ended_at: Option<String>,
    pub credits: Option<f64>,
    pub error: Option<DuneError>,
    /// Node ids this node depends on, when the pipeline definition was read.
    pub dependencies: Option<Vec<i64>>,
    /// Whether the action cancelled this node (timeout or cancellation of the workflow).
    pub cancelled_by_action: bool,
    /// Whether the execution's own status was read after the node ended.
    pub details_read: bool,
    /// Clock time (since the action started) of the first status answer that showed the node executing.
    /// Observed at poll resolution; the execution read's `started_at` is exact, when there is one.
    pub observed_started: Option<std::time::Duration>,
    /// Clock time of the first status answer that showed the node ended (at poll resolution).
    pub observed_ended: Option<std::time::Duration>,
}

impl Node {
    /// A node seen for the first time.
    pub fn new(id: i64, kind: NodeKind) -> Self {
        Node {
            id,
            kind,
            status: NodeStatus::Pending,
            raw_status: None,
            execution_id: None,
            started_at: None,
            ended_at: None,
            credits: None,
            error: None,
            dependencies: None,
            cancelled_by_action: false,
            details_read: false,
            observed_started: None,
            observed_ended: None,
        }
    }

    /// A short label: `query 123` or `view dune.x.y`.
    pub fn label(&self) -> String {
        match &self.kind {
            NodeKind::Query { query_id: Some(q) } => format!("query {q}"),
            NodeKind::Query { query_id: None } => "query".to_string(),
            NodeKind::MaterializedView { name: Some(n) } => format!("view {n}"),
            NodeKind::MaterializedView { name: None } => "materialized view".to_string(),
        }
    }

    /// The query id, for query nodes.
    pub fn query_id(&self) -> Option<i64> {
        match &self.kind {
            NodeKind::Query { query_id } => *query_id,
            NodeKind::MaterializedView { .. } => None,
        }
    }

    /// Whether `started_at` / `ended_at` are the action's own observations (first poll that showed the
    /// node executing, first that showed it ended; at poll resolution) because its execution was not read.
    pub fn times_observed(&self) -> bool {
        !self.details_read && (self.started_at.is_some() || self.ended_at.is_some())
    }

    /// How long the node ran, from the execution's own timestamps (or the observed ones, see
    /// [`Node::times_observed`]).
    pub fn duration(&self) -> Option<std::time::Duration> {
        let start =
            humantime::parse_rfc3339_weak(self.started_at.as_deref()?.trim_end_matches('Z'))
                .ok()?;
        let end =
            humantime::parse_rfc3339_weak(self.ended_at.as_deref()?.trim_end_matches('Z')).ok()?;
        end.duration_since(start).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_vocabularies() {
        for (raw, want) in [
            ("pending", NodeStatus::Pending),
            ("QUERY_STATE_PENDING", NodeStatus::Pending),
            ("executing", NodeStatus::Executing),
            ("QUERY_STATE_EXECUTING", NodeStatus::Executing),
            ("completed", NodeStatus::Completed),
            ("QUERY_STATE_COMPLETED", NodeStatus::Completed),
            ("QUERY_STATE_COMPLETED_PARTIAL", NodeStatus::Completed),
            ("failed", NodeStatus::Failed),
            ("QUERY_STATE_FAILED", NodeStatus::Failed),
            ("QUERY_STATE_EXPIRED", NodeStatus::Failed),
            ("QUERY_STATE_CANCELLED", NodeStatus::Cancelled),
            ("QUERY_STATE_CANCELED", NodeStatus::Cancelled),
            ("Running", NodeStatus::Executing),
            ("PIPELINE_STATE_FAILED", NodeStatus::Failed),
            ("weird_state", NodeStatus::Unknown),
            ("", NodeStatus::Unknown),
        ] {
            assert_eq!(normalize(raw), want, "{raw}");
        }
    }

    #[test]
    fn words_are_classified_by_meaning() {
        use NodeStatus::*;
        for (raw, want) in [
            // The vocabulary of the simulator's `vocab-*` scenarios.
            ("PIPELINE_EXECUTION_STATUS_PENDING", Pending),
            ("PIPELINE_EXECUTION_STATUS_RUNNING", Executing),
            ("PIPELINE_EXECUTION_STATUS_SUCCEEDED", Completed),
            ("PIPELINE_EXECUTION_STATUS_ERRORED", Failed),
            ("PIPELINE_EXECUTION_STATUS_ABORTED", Failed),
            ("scheduled", Pending),
            ("in_progress", Executing),
            ("succeeded", Completed),
            ("errored", Failed),
            ("aborted", Failed),
            // Other prefixes and spellings.
            ("EXECUTION_STATUS_DONE", Completed),
            ("REFRESH_STATUS_FINISHED", Completed),
            ("STATE_QUEUED", Pending),
            ("Waiting-For-Dependencies", Pending),
            ("not_started", Pending),
            ("NOT STARTED", Pending),
            ("submitted", Pending),
            ("created", Pending),
            ("processing", Executing),
            ("refreshing", Executing),
            ("started", Executing),
            ("Completing", Executing),
            ("cancelling", Executing),
            ("cancelled_by_user", Cancelled),
            ("CANCELED", Cancelled),
            ("failed_to_start", Failed),
            ("timed_out", Failed),
            ("rejected", Failed),
            ("finished", Completed),
            ("success", Completed),
            ("ok", Completed),
            ("upstream_failed", Skipped),
            ("skipped", Skipped),
            // Negated successes and unrelated words are not guessed.
            ("unsuccessful", Unknown),
            ("not_completed", Unknown),
            ("incomplete", Unknown),
            ("abandoned", Unknown),
            ("zapped", Unknown),
            ("STATE_", Unknown),
            ("_", Unknown),
        ] {
            assert_eq!(normalize(raw), want, "{raw}");
        }
    }

    #[test]
    fn duration_from_timestamps() {
        let mut n = Node::new(1, NodeKind::Query { query_id: Some(1) });
        n.started_at = Some("2026-01-01T00:00:05.123456789Z".into());
        n.ended_at = Some("2026-01-01T00:01:05.123456789Z".into());
        assert_eq!(n.duration(), Some(std::time::Duration::from_secs(60)));
    }
}
