//! Scenarios: what the simulated Dune account contains (saved queries and their pipelines), how each
//! node of a pipeline behaves over (virtual) time, and which faults the server injects.
//!
//! Everything here is plain data, (de)serialisable from YAML or JSON with unknown fields rejected, so a
//! typo in a scenario file is an error that names the field instead of a silently ignored setting.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use anyhow::{Context as _, bail};
use serde::{Deserialize, Serialize};

/// A complete description of a simulated Dune API: auth, clocks, status vocabulary, queries, faults.
///
/// See the crate README for the file format with a full example.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// The only accepted API key; `None` accepts any non-empty key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key: Option<String>,
    /// Virtual seconds per real second (all scenario durations are virtual).
    #[serde(default = "default_time_scale")]
    pub time_scale: f64,
    /// RFC 3339 UTC instant that virtual time 0 maps to; `None` = the real time at start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub epoch: Option<String>,
    /// Vocabulary of node statuses in the pipeline status response.
    #[serde(default)]
    pub status_style: StatusStyle,
    /// Per-state overrides of node status strings.
    #[serde(default, skip_serializing_if = "StatusNames::is_empty")]
    pub status_names: StatusNames,
    /// Per-state overrides of the top-level pipeline status strings.
    #[serde(default, skip_serializing_if = "PipelineStatusNames::is_empty")]
    pub pipeline_status_names: PipelineStatusNames,
    /// Whether a failed or cancelled pipeline carries a top-level `error` string.
    #[serde(default = "default_true")]
    pub pipeline_error: bool,
    /// Largest page of result rows; a larger (or absent) `limit` is lowered to this.
    #[serde(default = "default_max_page_rows")]
    pub max_page_rows: u64,
    /// Extra status-object variant: every node in the pipeline status carries both
    /// `query_execution_status` and `materialized_view_refresh_status`, the unused one `null`
    /// (`null`) or with empty strings and zero (`empty`). Default `off` (only the used one).
    #[serde(
        default,
        skip_serializing_if = "BothStatusObjects::is_off",
        deserialize_with = "BothStatusObjects::deserialize_field"
    )]
    pub both_status_objects: BothStatusObjects,
    /// How the pipeline status names a materialized view: `full` (as in the scenario, the default) or
    /// `short` (the part after the last `.`, e.g. `mv_daily_volume`).
    #[serde(default, skip_serializing_if = "ViewNames::is_full")]
    pub view_names_in_status: ViewNames,
    /// How the pipeline definition (`GET /query/{id}/pipeline`) names a materialized view.
    #[serde(default, skip_serializing_if = "ViewNames::is_full")]
    pub view_names_in_definition: ViewNames,
    /// Cap on datapoints (rows x columns) per results page: Dune's documented 250,000 by default; 0 = no
    /// cap. `ignore_max_datapoints_per_request=true` lifts it.
    #[serde(
        default = "default_max_datapoints",
        skip_serializing_if = "is_default_max_datapoints"
    )]
    pub max_datapoints_per_request: u64,
    /// What a results page above `max_datapoints_per_request` gets: a shorter page (`shorten`, the
    /// default) or a 400 error (`error`).
    #[serde(default, skip_serializing_if = "DatapointLimitResponse::is_shorten")]
    pub datapoint_limit_response: DatapointLimitResponse,
    /// What `/results` answers for a `completed_partial` execution without
    /// `allow_partial_results=true`: `error` (400, the default), `partial_state` (200, state
    /// `QUERY_STATE_COMPLETED_PARTIAL`, no rows) or `failed_state` (200, state `QUERY_STATE_FAILED`
    /// with an `error` object, no rows).
    #[serde(default, skip_serializing_if = "PartialResults::is_error")]
    pub partial_results_without_allow: PartialResults,
    /// Latest results of saved queries (`GET /query/{query_id}/results`), before any pipeline runs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub latest_results: Vec<LatestResult>,
    /// Saved queries that have a pipeline.
    #[serde(default)]
    pub queries: Vec<QueryDef>,
    /// Saved queries' SQL and version (`GET`/`PATCH /query/{id}`); the SQL decides the rows and can
    /// fail an execution (see [`crate::broken_at`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub saved_queries: Vec<crate::queries::SavedQuery>,
    /// Whether the key has the `Read/Write` scope `PATCH /query/{id}` needs (default true; false: 403).
    #[serde(default = "default_true")]
    pub key_can_write: bool,
    /// Injected faults, see [`Fault`].
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub faults: Vec<Fault>,
}

impl Default for Scenario {
    fn default() -> Self {
        Scenario {
            api_key: None,
            time_scale: default_time_scale(),
            epoch: None,
            status_style: StatusStyle::default(),
            status_names: StatusNames::default(),
            pipeline_status_names: PipelineStatusNames::default(),
            pipeline_error: true,
            max_page_rows: default_max_page_rows(),
            both_status_objects: BothStatusObjects::Off,
            view_names_in_status: ViewNames::Full,
            view_names_in_definition: ViewNames::Full,
            max_datapoints_per_request: DEFAULT_MAX_DATAPOINTS,
            datapoint_limit_response: DatapointLimitResponse::Shorten,
            partial_results_without_allow: PartialResults::Error,
            latest_results: Vec::new(),
            queries: Vec::new(),
            saved_queries: Vec::new(),
            key_can_write: true,
            faults: Vec::new(),
        }
    }
}

fn default_time_scale() -> f64 {
    1.0
}
fn default_true() -> bool {
    true
}
fn default_max_page_rows() -> u64 {
    30_000
}
fn default_node_duration() -> Duration {
    Duration::from_secs(10)
}
fn is_false(b: &bool) -> bool {
    !*b
}
/// Dune's documented cap on datapoints per results request.
pub const DEFAULT_MAX_DATAPOINTS: u64 = 250_000;

