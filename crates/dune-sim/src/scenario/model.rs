//! The scenario and the account it describes: saved queries with their pipelines, how each node behaves
//! over (virtual) time, and the latest results of saved queries.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::scenario::dialect::{
    BothStatusObjects, DEFAULT_MAX_DATAPOINTS, DatapointLimitResponse, PartialResults,
    PipelineStatusNames, StatusNames, StatusStyle, ViewNames,
};
use crate::scenario::faults::Fault;
use crate::scenario::time::duration_serde;

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
    /// Materialized views' last refreshes before the scenario starts (`GET /materialized-views/{name}`),
    /// before any pipeline of this simulator refreshes them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub materialized_views: Vec<ViewRefresh>,
    /// Saved queries that have a pipeline.
    #[serde(default)]
    pub queries: Vec<QueryDef>,
    /// Saved queries' SQL and version (`GET`/`PATCH /query/{id}`); the SQL decides the rows and can
    /// fail an execution (see [`crate::broken_at`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub saved_queries: Vec<SavedQuery>,
    /// Whether the key has the `Read/Write` scope `PATCH /query/{id}` needs (default true; false: 403).
    #[serde(default = "default_true", skip_serializing_if = "is_true")]
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
            materialized_views: Vec::new(),
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
fn is_true(b: &bool) -> bool {
    *b
}

/// A saved query's SQL at the start of a scenario (`saved_queries`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SavedQuery {
    pub query_id: u64,
    /// `query_sql`.
    pub sql: String,
    /// `version` (default 1).
    #[serde(default = "first_version")]
    pub version: i64,
}

fn first_version() -> i64 {
    1
}

impl SavedQuery {
    /// Query `query_id` with this SQL, at version 1.
    pub fn new(query_id: u64, sql: impl Into<String>) -> SavedQuery {
        SavedQuery {
            query_id,
            sql: sql.into(),
            version: first_version(),
        }
    }
}
fn default_max_page_rows() -> u64 {
    30_000
}
fn default_node_duration() -> Duration {
    Duration::from_secs(10)
}

fn default_max_datapoints() -> u64 {
    DEFAULT_MAX_DATAPOINTS
}

fn is_default_max_datapoints(n: &u64) -> bool {
    *n == DEFAULT_MAX_DATAPOINTS
}

impl Scenario {
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

/// A materialized view's last refresh, served by `GET /materialized-views/{name}` (its execution id in
/// `last_execution_ids`) and `GET /execution/{id}/status` (its end and cost). Its times are the scenario's
/// epoch (or the simulator's start) minus `age`. A pipeline of this simulator that refreshes the view adds
/// its refresh before this one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ViewRefresh {
    /// The view's full name (`dune.<team>.<name>`), as the pipeline nodes name it.
    pub name: String,
    /// How long before the epoch the refresh ended.
    #[serde(with = "duration_serde")]
    pub age: Duration,
    /// Final state of the refresh (default completed).
    #[serde(default)]
    pub state: Outcome,
    /// Executing time (default 10 s).
    #[serde(default = "default_node_duration", with = "duration_serde")]
    pub duration: Duration,
    /// `execution_cost_credits` of the refresh (default 5, 0 when failed or cancelled).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credits: Option<f64>,
    /// The query whose result the view stores (`query_id` of the view and of its refresh).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query_id: Option<u64>,
    /// Error message when the state is `failed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl ViewRefresh {
    /// A completed refresh of `name` that ended `age` before the epoch.
    pub fn new(name: impl Into<String>, age: Duration) -> Self {
        ViewRefresh {
            name: name.into(),
            age,
            state: Outcome::Completed,
            duration: default_node_duration(),
            credits: None,
            query_id: None,
            error: None,
        }
    }

    /// `execution_cost_credits` of the refresh.
    pub fn cost(&self) -> f64 {
        match (self.credits, self.state) {
            (Some(c), _) => c,
            (None, Outcome::Failed | Outcome::Cancelled) => 0.0,
            (None, _) => 5.0,
        }
    }
}
