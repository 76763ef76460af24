//! Dune's responses, read tolerantly: fields are looked up by name in a JSON object, unknown fields are
//! ignored, a missing or mistyped field becomes `None`, and status strings are kept verbatim. Only a body
//! that is not a JSON object at all is an error.

use serde::Serialize;

use serde_json::{Map, Value};

/// `POST /api/v1/query/{query_id}/pipeline/execute` body.
#[derive(Debug, Clone, Serialize)]
pub struct ExecuteQueryPipelineRequest {
    /// The performance tier (sent as its wire string, see [`Tier::as_str`]).
    pub performance: Tier,
    /// Values for the root query's parameters, by name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub query_parameters: Option<Map<String, Value>>,
}

fn str_field(obj: &Map<String, Value>, key: &str) -> Option<String> {
    match obj.get(key)? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn int_field(obj: &Map<String, Value>, key: &str) -> Option<i64> {
    match obj.get(key)? {
        Value::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn num_field(obj: &Map<String, Value>, key: &str) -> Option<f64> {
    match obj.get(key)? {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// An error as Dune reports it: a string, or an object with `type`, `message`, `metadata.line/column`.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
#[non_exhaustive]
pub struct DuneError {
    /// The error's type (`FAILED_TYPE_EXECUTION_FAILED`, ...), when Dune gives one.
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// The message, verbatim (remote text: escape it where it is written).
    pub message: String,
    /// The line of the query's SQL the error points at.
    pub line: Option<i64>,
    /// The column of the query's SQL the error points at.
    pub column: Option<i64>,
}

impl DuneError {
    fn from_value(v: &Value) -> Option<DuneError> {
        match v {
            Value::String(s) if !s.trim().is_empty() => Some(DuneError {
                kind: None,
                message: s.clone(),
                line: None,
                column: None,
            }),
            Value::Object(o) => {
                let meta = o.get("metadata").and_then(Value::as_object);
                let message = str_field(o, "message")
                    .or_else(|| str_field(o, "error"))
                    .unwrap_or_else(|| Value::Object(o.clone()).to_string());
                Some(DuneError {
                    kind: str_field(o, "type"),
                    message,
                    line: meta.and_then(|m| int_field(m, "line")),
                    column: meta.and_then(|m| int_field(m, "column")),
                })
            }
            _ => None,
        }
    }
}

/// One node in a pipeline status response.
#[derive(Debug, Clone, PartialEq, Default)]
#[non_exhaustive]
pub struct NodeExecution {
    /// The node's id (`id`, or `node_id` as the prose docs spell it; the position when both are missing).
    pub id: i64,
    /// `true` for `materialized_view_refresh_status`, `false` for `query_execution_status`.
    pub is_materialized_view: bool,
    /// The node's status string, verbatim (`executing`, `QUERY_STATE_COMPLETED`, ...).
    pub status: Option<String>,
    /// The query a query node runs.
    pub query_id: Option<i64>,
    /// The name of the view a materialized-view node refreshes.
    pub name: Option<String>,
    /// The node's execution, once it has one.
    pub execution_id: Option<String>,
    /// Why the node failed.
    pub error: Option<DuneError>,
}

/// `GET /api/v1/pipelines/executions/{id}/status`.
#[derive(Debug, Clone, PartialEq, Default)]
#[non_exhaustive]
pub struct PipelineStatus {
    /// The pipeline's status string, verbatim (`executing`, `completed`, `PIPELINE_STATE_FAILED`, ...).
    pub status: Option<String>,
    /// Why the pipeline failed, when Dune says.
    pub error: Option<DuneError>,
    /// Every node the response lists, in its order.
    pub nodes: Vec<NodeExecution>,
}

impl PipelineStatus {
    /// Reads a status body; `Err` names what is missing when the body is not a JSON object.
    pub fn from_value(v: &Value) -> Result<PipelineStatus, String> {
        let obj = v.as_object().ok_or("expected a JSON object")?;
        let nodes = match obj.get("node_executions") {
            Some(Value::Array(items)) => items
                .iter()
                .enumerate()
                .filter_map(|(i, item)| node_from_value(i, item))
                .collect(),
            _ => Vec::new(),
        };
        Ok(PipelineStatus {
            status: str_field(obj, "status").or_else(|| str_field(obj, "state")),
            error: obj.get("error").and_then(DuneError::from_value),
            nodes,
        })
    }
}

fn node_from_value(index: usize, v: &Value) -> Option<NodeExecution> {
    let obj = v.as_object()?;
    let id = int_field(obj, "id")
        .or_else(|| int_field(obj, "node_id"))
        .unwrap_or(index as i64 + 1);
    // A server serialising a struct may send both objects, the unused one null or with empty fields: the
    // kind is decided by what each holds, not by which key comes first.
    let (inner, is_mv) = match (
        obj.get("materialized_view_refresh_status")
            .and_then(Value::as_object),
        obj.get("query_execution_status").and_then(Value::as_object),
    ) {
        (Some(mv), Some(q)) => {
            if content_score(mv, "name") > content_score(q, "query_id") {
                (Some(mv), true)
            } else {
                (Some(q), false)
            }
        }
        (Some(mv), None) => (Some(mv), true),
        (None, Some(q)) => (Some(q), false),
        (None, None) => (None, false),
    };
    let pick_str = |key: &str| {
        inner
            .and_then(|i| str_field(i, key))
            .or_else(|| str_field(obj, key))
    };
    Some(NodeExecution {
        id,
        is_materialized_view: is_mv || (inner.is_none() && obj.contains_key("name")),
        status: pick_str("status").or_else(|| pick_str("state")),
        query_id: inner
            .and_then(|i| int_field(i, "query_id"))
            .or_else(|| int_field(obj, "query_id"))
            .filter(|q| *q > 0),
        name: pick_str("name").filter(|s| !s.trim().is_empty()),
        execution_id: pick_str("execution_id").filter(|s| !s.is_empty()),
        error: inner
            .and_then(|i| i.get("error"))
            .or_else(|| obj.get("error"))
            .and_then(DuneError::from_value),
    })
}

/// How much a node's status object says: an execution id counts most, then the status, then the
/// identifying field (`query_id` above 0, or a non-empty `name`). Empty strings, zeros and nulls say nothing.
fn content_score(o: &Map<String, Value>, identity: &str) -> u32 {
    let text = |key: &str| str_field(o, key).is_some_and(|s| !s.trim().is_empty() && s != "0");
    let mut score = 0;
    if text("execution_id") {
        score += 4;
    }
    if text("status") || text("state") {
        score += 2;
    }
    if text(identity) {
        score += 1;
    }
    score
}

/// `GET /api/v1/execution/{execution_id}/status`.
#[derive(Debug, Clone, PartialEq, Default)]
#[non_exhaustive]
pub struct ExecutionStatus {
    /// The execution's state, verbatim (`QUERY_STATE_EXECUTING`, ...).
    pub state: Option<String>,
    /// The query it runs.
    pub query_id: Option<i64>,
    /// When it was submitted (`submitted_at`, RFC 3339 as Dune sends it).
    pub submitted_at: Option<String>,
    /// When it started executing (`execution_started_at`).
    pub started_at: Option<String>,
    /// When it ended (`execution_ended_at`).
    pub ended_at: Option<String>,
    /// When it was cancelled (`cancelled_at`).
    pub cancelled_at: Option<String>,
    /// What it cost (`execution_cost_credits`).
    pub credits: Option<f64>,
    /// Why it failed.
    pub error: Option<DuneError>,
    /// Rows of its result (`result_metadata.total_row_count`).
    pub total_row_count: Option<i64>,
}

impl ExecutionStatus {
    /// Reads an execution status body.
    pub fn from_value(v: &Value) -> Result<ExecutionStatus, String> {
        let obj = v.as_object().ok_or("expected a JSON object")?;
        let meta = obj.get("result_metadata").and_then(Value::as_object);
        Ok(ExecutionStatus {
            state: str_field(obj, "state").or_else(|| str_field(obj, "status")),
            query_id: int_field(obj, "query_id"),
            submitted_at: str_field(obj, "submitted_at"),
            started_at: str_field(obj, "execution_started_at"),
            ended_at: str_field(obj, "execution_ended_at"),
            cancelled_at: str_field(obj, "cancelled_at"),
            credits: num_field(obj, "execution_cost_credits"),
            error: obj.get("error").and_then(DuneError::from_value),
            total_row_count: meta.and_then(|m| int_field(m, "total_row_count")),
        })
    }
}

/// One billing period of `POST /api/v1/usage` (`billing_periods[]`).
#[derive(Debug, Clone, PartialEq, Default)]
#[non_exhaustive]
pub struct BillingPeriod {
    /// Credits used in the period, by everything the account ran (`credits_used`).
    pub credits_used: Option<f64>,
    /// Credits the plan includes in the period (`credits_included`).
    pub credits_included: Option<f64>,
    /// The period's first day, as Dune sends it (`start_date`, `YYYY-MM-DD`).
    pub start_date: Option<String>,
    /// The period's last day (`end_date`).
    pub end_date: Option<String>,
}

/// `POST /api/v1/usage`: the account's usage (the fields a caller needs to show the billing period).
#[derive(Debug, Clone, PartialEq, Default)]
#[non_exhaustive]
pub struct Usage {
    /// The billing periods asked for; without dates, the current one.
    pub billing_periods: Vec<BillingPeriod>,
}

impl Usage {
    /// Reads a usage body; a body without `billing_periods` is unreadable.
    pub fn from_value(v: &Value) -> Result<Usage, String> {
        let obj = v.as_object().ok_or("expected a JSON object")?;
        let periods = obj
            .get("billing_periods")
            .and_then(Value::as_array)
            .ok_or("no `billing_periods` array")?;
        Ok(Usage {
            billing_periods: periods
                .iter()
                .filter_map(Value::as_object)
                .map(|p| BillingPeriod {
                    credits_used: num_field(p, "credits_used"),
                    credits_included: num_field(p, "credits_included"),
                    start_date: str_field(p, "start_date"),
                    end_date: str_field(p, "end_date"),
                })
                .collect(),
        })
    }

    /// The current period: the one with the latest end date (the last listed when none has one).
    pub fn current(&self) -> Option<&BillingPeriod> {
        self.billing_periods
            .iter()
            .max_by(|a, b| a.end_date.cmp(&b.end_date))
    }
}

/// `POST /api/v1/query/{id}/pipeline/execute` and `POST /api/v1/pipelines/execute`.
pub fn pipeline_execution_id(v: &Value) -> Result<String, String> {
    let obj = v.as_object().ok_or("expected a JSON object")?;
    match obj.get("pipeline_execution_id") {
        Some(Value::String(s)) if !s.trim().is_empty() => Ok(s.trim().to_string()),
        Some(Value::Number(n)) => Ok(n.to_string()),
        _ => Err("no `pipeline_execution_id` in the response".into()),
    }
}

/// `POST /api/v1/execution/{id}/cancel`: whether Dune says it cancelled.
pub fn cancel_success(v: &Value) -> bool {
    v.get("success").and_then(Value::as_bool).unwrap_or(false)
}

/// `result.metadata` of a results page (`models.ExecutionResultMetadata`).
#[derive(Debug, Clone, PartialEq, Default)]
#[non_exhaustive]
pub struct ResultMetadata {
    /// The columns' names, in order.
    pub column_names: Vec<String>,
    /// The columns' types (`varchar`, `double`, ...), in the same order.
    pub column_types: Vec<String>,
    /// Rows on this page.
    pub row_count: Option<u64>,
    /// Rows of the whole result.
    pub total_row_count: Option<u64>,
    /// Raw bytes of the whole result (one header line included).
    pub total_result_set_bytes: Option<u64>,
}

impl ResultMetadata {
    fn from_value(v: &Value) -> Option<ResultMetadata> {
        let obj = v.as_object()?;
        let strings = |key: &str| -> Vec<String> {
            match obj.get(key) {
                Some(Value::Array(items)) => items
                    .iter()
                    .map(|i| match i {
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    })
                    .collect(),
                _ => Vec::new(),
            }
        };
        let count = |key: &str| int_field(obj, key).and_then(|n| u64::try_from(n).ok());
        Some(ResultMetadata {
            column_names: strings("column_names"),
            column_types: strings("column_types"),
            row_count: count("row_count"),
            total_row_count: count("total_row_count"),
            total_result_set_bytes: count("total_result_set_bytes"),
        })
    }
}

/// One page of `GET /api/v1/execution/{execution_id}/results` (`models.ReadExecutionResultResponse`), read
/// without copying the rows: each row is the raw JSON text of its object, borrowed from the body.
#[derive(Debug)]
#[non_exhaustive]
pub struct ResultPage<'a> {
    /// The execution the page belongs to (a saved query's latest result names it).
    pub execution_id: Option<String>,
    /// The execution's state, verbatim.
    pub state: Option<String>,
    /// `None` when the response has no `result` (the execution did not complete).
    pub rows: Option<Vec<&'a serde_json::value::RawValue>>,
    /// The result's columns and row counts.
    pub metadata: Option<ResultMetadata>,
    /// The next page's URL, when there are more rows.
    pub next_uri: Option<String>,
    /// The next page's offset, when there are more rows.
    pub next_offset: Option<u64>,
    /// Why there is no result, when Dune says.
    pub error: Option<DuneError>,
}

#[derive(serde::Deserialize)]
struct WirePage<'a> {
    #[serde(default)]
    execution_id: Option<Value>,
    #[serde(default)]
    state: Option<Value>,
    #[serde(default, borrow)]
    result: Option<WireResult<'a>>,
    #[serde(default)]
    next_uri: Option<Value>,
    #[serde(default)]
    next_offset: Option<Value>,
    #[serde(default)]
    error: Option<Value>,
}

#[derive(serde::Deserialize)]
struct WireResult<'a> {
    #[serde(default, borrow)]
    rows: Option<Vec<&'a serde_json::value::RawValue>>,
    #[serde(default)]
    metadata: Option<Value>,
}

impl<'a> ResultPage<'a> {
    /// Reads a page; `Err` says why the body is not one (not JSON, `rows` not an array of values).
    pub fn parse(body: &'a [u8]) -> Result<ResultPage<'a>, String> {
        let wire: WirePage<'a> =
            serde_json::from_slice(body).map_err(|e| format!("not a results page ({e})"))?;
        let text = |v: Option<Value>| match v {
            Some(Value::String(s)) if !s.trim().is_empty() => Some(s),
            Some(Value::Number(n)) => Some(n.to_string()),
            _ => None,
        };
        let (rows, metadata) = match wire.result {
            Some(r) => (
                Some(r.rows.unwrap_or_default()),
                r.metadata.as_ref().and_then(ResultMetadata::from_value),
            ),
            None => (None, None),
        };
        Ok(ResultPage {
            execution_id: text(wire.execution_id),
            state: text(wire.state),
            rows,
            metadata,
            next_uri: text(wire.next_uri),
            next_offset: match wire.next_offset {
                Some(Value::Number(n)) => n.as_u64(),
                Some(Value::String(s)) => s.trim().parse().ok(),
                _ => None,
            },
            error: wire.error.as_ref().and_then(DuneError::from_value),
        })
    }
}

/// The latest result of a saved query (`GET /api/v1/query/{query_id}/results`, a
/// `models.ReadExecutionResultResponse`), without its rows: which execution it is, how it ended and when,
/// and the server's clock when it answered.
#[derive(Debug, Clone, PartialEq, Default)]
#[non_exhaustive]
pub struct LatestResult {
    /// The execution whose result this is.
    pub execution_id: Option<String>,
    /// The query it ran.
    pub query_id: Option<i64>,
    /// `QUERY_STATE_COMPLETED`, ... verbatim.
    pub state: Option<String>,
    /// `execution_ended_at` as Dune wrote it.
    pub ended_at_raw: Option<String>,
    /// `execution_ended_at`, when it is an RFC 3339 UTC timestamp.
    pub ended_at: Option<std::time::SystemTime>,
    /// `result.metadata`, when the response has a result.
    pub metadata: Option<ResultMetadata>,
    /// Dune's error, when the execution failed.
    pub error: Option<DuneError>,
    /// The response's `Date` header: the server's "now", to measure the result's age with the clock that
    /// wrote `execution_ended_at` rather than the runner's (which may be skewed).
    pub server_date: Option<std::time::SystemTime>,
}

impl LatestResult {
    /// Reads a latest-result body (rows are skipped); `server_date` is left for the caller.
    pub fn from_value(v: &Value) -> Result<LatestResult, String> {
        let obj = v.as_object().ok_or("expected a JSON object")?;
        let ended_at_raw = str_field(obj, "execution_ended_at");
        Ok(LatestResult {
            execution_id: str_field(obj, "execution_id").filter(|s| !s.trim().is_empty()),
            query_id: int_field(obj, "query_id"),
            state: str_field(obj, "state"),
            ended_at: ended_at_raw.as_deref().and_then(parse_timestamp),
            ended_at_raw,
            metadata: obj
                .get("result")
                .and_then(|r| r.get("metadata"))
                .and_then(ResultMetadata::from_value),
            error: obj.get("error").and_then(DuneError::from_value),
            server_date: None,
        })
    }
}

/// A materialized view as `GET /api/v1/materialized-views/{name}` describes it
/// (`matviews.MatviewsGetResponse`): who owns it, how big it is, and the ids of its latest refresh
/// executions. How old its data is comes from those executions ([`crate::Client::execution_status`]:
/// `execution_ended_at`, and what each cost in `execution_cost_credits`).
#[derive(Debug, Clone, PartialEq, Default)]
#[non_exhaustive]
pub struct MaterializedView {
    /// The view's full name (`id`, or `name`: `dune.<team>.result_<name>`).
    pub name: Option<String>,
    /// The saved query whose result the view stores.
    pub query_id: Option<i64>,
    /// `sql_id`, as Dune gives it.
    pub sql_id: Option<String>,
    /// Whether the view is private.
    pub is_private: Option<bool>,
    /// The size of the view's table, in bytes.
    pub table_size_bytes: Option<i64>,
    /// The team that owns it.
    pub owner_team_id: Option<i64>,
    /// The user that owns it.
    pub owner_user_id: Option<i64>,
    /// The ids of the view's latest refresh executions, as Dune listed them (its docs say nothing of their
    /// order; see [`MaterializedView::newest_executions`]).
    pub last_execution_ids: Vec<String>,
    /// The response's `Date` header: the server's "now", to measure a refresh's age with the clock that
    /// wrote `execution_ended_at`.
    pub server_date: Option<std::time::SystemTime>,
}

impl MaterializedView {
    /// Reads a view body tolerantly (unknown fields ignored, a missing or mistyped one `None`, ids that are
    /// not non-empty strings skipped); `server_date` is left for the caller.
    pub fn from_value(v: &Value) -> Result<MaterializedView, String> {
        let obj = v.as_object().ok_or("expected a JSON object")?;
        let last_execution_ids = match obj.get("last_execution_ids") {
            Some(Value::Array(ids)) => ids
                .iter()
                .filter_map(Value::as_str)
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect(),
            Some(Value::String(one)) if !one.trim().is_empty() => vec![one.trim().to_string()],
            _ => Vec::new(),
        };
        Ok(MaterializedView {
            name: str_field(obj, "id")
                .or_else(|| str_field(obj, "name"))
                .filter(|s| !s.trim().is_empty()),
            query_id: int_field(obj, "query_id").filter(|q| *q > 0),
            sql_id: str_field(obj, "sql_id").filter(|s| !s.trim().is_empty()),
            is_private: obj.get("is_private").and_then(Value::as_bool),
            table_size_bytes: int_field(obj, "table_size_bytes"),
            owner_team_id: int_field(obj, "owner_team_id"),
            owner_user_id: int_field(obj, "owner_user_id"),
            last_execution_ids,
            server_date: None,
        })
    }

    /// At most `n` of [`MaterializedView::last_execution_ids`], newest first. Dune's execution ids are
    /// ULIDs, whose first ten characters are the creation time in milliseconds, so the greatest id (case
    /// folded) is the newest; ids that are not ULIDs come last, in Dune's order.
    pub fn newest_executions(&self, n: usize) -> Vec<&str> {
        let mut ids: Vec<&str> = self.last_execution_ids.iter().map(String::as_str).collect();
        // A stable sort: ULIDs newest first, then the rest as listed.
        ids.sort_by(|a, b| match (is_ulid(a), is_ulid(b)) {
            (true, true) => b.to_ascii_uppercase().cmp(&a.to_ascii_uppercase()),
            (true, false) => std::cmp::Ordering::Less,
            (false, true) => std::cmp::Ordering::Greater,
            (false, false) => std::cmp::Ordering::Equal,
        });
        ids.dedup_by(|a, b| a.eq_ignore_ascii_case(b));
        ids.truncate(n);
        ids
    }
}

/// Whether `s` is shaped like a ULID: 26 Crockford base32 characters, the first at most `7`.
fn is_ulid(s: &str) -> bool {
    const CROCKFORD: &[u8] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
    s.len() == 26
        && s.bytes()
            .all(|b| CROCKFORD.contains(&b.to_ascii_uppercase()))
        && s.as_bytes()[0] <= b'7'
}

/// Parses an RFC 3339 UTC timestamp as Dune writes them (`2024-12-20T11:04:18.724658237Z`; `+00:00` is
/// taken as `Z`); other offsets are not read.
pub fn parse_timestamp(raw: &str) -> Option<std::time::SystemTime> {
    let t = raw.trim();
    let t = t
        .strip_suffix("+00:00")
        .map(|head| format!("{head}Z"))
        .unwrap_or_else(|| t.to_string());
    humantime::parse_rfc3339_weak(&t).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tiers_by_name_one_rule() {
        assert_eq!(
            Tier::named(" Large "),
            Some(Tier::Known(Performance::Large))
        );
        assert_eq!(
            Tier::named("MEDIUM"),
            Some(Tier::Known(Performance::Medium))
        );
        assert_eq!(Tier::named(" xlarge"), Some(Tier::Other("xlarge".into())));
        assert_eq!(Tier::named("  "), None);
        assert!(!Tier::named("small").is_some_and(|t| t.is_known()));
        assert_eq!(
            serde_json::to_value(Tier::named("Large")).ok(),
            Some(serde_json::json!("large"))
        );
    }
    use serde_json::json;

    #[test]
    fn reads_spec_shaped_status() {
        let s = PipelineStatus::from_value(&json!({
            "status": "executing",
            "node_executions": [
                {"id": 1, "materialized_view_refresh_status": {"name": "dune.a.mv", "status": "completed", "execution_id": "01A"}},
                {"id": 2, "query_execution_status": {"query_id": 3493826, "status": "pending"}}
            ]
        }))
        .expect("parses");
        assert_eq!(s.status.as_deref(), Some("executing"));
        assert!(s.nodes[0].is_materialized_view);
        assert_eq!(s.nodes[1].query_id, Some(3493826));
        assert_eq!(s.nodes[1].execution_id, None);
    }

    #[test]
    fn tolerates_doc_variants_and_junk() {
        let s = PipelineStatus::from_value(&json!({
            "status": 7,
            "extra": {"x": 1},
            "node_executions": [
                {"node_id": "4", "status": "RUNNING", "query_id": "12"},
                "junk",
                {"query_execution_status": null}
            ]
        }))
        .expect("parses");
        assert_eq!(s.status.as_deref(), Some("7"));
        assert_eq!(s.nodes.len(), 2);
        assert_eq!(s.nodes[0].id, 4);
        assert_eq!(s.nodes[0].status.as_deref(), Some("RUNNING"));
        assert_eq!(s.nodes[1].id, 3);
        assert!(PipelineStatus::from_value(&json!([1, 2])).is_err());
    }

    #[test]
    fn both_status_objects_are_told_apart_by_content() {
        let s = PipelineStatus::from_value(&json!({
            "status": "executing",
            "node_executions": [
                {"id": 1,
                 "query_execution_status": {"query_id": 0, "status": "", "execution_id": ""},
                 "materialized_view_refresh_status": {"name": "dune.a.mv", "status": "completed", "execution_id": "01A"}},
                {"id": 2,
                 "query_execution_status": {"query_id": 77, "status": "executing", "execution_id": "01B"},
                 "materialized_view_refresh_status": {"name": "", "status": "", "execution_id": ""}},
                {"id": 3,
                 "query_execution_status": {"query_id": 78, "status": "pending"},
                 "materialized_view_refresh_status": null},
                {"id": 4,
                 "query_execution_status": null,
                 "materialized_view_refresh_status": {"name": "mv_short", "status": "pending"}}
            ]
        }))
        .expect("parses");
        let n = &s.nodes;
        assert!(n[0].is_materialized_view);
        assert_eq!(n[0].name.as_deref(), Some("dune.a.mv"));
        assert_eq!(n[0].execution_id.as_deref(), Some("01A"));
        assert!(!n[1].is_materialized_view);
        assert_eq!(
            (n[1].query_id, n[1].execution_id.as_deref()),
            (Some(77), Some("01B"))
        );
        assert_eq!(n[1].name, None);
        assert!(!n[2].is_materialized_view);
        assert_eq!(n[2].query_id, Some(78));
        assert!(n[3].is_materialized_view);
        assert_eq!(n[3].status.as_deref(), Some("pending"));
    }

    #[test]
    fn execution_error_object() {
        let e = ExecutionStatus::from_value(&json!({
            "state": "QUERY_STATE_FAILED",
            "execution_cost_credits": 0,
            "error": {"type": "FAILED_TYPE_EXECUTION_FAILED", "message": "boom", "metadata": {"line": 1, "column": 8}}
        }))
        .expect("parses");
        let err = e.error.expect("error");
        assert_eq!((err.line, err.column), (Some(1), Some(8)));
        assert_eq!(err.message, "boom");
    }

    #[test]
    fn latest_result_metadata_and_times() {
        let l = LatestResult::from_value(&json!({
            "execution_id": "01HKZJ2683PHF9Q9PHHQ8FW4Q1", "query_id": 7, "state": "QUERY_STATE_COMPLETED",
            "execution_ended_at": "2026-01-01T00:00:20.500000000Z",
            "result": {"rows": [{"a": 1}], "metadata": {"column_names": ["a"], "total_row_count": 9}}
        }))
        .expect("parses");
        assert_eq!(l.query_id, Some(7));
        assert_eq!(l.metadata.expect("metadata").total_row_count, Some(9));
        let epoch = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_767_225_600);
        assert_eq!(
            l.ended_at,
            Some(epoch + std::time::Duration::from_millis(20_500))
        );
        assert_eq!(parse_timestamp("2026-01-01T00:00:00+00:00"), Some(epoch));
        assert_eq!(parse_timestamp("2026-01-01T01:00:00+01:00"), None);
        assert!(LatestResult::from_value(&json!("x")).is_err());
    }

    #[test]
    fn materialized_view_tolerates_missing_and_extra_fields() {
        let v = MaterializedView::from_value(&json!({
            "id": "dune.acme.result_daily", "query_id": 42, "sql_id": "dune.acme.result_daily",
            "is_private": false, "table_size_bytes": "2048", "owner_team_id": 7,
            "last_execution_ids": ["01HZ065JVE23C23FM2HKWQP2RT", 7, "", "01JA0000000000000000000000"],
            "refresh_schedule": {"cron": "0 * * * *"}
        }))
        .expect("parses");
        assert_eq!(v.name.as_deref(), Some("dune.acme.result_daily"));
        assert_eq!((v.query_id, v.table_size_bytes), (Some(42), Some(2048)));
        assert_eq!(v.owner_user_id, None);
        assert_eq!(v.last_execution_ids.len(), 2, "{v:?}");
        assert_eq!(
            v.newest_executions(1),
            ["01JA0000000000000000000000"],
            "the newest ULID first"
        );
        let bare = MaterializedView::from_value(&json!({})).expect("parses");
        assert!(bare.last_execution_ids.is_empty() && bare.name.is_none());
        let odd =
            MaterializedView::from_value(&json!({"name": "v", "last_execution_ids": "not-a-ulid"}))
                .expect("parses");
        assert_eq!(odd.newest_executions(3), ["not-a-ulid"]);
        assert!(MaterializedView::from_value(&json!(["x"])).is_err());
    }

    #[test]
    fn result_page_rows_are_borrowed_raw() {
        let body = br#"{"state":"QUERY_STATE_COMPLETED","result":{"rows":[{"a":1,"b":"x|y"},{"a":2,"b":null}],
            "metadata":{"column_names":["a","b"],"column_types":["bigint","varchar"],"row_count":2,"total_row_count":5}},
            "next_uri":"http://h/api/v1/execution/E/results?limit=2&offset=2","next_offset":2}"#;
        let p = ResultPage::parse(body).expect("parses");
        let rows = p.rows.expect("rows");
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].get(), r#"{"a":1,"b":"x|y"}"#);
        let m = p.metadata.expect("metadata");
        assert_eq!(m.column_names, ["a", "b"]);
        assert_eq!(m.total_row_count, Some(5));
        assert_eq!(p.next_offset, Some(2));
        let none =
            ResultPage::parse(br#"{"state":"QUERY_STATE_FAILED","error":"boom"}"#).expect("parses");
        assert!(none.rows.is_none());
        assert!(ResultPage::parse(br#"{"result":{"rows":7}}"#).is_err());
        assert!(ResultPage::parse(b"<html>").is_err());
    }
}

/// Dune's performance tier.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Performance {
    /// `medium`: the default tier.
    Medium,
    /// `large`: more resources, more credits.
    Large,
}

impl Performance {
    /// The wire string.
    pub fn as_str(self) -> &'static str {
        match self {
            Performance::Medium => "medium",
            Performance::Large => "large",
        }
    }
}