fn default_max_datapoints() -> u64 {
    DEFAULT_MAX_DATAPOINTS
}

fn is_default_max_datapoints(n: &u64) -> bool {
    *n == DEFAULT_MAX_DATAPOINTS
}

/// See [`Scenario::both_status_objects`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BothStatusObjects {
    /// Only the status object of the node's kind (Dune's documented shape).
    #[default]
    Off,
    /// The unused object is `null`. In YAML, `null`, `"null"` and `nulls` all select this.
    Null,
    /// The unused object has every field empty: `""` strings and `query_id: 0`.
    Empty,
}

impl BothStatusObjects {
    fn is_off(&self) -> bool {
        *self == BothStatusObjects::Off
    }

    /// An explicit YAML/JSON `null` means the `null` variant (absent means `off`).
    fn deserialize_field<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match Option::<String>::deserialize(d)?.as_deref() {
            None | Some("null" | "nulls") => Ok(BothStatusObjects::Null),
            Some("empty") => Ok(BothStatusObjects::Empty),
            Some("off") => Ok(BothStatusObjects::Off),
            Some(other) => Err(serde::de::Error::custom(format!(
                "both_status_objects: expected null, empty or off, got {other:?}"
            ))),
        }
    }
}

/// See [`Scenario::view_names_in_status`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ViewNames {
    /// The name as written in the scenario (normally `dune.<owner>.<name>`).
    #[default]
    Full,
    /// Only the part after the last `.`.
    Short,
}

impl ViewNames {
    fn is_full(&self) -> bool {
        *self == ViewNames::Full
    }

    /// `name` in this style.
    pub fn apply<'a>(&self, name: &'a str) -> &'a str {
        match self {
            ViewNames::Full => name,
            ViewNames::Short => short_view_name(name),
        }
    }
}

/// `dune.acme.mv_daily_volume` -> `mv_daily_volume`.
pub fn short_view_name(name: &str) -> &str {
    name.rsplit('.').next().unwrap_or(name)
}

/// See [`Scenario::datapoint_limit_response`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DatapointLimitResponse {
    /// A shorter page (fewer rows), with `next_uri`/`next_offset` for the rest.
    #[default]
    Shorten,
    /// 400 `{"error": "..."}` naming the datapoint limit.
    Error,
}

impl DatapointLimitResponse {
    fn is_shorten(&self) -> bool {
        *self == DatapointLimitResponse::Shorten
    }
}

/// See [`Scenario::partial_results_without_allow`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PartialResults {
    /// 400 `Partial Result, please request with 'allow_partial_results=true'`.
    #[default]
    Error,
    /// 200 with state `QUERY_STATE_COMPLETED_PARTIAL`, `is_execution_finished: true`, no `result`.
    PartialState,
    /// 200 with state `QUERY_STATE_FAILED`, `is_execution_finished: true`, an `error`, no `result`.
    FailedState,
}

impl PartialResults {
    fn is_error(&self) -> bool {
        *self == PartialResults::Error
    }
}

/// The latest result of a saved query, served by `GET /query/{query_id}/results[/csv]` until a
/// pipeline of this simulator runs the query. Its times are the scenario's epoch (or the simulator's
/// start) minus `age`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LatestResult {
    pub query_id: u64,
    /// How long before the epoch the execution ended.
    #[serde(with = "duration_serde")]
    pub age: Duration,
    /// Final state of that execution (default completed).
    #[serde(default)]
    pub state: Outcome,
    /// Executing time (default 10 s); it was submitted and started that long before it ended.
    #[serde(default = "default_node_duration", with = "duration_serde")]
    pub duration: Duration,
    /// Result rows (default 5).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rows: Option<u64>,
    /// Result columns (default 4).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub columns: Option<u32>,
    /// Error message when the state is `failed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The query's saved SQL: the result is the one this SQL stands for (its columns and rows; `rows`
    /// and `columns` are then ignored), as `POST /sql/execute` would return for the same text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sql: Option<String>,
}

impl LatestResult {
    /// A completed latest result that ended `age` before the epoch.
    pub fn new(query_id: u64, age: Duration) -> Self {
        LatestResult {
            query_id,
            age,
            state: Outcome::Completed,
            duration: default_node_duration(),
            rows: None,
            columns: None,
            error: None,
            sql: None,
        }
    }
}

/// Which strings node statuses use in `GET /pipelines/executions/{id}/status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StatusStyle {
    /// `pending`, `executing`, `completed`, `failed`, `cancelled`, `completed_partial`, `expired`.
    #[default]
    Lowercase,
    /// `QUERY_STATE_PENDING`, `QUERY_STATE_EXECUTING`, ... (the execution-state enum).
    QueryState,
}

/// Overrides of node status strings, per logical state. `blocked` is a node that will never run because
/// a dependency failed, expired or was cancelled (default: the `pending` string, without execution id).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatusNames {
    /// A node whose dependencies are still running (not submitted, no execution id; default: the
    /// `pending` string).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waiting: Option<String>,
    /// A submitted, queued node.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub executing: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completed: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cancelled: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completed_partial: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expired: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blocked: Option<String>,
}

impl StatusNames {
    fn is_empty(&self) -> bool {
        *self == StatusNames::default()
    }
}

/// Overrides of the top-level pipeline status strings (defaults `pending`, `executing`, `completed`,
/// `failed`, `cancelled`). Mapping `failed` to `executing` models a server that never ends a failed
/// pipeline.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PipelineStatusNames {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub executing: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completed: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cancelled: Option<String>,
}

impl PipelineStatusNames {
    fn is_empty(&self) -> bool {
        *self == PipelineStatusNames::default()
    }
}

/// A saved query that has a pipeline (`POST /query/{query_id}/pipeline/execute`,
/// `GET /query/{query_id}/pipeline`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueryDef {
    pub query_id: u64,
    pub nodes: Vec<NodeDef>,
}