/// A performance tier: one this crate knows, or a tier it does not
/// (a newer Dune may add tiers), passed through verbatim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tier {
    /// `medium` or `large`.
    Known(Performance),
    /// Any other tier name, verbatim.
    Other(String),
}

impl Tier {
    /// The wire string.
    pub fn as_str(&self) -> &str {
        match self {
            Tier::Known(p) => p.as_str(),
            Tier::Other(s) => s,
        }
    }

    /// A tier by name, the one rule for every way a tier is written (an input, a pipeline file, Dune's
    /// answer): trimmed, `medium` and `large` in any case are the known tiers, any other name is kept as
    /// written (trimmed) and passed through for Dune to decide. `None` for an empty name.
    pub fn named(s: &str) -> Option<Tier> {
        let s = s.trim();
        if s.is_empty() {
            None
        } else if s.eq_ignore_ascii_case("medium") {
            Some(Tier::Known(Performance::Medium))
        } else if s.eq_ignore_ascii_case("large") {
            Some(Tier::Known(Performance::Large))
        } else {
            Some(Tier::Other(s.to_string()))
        }
    }

    /// Whether this crate knows the tier (`medium`, `large`).
    pub fn is_known(&self) -> bool {
        matches!(self, Tier::Known(_))
    }
}

impl serde::Serialize for Tier {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl From<&Tier> for Tier {
    fn from(t: &Tier) -> Tier {
        t.clone()
    }
}

impl From<Performance> for Tier {
    fn from(p: Performance) -> Tier {
        Tier::Known(p)
    }
}