/// How a node ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    #[default]
    Completed,
    Failed,
    Cancelled,
    CompletedPartial,
    Expired,
}

impl Outcome {
    /// Whether downstream nodes may run after this outcome.
    pub fn is_success(self) -> bool {
        matches!(self, Outcome::Completed | Outcome::CompletedPartial)
    }
}

/// One node of a pipeline and its simulated behaviour.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeDef {
    /// Node id within the pipeline.
    pub id: u64,
    /// Fully qualified materialized view name (exactly one of this and `query_id`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub materialized_view: Option<String>,
    /// Query executed by this node (exactly one of this and `materialized_view`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query_id: Option<u64>,
    /// Ids of the nodes this one waits for.
    #[serde(default)]
    pub dependencies: Vec<u64>,
    /// Pending time once the dependencies completed.
    #[serde(default, with = "duration_serde")]
    pub queue: Duration,
    /// Executing time.
    #[serde(default = "default_node_duration", with = "duration_serde")]
    pub duration: Duration,
    /// Final state.
    #[serde(default)]
    pub outcome: Outcome,
    /// Error message when the outcome is `failed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Error type (default `FAILED_TYPE_EXECUTION_FAILED`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_type: Option<String>,
    /// `error.metadata.line` of the execution error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_line: Option<u64>,
    /// `error.metadata.column` of the execution error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_column: Option<u64>,
    /// `execution_cost_credits` (default 10 for a query, 5 for a view, 0 when failed or cancelled).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credits: Option<f64>,
    /// Rows of the result (default 5).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rows: Option<u64>,
    /// Columns of the result (default 4: `day`, `chain`, `volume`, `tx_count`; more add `metric_5`,
    /// `metric_6`, ... of type double; fewer keep the first ones).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub columns: Option<u32>,
    /// Raw node status string reported once the node has ended (models unknown status strings).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
}

impl NodeDef {
    fn with_kind(id: u64, materialized_view: Option<String>, query_id: Option<u64>) -> Self {
        NodeDef {
            id,
            materialized_view,
            query_id,
            dependencies: Vec::new(),
            queue: Duration::ZERO,
            duration: default_node_duration(),
            outcome: Outcome::Completed,
            error: None,
            error_type: None,
            error_line: None,
            error_column: None,
            credits: None,
            rows: None,
            columns: None,
            status: None,
        }
    }

    /// A query node with default behaviour (no queue, 10 s, completed).
    pub fn query(id: u64, query_id: u64) -> Self {
        Self::with_kind(id, None, Some(query_id))
    }

    /// A materialized-view refresh node with default behaviour.
    pub fn materialized_view(id: u64, name: impl Into<String>) -> Self {
        Self::with_kind(id, Some(name.into()), None)
    }

    /// Sets the dependencies.
    pub fn depends_on(mut self, deps: impl IntoIterator<Item = u64>) -> Self {
        self.dependencies = deps.into_iter().collect();
        self
    }

    /// Sets the queue (pending) time.
    pub fn queue(mut self, queue: Duration) -> Self {
        self.queue = queue;
        self
    }

    /// Sets the executing time.
    pub fn duration(mut self, duration: Duration) -> Self {
        self.duration = duration;
        self
    }

    /// Sets the outcome.
    pub fn outcome(mut self, outcome: Outcome) -> Self {
        self.outcome = outcome;
        self
    }

    /// Makes the node fail with this error message.
    pub fn failing(mut self, message: impl Into<String>) -> Self {
        self.outcome = Outcome::Failed;
        self.error = Some(message.into());
        self
    }

    /// Sets the number of result rows.
    pub fn rows(mut self, rows: u64) -> Self {
        self.rows = Some(rows);
        self
    }

    /// Sets the number of result columns.
    pub fn columns(mut self, columns: u32) -> Self {
        self.columns = Some(columns);
        self
    }
}

/// Endpoint a fault applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultEndpoint {
    /// `POST /query/{id}/pipeline/execute`
    PipelineExecute,
    /// `POST /pipelines/execute`
    PipelinesExecute,
    /// `GET /query/{id}/pipeline`
    QueryPipeline,
    /// `GET /pipelines/executions/{id}/status`
    PipelineStatus,
    /// `GET /execution/{id}/status`
    ExecutionStatus,
    /// `GET /execution/{id}/results`
    ExecutionResults,
    /// `GET /execution/{id}/results/csv`
    ExecutionResultsCsv,
    /// `POST /execution/{id}/cancel`
    ExecutionCancel,
    /// `GET /query/{id}/results`
    QueryResults,
    /// `GET /query/{id}/results/csv`
    QueryResultsCsv,
    /// Every request (that passed authentication), including unknown paths.
    Any,
}

/// A fault: after `after` matching requests went through normally, the next matching requests get
/// `responses`, one each, in order; then normal behaviour resumes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fault {
    pub endpoint: FaultEndpoint,
    #[serde(default)]
    pub after: usize,
    pub responses: Vec<FaultResponse>,
    /// Only requests about this node's execution (its status, results, cancel) match; `None`: all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<u64>,
}

impl Fault {
    /// A fault on `endpoint` that starts with the first matching request.
    pub fn new(
        endpoint: FaultEndpoint,
        responses: impl IntoIterator<Item = FaultResponse>,
    ) -> Self {
        Fault {
            endpoint,
            after: 0,
            responses: responses.into_iter().collect(),
            node: None,
        }
    }

    /// Matches only requests about node `id`'s execution.
    pub fn for_node(mut self, id: u64) -> Self {
        self.node = Some(id);
        self
    }

    /// Lets `n` matching requests through normally first.
    pub fn after(mut self, n: usize) -> Self {
        self.after = n;
        self
    }
}

/// One injected response. Exactly one of `status`, `drop`, `drop_mid_body`, `garbage`, `oversized`,
/// `delay`, `slow_drip`, `pass` must be set; `body`, `content_type` and `retry_after` go with `status`;
/// `apply` goes with `status`, `drop`, `garbage` and `oversized`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultResponse {
    /// Plain error response with this status code (body `{"error": "..."}` unless `body` is set).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// Body text of a `status` response.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// Message of a `status` response: the body becomes `{"error": "<message>"}` (not with `body`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Content type of a `status` response (default `application/json`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    /// `Retry-After` header value, sent verbatim.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after: Option<String>,
    /// Process the request normally (e.g. start the pipeline) but send the fault instead of the
    /// normal response: models a lost response.
    #[serde(default, skip_serializing_if = "is_false")]
    pub apply: bool,
    /// Close the connection without any response.
    #[serde(default, skip_serializing_if = "is_false")]
    pub drop: bool,
    /// Send the normal status and headers and part of the body, then abort the connection.
    #[serde(default, skip_serializing_if = "is_false")]
    pub drop_mid_body: bool,
    /// 200 `application/json` with a malformed JSON body.
    #[serde(default, skip_serializing_if = "is_false")]
    pub garbage: bool,
    /// 200 `application/json` with a body of this many bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oversized: Option<u64>,
    /// Wait this (virtual) long, then respond normally.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "opt_duration_serde"
    )]
    pub delay: Option<Duration>,
    /// Send the normal body a few bytes at a time over this (virtual) duration.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "opt_duration_serde"
    )]
    pub slow_drip: Option<Duration>,
    /// Respond normally.
    #[serde(default, skip_serializing_if = "is_false")]
    pub pass: bool,
}

/// The validated meaning of a [`FaultResponse`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum FaultKind {
    Status {
        status: u16,
        body: Option<String>,
        content_type: Option<String>,
        retry_after: Option<String>,
    },
    Drop,
    DropMidBody,
    Garbage,
    Oversized(u64),
    Delay(Duration),
    SlowDrip(Duration),
    Pass,
}

impl FaultResponse {
    /// A plain error response.
    pub fn status(status: u16) -> Self {
        FaultResponse {
            status: Some(status),
            ..Default::default()
        }
    }

    /// A status response with body `{"error": message}`.
    pub fn error(status: u16, message: impl Into<String>) -> Self {
        FaultResponse {
            status: Some(status),
            error: Some(message.into()),
            ..Default::default()
        }
    }

    /// 402 with Dune's message for an account over its configured limits per billing cycle.
    pub fn billing_limit_exceeded() -> Self {
        Self::error(402, BILLING_LIMIT_MESSAGE)
    }

    /// 402 with Dune's message for a request over the configured limits per request.
    pub fn request_limit_exceeded() -> Self {
        Self::error(402, REQUEST_LIMIT_MESSAGE)
    }

    /// 403 with the message of Dune's spec (archived/unsaved query, or a key without the scope).
    pub fn forbidden() -> Self {
        Self::error(403, FORBIDDEN_MESSAGE)
    }

    /// A preset by name, as accepted by the binary's `--fault ENDPOINT:PRESET`:
    /// `billing_limit` (402), `request_limit` (402), `forbidden` (403), `rate_limited` (429,
    /// `Retry-After: 1`), `drop`, `garbage`, or an HTTP status code (`503`).
    pub fn preset(name: &str) -> Option<Self> {
        Some(match name {
            "billing_limit" => Self::billing_limit_exceeded(),
            "request_limit" => Self::request_limit_exceeded(),
            "forbidden" => Self::forbidden(),
            "rate_limited" => Self::rate_limited("1"),
            "drop" => Self::drop_connection(),
            "garbage" => Self::garbage(),
            code => Self::status(code.parse().ok()?),
        })
    }

    /// A 429 with a `Retry-After` header.
    pub fn rate_limited(retry_after: impl Into<String>) -> Self {
        FaultResponse {
            status: Some(429),
            retry_after: Some(retry_after.into()),
            ..Default::default()
        }
    }

    /// Close the connection without a response.
    pub fn drop_connection() -> Self {
        FaultResponse {
            drop: true,
            ..Default::default()
        }
    }

    /// Abort the connection in the middle of the body.
    pub fn drop_mid_body() -> Self {
        FaultResponse {
            drop_mid_body: true,
            ..Default::default()
        }
    }

    /// 200 with malformed JSON.
    pub fn garbage() -> Self {
        FaultResponse {
            garbage: true,
            ..Default::default()
        }
    }

    /// 200 with a body of `bytes` bytes.
    pub fn oversized(bytes: u64) -> Self {
        FaultResponse {
            oversized: Some(bytes),
            ..Default::default()
        }
    }

    /// Normal response after a (virtual) delay.
    pub fn delay(delay: Duration) -> Self {
        FaultResponse {
            delay: Some(delay),
            ..Default::default()
        }
    }

    /// Normal response, body dripped over a (virtual) duration.
    pub fn slow_drip(over: Duration) -> Self {
        FaultResponse {
            slow_drip: Some(over),
            ..Default::default()
        }
    }

    /// Normal response.
    pub fn pass() -> Self {
        FaultResponse {
            pass: true,
            ..Default::default()
        }
    }

    /// Process the request normally but send this fault instead (a lost response).
    pub fn applied(mut self) -> Self {
        self.apply = true;
        self
    }

    pub(crate) fn kind(&self) -> anyhow::Result<FaultKind> {
        let mut kinds = Vec::new();
        if let Some(status) = self.status {
            kinds.push((
                "status",
                FaultKind::Status {
                    status,
                    body: match &self.error {
                        Some(m) => Some(serde_json::json!({ "error": m }).to_string()),
                        None => self.body.clone(),
                    },
                    content_type: self.content_type.clone(),
                    retry_after: self.retry_after.clone(),
                },
            ));
        }
        if self.drop {
            kinds.push(("drop", FaultKind::Drop));
        }
        if self.drop_mid_body {
            kinds.push(("drop_mid_body", FaultKind::DropMidBody));
        }
        if self.garbage {
            kinds.push(("garbage", FaultKind::Garbage));
        }
        if let Some(n) = self.oversized {
            kinds.push(("oversized", FaultKind::Oversized(n)));
        }
        if let Some(d) = self.delay {
            kinds.push(("delay", FaultKind::Delay(d)));
        }
        if let Some(d) = self.slow_drip {
            kinds.push(("slow_drip", FaultKind::SlowDrip(d)));
        }
        if self.pass {
            kinds.push(("pass", FaultKind::Pass));
        }
        let names: Vec<&str> = kinds.iter().map(|(n, _)| *n).collect();
        let Some((name, kind)) = kinds.pop() else {
            bail!(
                "a fault response needs exactly one of: status, drop, drop_mid_body, garbage, oversized, delay, slow_drip, pass"
            );
        };
        if !kinds.is_empty() {
            bail!(
                "a fault response needs exactly one kind, found: {}",
                names.join(", ")
            );
        }
        if self.status.is_none() {
            for (field, set) in [
                ("body", self.body.is_some()),
                ("error", self.error.is_some()),
                ("content_type", self.content_type.is_some()),
                ("retry_after", self.retry_after.is_some()),
            ] {
                if set {
                    bail!("`{field}` only goes with `status` (found with `{name}`)");
                }
            }
        }
        if self.body.is_some() && self.error.is_some() {
            bail!("set at most one of `body` and `error`");
        }
        if self.apply && !matches!(name, "status" | "drop" | "garbage" | "oversized") {
            bail!(
                "`apply` only goes with status, drop, garbage or oversized (`{name}` responds normally anyway)"
            );
        }
        if let Some(status) = self.status
            && !(100..=999).contains(&status)
        {
            bail!("status {status} is not a valid HTTP status code");
        }
        if let Some(ct) = &self.content_type
            && ct.is_empty()
        {
            bail!("content_type must not be empty");
        }
        Ok(kind)
    }
}

/// 402 body text for an account over its limits per billing cycle (Dune's troubleshooting page).
pub const BILLING_LIMIT_MESSAGE: &str = "This api request would exceed your configured limits per billing cycle. Please visit your settings on dune.com and adjust your limits to continue usage.";
/// 402 body text for a request over the limits per request (dune-docs issue 486).
pub const REQUEST_LIMIT_MESSAGE: &str = "This api request would exceed your configured limits per request. Please visit your settings on dune.com and adjust your limits to continue usage.";
/// 403 body text (the example of `models.Error403` in Dune's OpenAPI spec).
pub const FORBIDDEN_MESSAGE: &str =
    "Not allowed to execute query. Query is archived, unsaved or not enough permissions";

const BUILTIN_NAMES: &[&str] = &[
    "demo",
    "demo-failing",
    "single",
    "query-state",
    "mv-only",
    "vocab-succeeding",
    "vocab-failing",
];

const DEMO_ROOT: u64 = 3_493_826;

impl Scenario {
    /// A built-in scenario by name (see [`Scenario::builtin_names`]).
    pub fn builtin(name: &str) -> Option<Scenario> {
        match name {
            "demo" => Some(demo(false)),
            "demo-failing" => Some(demo(true)),
            "query-state" => Some(Scenario {
                status_style: StatusStyle::QueryState,
                ..demo(false)
            }),
            "single" => Some(Scenario {
                time_scale: 20.0,
                ..Scenario::single_query(1111, Duration::from_secs(5))
            }),
            "mv-only" => Some(mv_only()),
            "vocab-succeeding" => Some(vocab(false)),
            "vocab-failing" => Some(vocab(true)),
            _ => None,
        }
    }

    /// Names accepted by [`Scenario::builtin`].
    pub fn builtin_names() -> &'static [&'static str] {
        BUILTIN_NAMES
    }

    /// Parses a scenario from YAML or JSON (JSON is YAML) and validates it. Errors name the offending
    /// field, e.g. `queries[0].nodes[1].duraton: unknown field ...`.
    pub fn from_yaml_or_json(text: &str) -> anyhow::Result<Scenario> {
        // serde_yaml_ng errors already carry the path, e.g. `queries[0].nodes[0]: unknown field ...`.
        let scenario: Scenario =
            serde_yaml_ng::from_str(text).map_err(|e| anyhow::anyhow!("invalid scenario: {e}"))?;
        scenario.validate().context("invalid scenario")?;
        Ok(scenario)
    }

    /// One saved query whose pipeline is a single query node (id 1) running for `duration`.
    /// Time scale 1.0.
    pub fn single_query(query_id: u64, duration: Duration) -> Scenario {
        Scenario {
            queries: vec![QueryDef {
                query_id,
                nodes: vec![NodeDef::query(1, query_id).duration(duration)],
            }],
            ..Scenario::default()
        }
    }

    /// A chain of `n` nodes (at least 1), each running for `each`: node 1 is a materialized view
    /// `dune.sim.mv_chain_1`, nodes 2..n-1 are queries `query_id + i - 1`, node n is `query_id` itself.
    /// With `n == 1` the only node is the query. Time scale 1.0.
    pub fn chain(query_id: u64, n: usize, each: Duration) -> Scenario {
        let n = n.max(1) as u64;
        let nodes = (1..=n)
            .map(|i| {
                let node = if i == n {
                    NodeDef::query(i, query_id)
                } else if i == 1 {
                    NodeDef::materialized_view(i, "dune.sim.mv_chain_1")
                } else {
                    NodeDef::query(i, query_id.wrapping_add(i - 1))
                };
                let node = if i > 1 {
                    node.depends_on([i - 1])
                } else {
                    node
                };
                node.duration(each)
            })
            .collect();
        Scenario {
            queries: vec![QueryDef { query_id, nodes }],
            ..Scenario::default()
        }
    }

    /// Sets the time scale.
    pub fn with_time_scale(mut self, time_scale: f64) -> Self {
        self.time_scale = time_scale;
        self
    }

    /// Requires this API key.
    pub fn with_api_key(mut self, key: impl Into<String>) -> Self {
        self.api_key = Some(key.into());
        self
    }

    /// Sets the epoch (RFC 3339 UTC).
    pub fn with_epoch(mut self, epoch: impl Into<String>) -> Self {
        self.epoch = Some(epoch.into());
        self
    }

    /// Adds a fault.
    pub fn with_fault(mut self, fault: Fault) -> Self {
        self.faults.push(fault);
        self
    }

    /// The saved query with this id.
    pub fn query(&self, query_id: u64) -> Option<&QueryDef> {
        self.queries.iter().find(|q| q.query_id == query_id)
    }

    /// Checks everything serde cannot: node kinds, ids, dependencies, cycles, clock settings, faults.
    pub fn validate(&self) -> anyhow::Result<()> {
        if !(self.time_scale.is_finite() && self.time_scale > 0.0) {
            bail!(
                "time_scale must be a positive number (got {})",
                self.time_scale
            );
        }
        if let Some(epoch) = &self.epoch {
            parse_epoch(epoch)?;
        }
        if self.max_page_rows == 0 {
            bail!("max_page_rows must be at least 1");
        }
        if let Some(key) = &self.api_key
            && key.is_empty()
        {
            bail!("api_key must not be empty (omit it to accept any key)");
        }
        let mut seen = HashSet::new();
        for (qi, q) in self.queries.iter().enumerate() {
            if !seen.insert(q.query_id) {
                bail!("queries[{qi}]: query_id {} is defined twice", q.query_id);
            }
            validate_nodes(&q.nodes)
                .with_context(|| format!("queries[{qi}] (query {})", q.query_id))?;
        }
        let mut latest = HashSet::new();
        for (li, l) in self.latest_results.iter().enumerate() {
            if !latest.insert(l.query_id) {
                bail!(
                    "latest_results[{li}]: query_id {} is listed twice",
                    l.query_id
                );
            }
            if l.columns == Some(0) {
                bail!("latest_results[{li}]: columns must be at least 1");
            }
        }
        for (fi, f) in self.faults.iter().enumerate() {
            if f.responses.is_empty() {
                bail!("faults[{fi}]: responses must not be empty");
            }
            for (ri, r) in f.responses.iter().enumerate() {
                r.kind()
                    .with_context(|| format!("faults[{fi}].responses[{ri}]"))?;
            }
        }
        Ok(())
    }
}

fn validate_nodes(nodes: &[NodeDef]) -> anyhow::Result<()> {
    if nodes.is_empty() {
        bail!("nodes must not be empty");
    }
    let mut ids = HashSet::new();
    for n in nodes {
        if !ids.insert(n.id) {
            bail!("duplicate node id {}", n.id);
        }
        match (&n.materialized_view, n.query_id) {
            (Some(_), Some(_)) => bail!(
                "node {}: set exactly one of materialized_view and query_id, not both",
                n.id
            ),
            (None, None) => bail!(
                "node {}: set exactly one of materialized_view and query_id",
                n.id
            ),
            (Some(name), None) if name.is_empty() => {
                bail!("node {}: materialized_view must not be empty", n.id)
            }
            _ => {}
        }
        if n.columns == Some(0) {
            bail!("node {}: columns must be at least 1", n.id);
        }
        if let Some(c) = n.credits
            && !(c.is_finite() && c >= 0.0)
        {
            bail!("node {}: credits must be a non-negative number", n.id);
        }
    }
    let edges: Vec<(u64, Vec<u64>)> = nodes
        .iter()
        .map(|n| (n.id, n.dependencies.clone()))
        .collect();
    check_graph(&edges)?;
    Ok(())
}

/// Checks dependencies exist and form no cycle; returns a topological order (indices into `nodes`).
pub(crate) fn check_graph(nodes: &[(u64, Vec<u64>)]) -> anyhow::Result<Vec<usize>> {
    let index: HashMap<u64, usize> = nodes
        .iter()
        .enumerate()
        .map(|(i, (id, _))| (*id, i))
        .collect();
    let mut indegree = vec![0usize; nodes.len()];
    let mut dependents: Vec<Vec<usize>> = vec![Vec::new(); nodes.len()];
    for (i, (id, deps)) in nodes.iter().enumerate() {
        let mut unique = HashSet::new();
        for dep in deps {
            let Some(&d) = index.get(dep) else {
                bail!("node {id} depends on node {dep}, which does not exist");
            };
            if unique.insert(d) {
                indegree[i] += 1;
                dependents[d].push(i);
            }
        }
    }
    let mut ready: Vec<usize> = (0..nodes.len()).filter(|&i| indegree[i] == 0).collect();
    ready.reverse();
    let mut order = Vec::with_capacity(nodes.len());
    while let Some(i) = ready.pop() {
        order.push(i);
        for &j in &dependents[i] {
            indegree[j] -= 1;
            if indegree[j] == 0 {
                ready.push(j);
            }
        }
    }
    if order.len() != nodes.len() {
        let mut cyclic: Vec<u64> = (0..nodes.len())
            .filter(|&i| indegree[i] > 0)
            .map(|i| nodes[i].0)
            .collect();
        cyclic.sort_unstable();
        let list: Vec<String> = cyclic.iter().map(u64::to_string).collect();
        bail!("dependency cycle among nodes {}", list.join(", "));
    }
    Ok(order)
}

/// Parses an RFC 3339 UTC instant into nanoseconds since the Unix epoch.
pub(crate) fn parse_epoch(text: &str) -> anyhow::Result<i128> {
    let t = humantime::parse_rfc3339(text.trim()).map_err(|e| {
        anyhow::anyhow!(
            "epoch {text:?} is not an RFC 3339 UTC timestamp like 2026-01-01T00:00:00Z ({e})"
        )
    })?;
    let since = t
        .duration_since(std::time::UNIX_EPOCH)
        .map_err(|_| anyhow::anyhow!("epoch {text:?} is before 1970"))?;
    Ok(since.as_nanos() as i128)
}

fn demo(failing: bool) -> Scenario {
    let secs = Duration::from_secs;
    let q = |id: u64, query_id: u64, dur: u64, rows: u64| {
        NodeDef::query(id, query_id)
            .depends_on([id - 1])
            .queue(secs(2))
            .duration(secs(dur))
            .rows(rows)
    };
    let mut transform = q(3, 3_493_802, 45, 720);
    if failing {
        transform = transform.failing("line 12:5: Column 'amount_usd' cannot be resolved");
        transform.error_line = Some(12);
        transform.error_column = Some(5);
    }
    Scenario {
        time_scale: 60.0,
        queries: vec![QueryDef {
            query_id: DEMO_ROOT,
            nodes: vec![
                NodeDef::materialized_view(1, "dune.acme.mv_dex_trades_daily")
                    .queue(secs(2))
                    .duration(secs(40)),
                // extract
                q(2, 3_493_801, 30, 1440),
                // transform
                transform,
                // aggregate
                q(4, 3_493_803, 25, 120),
                // metrics (the saved query whose pipeline this is)
                q(5, DEMO_ROOT, 20, 24),
            ],
        }],
        ..Scenario::default()
    }
}

/// Root query of the `vocab-*` builtins.
const VOCAB_ROOT: u64 = 5_550_000;

/// A materialized view, two queries reading it, and the root query joining them, reported in an
/// entirely different status vocabulary (`PIPELINE_EXECUTION_STATUS_*` at the top, `scheduled`,
/// `in_progress`, `succeeded`, `errored`, `aborted` per node).
fn vocab(failing: bool) -> Scenario {
    let secs = Duration::from_secs;
    let s = |x: &str| Some(x.to_owned());
    let mut left = NodeDef::query(2, 5_550_001)
        .depends_on([1])
        .queue(secs(1))
        .duration(secs(20))
        .rows(30);
    if failing {
        left = left.failing("line 3:14: Table 'dune.acme.mv_daily_volume' is being refreshed");
        left.error_line = Some(3);
        left.error_column = Some(14);
    }
    Scenario {
        time_scale: 60.0,
        status_names: StatusNames {
            waiting: s("scheduled"),
            pending: s("scheduled"),
            executing: s("in_progress"),
            completed: s("succeeded"),
            failed: s("errored"),
            cancelled: s("aborted"),
            completed_partial: s("succeeded"),
            expired: s("errored"),
            blocked: s("aborted"),
        },
        pipeline_status_names: PipelineStatusNames {
            pending: s("PIPELINE_EXECUTION_STATUS_PENDING"),
            executing: s("PIPELINE_EXECUTION_STATUS_RUNNING"),
            completed: s("PIPELINE_EXECUTION_STATUS_SUCCEEDED"),
            failed: s("PIPELINE_EXECUTION_STATUS_ERRORED"),
            cancelled: s("PIPELINE_EXECUTION_STATUS_ABORTED"),
        },
        queries: vec![QueryDef {
            query_id: VOCAB_ROOT,
            nodes: vec![
                NodeDef::materialized_view(1, "dune.acme.mv_daily_volume")
                    .queue(secs(1))
                    .duration(secs(30)),
                left,
                NodeDef::query(3, 5_550_002)
                    .depends_on([1])
                    .queue(secs(1))
                    .duration(secs(25))
                    .rows(30),
                NodeDef::query(4, VOCAB_ROOT)
                    .depends_on([2, 3])
                    .queue(secs(1))
                    .duration(secs(15))
                    .rows(12),
            ],
        }],
        ..Scenario::default()
    }
}

fn mv_only() -> Scenario {
    let secs = Duration::from_secs;
    Scenario {
        time_scale: 60.0,
        queries: vec![QueryDef {
            query_id: 4242,
            nodes: vec![
                NodeDef::materialized_view(1, "dune.acme.mv_prices_hourly")
                    .queue(secs(1))
                    .duration(secs(20)),
                NodeDef::materialized_view(2, "dune.acme.mv_volumes_hourly")
                    .queue(secs(1))
                    .duration(secs(30)),
                NodeDef::query(3, 4242)
                    .depends_on([1, 2])
                    .queue(secs(1))
                    .duration(secs(15))
                    .rows(48),
            ],
        }],
        ..Scenario::default()
    }
}

/// A duration as a humantime string (`"1m 30s"`, `"500ms"`) or a number of seconds.
struct HumanDuration(Duration);

impl<'de> Deserialize<'de> for HumanDuration {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = HumanDuration;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a duration like \"1s\", \"1m 30s\", \"250ms\", or a number of seconds")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<HumanDuration, E> {
                humantime::parse_duration(v.trim())
                    .map(HumanDuration)
                    .map_err(|e| E::custom(format!("invalid duration {v:?}: {e}")))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<HumanDuration, E> {
                Ok(HumanDuration(Duration::from_secs(v)))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<HumanDuration, E> {
                u64::try_from(v)
                    .map(|s| HumanDuration(Duration::from_secs(s)))
                    .map_err(|_| E::custom("a duration must not be negative"))
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<HumanDuration, E> {
                Duration::try_from_secs_f64(v)
                    .map(HumanDuration)
                    .map_err(|_| {
                        E::custom("a duration must be a non-negative, finite number of seconds")
                    })
            }
        }
        d.deserialize_any(V)
    }
}

fn format_duration(d: Duration) -> String {
    humantime::format_duration(d).to_string()
}

mod duration_serde {
    use super::*;

    pub(super) fn serialize<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format_duration(*d))
    }

    pub(super) fn deserialize<'de, D: serde::Deserializer<'de>>(
        d: D,
    ) -> Result<Duration, D::Error> {
        HumanDuration::deserialize(d).map(|h| h.0)
    }
}

mod opt_duration_serde {
    use super::*;

    pub(super) fn serialize<S: serde::Serializer>(
        d: &Option<Duration>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_some(&format_duration(*d)),
            None => s.serialize_none(),
        }
    }

    pub(super) fn deserialize<'de, D: serde::Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Duration>, D::Error> {
        Option::<HumanDuration>::deserialize(d).map(|o| o.map(|h| h.0))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn builtins_are_valid_and_listed() {
        for name in Scenario::builtin_names() {
            let s = Scenario::builtin(name).unwrap();
            s.validate().unwrap();
            // Round-trips through YAML.
            let yaml = serde_yaml_ng::to_string(&s).unwrap();
            assert_eq!(Scenario::from_yaml_or_json(&yaml).unwrap(), s, "{name}");
        }
        assert!(Scenario::builtin("nope").is_none());
        let failing = Scenario::builtin("demo-failing").unwrap();
        let n3 = &failing.queries[0].nodes[2];
        assert_eq!(n3.outcome, Outcome::Failed);
        assert_eq!(n3.error_line, Some(12));
    }

    #[test]
    fn parses_full_yaml() {
        let s = Scenario::from_yaml_or_json(
            r#"
api_key: sim-key
time_scale: 60
epoch: "2026-01-01T00:00:00Z"
status_style: query_state
status_names: {executing: running, blocked: skipped}
pipeline_status_names: {failed: executing}
pipeline_error: false
max_page_rows: 1000
queries:
  - query_id: 7
    nodes:
      - {id: 1, materialized_view: dune.a.mv, queue: 1s, duration: 20}
      - id: 2
        query_id: 7
        dependencies: [1]
        duration: 1m 30s
        outcome: failed
        error: boom
        error_line: 1
        error_column: 8
        credits: 12.5
        rows: 100
        status: weird_state
faults:
  - endpoint: pipeline_status
    after: 2
    responses:
      - status: 503
      - {status: 429, retry_after: "2"}
      - drop: true
      - delay: 5s
      - {status: 502, apply: true}
"#,
        )
        .unwrap();
        assert_eq!(s.time_scale, 60.0);
        assert_eq!(s.status_names.executing.as_deref(), Some("running"));
        let n2 = &s.queries[0].nodes[1];
        assert_eq!(n2.duration, Duration::from_secs(90));
        assert_eq!(s.queries[0].nodes[0].duration, Duration::from_secs(20));
        assert_eq!(s.faults[0].after, 2);
        assert_eq!(s.faults[0].responses[3].delay, Some(Duration::from_secs(5)));
    }

    #[test]
    fn errors_name_the_field() {
        let e = Scenario::from_yaml_or_json(
            "queries:\n  - query_id: 1\n    nodes:\n      - {id: 1, query_id: 1, duraton: 5s}\n",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("queries[0].nodes[0]"), "{e}");
        assert!(e.contains("duraton"), "{e}");

        let e = Scenario::from_yaml_or_json(r#"{"time_scale": 2, "bogus": 1}"#)
            .unwrap_err()
            .to_string();
        assert!(e.contains("bogus"), "{e}");

        let e = format!(
            "{:#}",
            Scenario::from_yaml_or_json(
                "queries:\n  - query_id: 1\n    nodes:\n      - {id: 1, query_id: 1, dependencies: [2]}\n",
            )
            .unwrap_err()
        );
        assert!(e.contains("depends on node 2"), "{e}");

        let e = format!(
            "{:#}",
            Scenario::from_yaml_or_json(
                "faults:\n  - endpoint: any\n    responses:\n      - {status: 500, drop: true}\n"
            )
            .unwrap_err()
        );
        assert!(e.contains("faults[0].responses[0]"), "{e}");
    }

    #[test]
    fn readme_example_is_valid() {
        let readme = include_str!("../README.md");
        let start = readme.find("```yaml\n").unwrap() + "```yaml\n".len();
        let end = start + readme[start..].find("```").unwrap();
        let s = Scenario::from_yaml_or_json(&readme[start..end]).unwrap();
        assert_eq!(s.queries[0].nodes.len(), 3);
        assert_eq!(s.faults[0].responses.len(), 11);
        assert_eq!(s.latest_results[0].age, Duration::from_secs(600));
        assert_eq!(s.queries[0].nodes[1].columns, Some(4));
        assert!(s.faults[1].responses[0].apply);
    }

    #[test]
    fn detects_cycles() {
        let e = check_graph(&[(1, vec![2]), (2, vec![1]), (3, vec![])])
            .unwrap_err()
            .to_string();
        assert!(e.contains("cycle among nodes 1, 2"), "{e}");
        assert_eq!(
            check_graph(&[(2, vec![1]), (1, vec![])]).unwrap(),
            vec![1, 0]
        );
    }

    #[test]
    fn chain_shape() {
        let s = Scenario::chain(99, 3, Duration::from_secs(2));
        let nodes = &s.queries[0].nodes;
        assert_eq!(nodes.len(), 3);
        assert!(nodes[0].materialized_view.is_some());
        assert_eq!(nodes[2].query_id, Some(99));
        assert_eq!(nodes[2].dependencies, vec![2]);
        s.validate().unwrap();
        let one = Scenario::chain(5, 0, Duration::from_secs(1));
        assert_eq!(one.queries[0].nodes[0].query_id, Some(5));
    }

    #[test]
    fn epoch_parsing() {
        assert_eq!(parse_epoch("1970-01-01T00:00:01Z").unwrap(), 1_000_000_000);
        assert!(parse_epoch("yesterday").is_err());
    }
}
