//! The Dune endpoints: routing, validation, and JSON/CSV bodies shaped like the OpenAPI spec
//! (`models.GetPipelineExecutionStatusResponse`, `models.GetExecutionStatusResponse`,
//! `models.ReadExecutionResultResponse`, ...). Handlers are synchronous: they lock the state, compute
//! a view at the current virtual time, and release the lock before writing large bodies.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::engine::{NodeKind, Phase, PipelineRun, PipelineState, RunNode};
use crate::results;
use crate::scenario::{
    BothStatusObjects, DatapointLimitResponse, FaultEndpoint, LatestResult, NodeDef, Outcome,
    PartialResults, StatusStyle, check_graph, short_view_name,
};
use crate::server::Shared;
use crate::sql;
use crate::util::{fnv1a, format_timestamp, is_ulid};

/// Results are kept this long after the execution ended (`expires_at`).
const RESULT_RETENTION: Duration = Duration::from_secs(90 * 24 * 3600);

/// A routed request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Route {
    QueryPipelineExecute(String),
    PipelinesExecute,
    QueryPipeline(String),
    PipelineStatus(String),
    ExecutionStatus(String),
    ExecutionResults(String),
    ExecutionResultsCsv(String),
    ExecutionCancel(String),
    QueryResults(String),
    QueryResultsCsv(String),
    /// `POST /sql/execute`: raw SQL, saved nowhere.
    SqlExecute,
    GetQuery(String),
    UpdateQuery(String),
    NotFound,
}

impl Route {
    pub(crate) fn parse(method: &str, path: &str) -> Route {
        let Some(rest) = path.strip_prefix("/api/v1/") else {
            return Route::NotFound;
        };
        let segs: Vec<&str> = rest.split('/').collect();
        let s = |x: &str| x.to_owned();
        match (method, segs.as_slice()) {
            ("POST", ["query", id, "pipeline", "execute"]) => Route::QueryPipelineExecute(s(id)),
            ("POST", ["pipelines", "execute"]) => Route::PipelinesExecute,
            ("GET", ["query", id, "pipeline"]) => Route::QueryPipeline(s(id)),
            ("GET", ["pipelines", "executions", id, "status"]) => Route::PipelineStatus(s(id)),
            ("GET", ["execution", id, "status"]) => Route::ExecutionStatus(s(id)),
            ("GET", ["execution", id, "results"]) => Route::ExecutionResults(s(id)),
            ("GET", ["execution", id, "results", "csv"]) => Route::ExecutionResultsCsv(s(id)),
            ("POST", ["execution", id, "cancel"]) => Route::ExecutionCancel(s(id)),
            ("GET", ["query", id, "results"]) => Route::QueryResults(s(id)),
            ("GET", ["query", id, "results", "csv"]) => Route::QueryResultsCsv(s(id)),
            ("POST", ["sql", "execute"]) => Route::SqlExecute,
            ("GET", ["query", id]) => Route::GetQuery(s(id)),
            ("PATCH", ["query", id]) => Route::UpdateQuery(s(id)),
            _ => Route::NotFound,
        }
    }

    /// The fault endpoint this route belongs to (`None`: only `any` faults match).
    /// The execution id a request is about, if any.
    pub(crate) fn execution(&self) -> Option<&str> {
        match self {
            Route::ExecutionStatus(id)
            | Route::ExecutionResults(id)
            | Route::ExecutionResultsCsv(id)
            | Route::ExecutionCancel(id) => Some(id),
            _ => None,
        }
    }

    pub(crate) fn endpoint(&self) -> Option<FaultEndpoint> {
        Some(match self {
            Route::QueryPipelineExecute(_) => FaultEndpoint::PipelineExecute,
            Route::PipelinesExecute => FaultEndpoint::PipelinesExecute,
            Route::QueryPipeline(_) => FaultEndpoint::QueryPipeline,
            Route::PipelineStatus(_) => FaultEndpoint::PipelineStatus,
            Route::ExecutionStatus(_) => FaultEndpoint::ExecutionStatus,
            Route::ExecutionResults(_) => FaultEndpoint::ExecutionResults,
            Route::ExecutionResultsCsv(_) => FaultEndpoint::ExecutionResultsCsv,
            Route::ExecutionCancel(_) => FaultEndpoint::ExecutionCancel,
            Route::QueryResults(_) => FaultEndpoint::QueryResults,
            Route::QueryResultsCsv(_) => FaultEndpoint::QueryResultsCsv,
            Route::SqlExecute | Route::GetQuery(_) | Route::UpdateQuery(_) | Route::NotFound => {
                return None;
            }
        })
    }
}

/// A complete response.
#[derive(Debug, Clone)]
pub(crate) struct Reply {
    pub(crate) status: u16,
    pub(crate) content_type: String,
    pub(crate) headers: Vec<(&'static str, String)>,
    pub(crate) body: Bytes,
}

impl Reply {
    pub(crate) fn json(status: u16, value: &Value) -> Reply {
        Reply::raw(status, "application/json", value.to_string())
    }

    pub(crate) fn error(status: u16, message: impl Into<String>) -> Reply {
        Reply::json(status, &json!({ "error": message.into() }))
    }

    pub(crate) fn raw(status: u16, content_type: &str, body: impl Into<Bytes>) -> Reply {
        Reply {
            status,
            content_type: content_type.to_owned(),
            headers: Vec::new(),
            body: body.into(),
        }
    }
}

/// Serves one authenticated request.
pub(crate) fn dispatch(shared: &Shared, route: &Route, query: Option<&str>, body: &[u8]) -> Reply {
    let params = Params::parse(query);
    match route {
        Route::QueryPipelineExecute(id) => execute_query_pipeline(shared, id, body),
        Route::PipelinesExecute => execute_pipeline(shared, body),
        Route::QueryPipeline(id) => query_pipeline(shared, id, &params),
        Route::PipelineStatus(id) => pipeline_status(shared, id),
        Route::ExecutionStatus(id) => execution_status(shared, id),
        Route::ExecutionResults(id) => execution_results(shared, id, &params, false),
        Route::ExecutionResultsCsv(id) => execution_results(shared, id, &params, true),
        Route::QueryResults(id) => query_results(shared, id, &params, false),
        Route::QueryResultsCsv(id) => query_results(shared, id, &params, true),
        Route::ExecutionCancel(id) => cancel_execution(shared, id),
        Route::SqlExecute => execute_sql(shared, body),
        Route::GetQuery(id) => match parse_query_id(id) {
            Ok(q) => crate::queries::get_query(shared, q),
            Err(r) => r,
        },
        Route::UpdateQuery(id) => match parse_query_id(id) {
            Ok(q) => crate::queries::update_query(shared, q, body),
            Err(r) => r,
        },
        Route::NotFound => Reply::error(404, "not found"),
    }
}

struct Params(Vec<(String, String)>);

impl Params {
    fn parse(query: Option<&str>) -> Params {
        Params(
            query
                .map(|q| {
                    form_urlencoded::parse(q.as_bytes())
                        .map(|(k, v)| (k.into_owned(), v.into_owned()))
                        .collect()
                })
                .unwrap_or_default(),
        )
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn u64(&self, name: &str) -> Result<Option<u64>, Reply> {
        match self.get(name) {
            None | Some("") => Ok(None),
            Some(v) => v.parse().map(Some).map_err(|_| {
                Reply::error(
                    400,
                    format!("invalid {name} {v:?}: must be a non-negative integer"),
                )
            }),
        }
    }

    /// Go's strconv.ParseBool vocabulary.
    fn bool(&self, name: &str) -> Result<bool, Reply> {
        match self.get(name) {
            None | Some("") => Ok(false),
            Some("1" | "t" | "T" | "true" | "TRUE" | "True") => Ok(true),
            Some("0" | "f" | "F" | "false" | "FALSE" | "False") => Ok(false),
            Some(v) => Err(Reply::error(
                400,
                format!("invalid {name} {v:?}: must be true or false"),
            )),
        }
    }
}

const PERFORMANCE_ERROR: &str = "performance must be one of: medium, large";

fn performance(value: Option<&str>) -> Result<String, Reply> {
    match value {
        None | Some("") => Ok("medium".to_owned()),
        Some(p @ ("medium" | "large")) => Ok(p.to_owned()),
        Some(_) => Err(Reply::error(400, PERFORMANCE_ERROR)),
    }
}

fn parse_query_id(raw: &str) -> Result<u64, Reply> {
    raw.parse::<u64>().map_err(|_| {
        Reply::error(
            400,
            format!("invalid query_id {raw:?}: must be a positive integer"),
        )
    })
}

/// The body of `POST /query/{id}/pipeline/execute`: optional, lenient about extra keys (as Dune's Go
/// server is), strict about the values it knows.
fn parse_execute_body(body: &[u8]) -> Result<(String, Map<String, Value>), Reply> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(("medium".to_owned(), Map::new()));
    }
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| Reply::error(400, format!("invalid JSON body: {e}")))?;
    let Value::Object(obj) = value else {
        return Err(Reply::error(400, "request body must be a JSON object"));
    };
    let perf = match obj.get("performance") {
        None | Some(Value::Null) => "medium".to_owned(),
        Some(Value::String(s)) => performance(Some(s))?,
        Some(_) => return Err(Reply::error(400, PERFORMANCE_ERROR)),
    };
    let params = match obj.get("query_parameters") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(m)) => m.clone(),
        Some(_) => return Err(Reply::error(400, "query_parameters must be a JSON object")),
    };
    Ok((perf, params))
}

struct NodeSpec {
    id: u64,
    kind: NodeKind,
    deps: Vec<u64>,
    behaviour: NodeDef,
}

fn execute_query_pipeline(shared: &Shared, raw_id: &str, body: &[u8]) -> Reply {
    let query_id = match parse_query_id(raw_id) {
        Ok(q) => q,
        Err(r) => return r,
    };
    let Some(def) = shared.scenario.query(query_id) else {
        return Reply::error(404, "Query not found");
    };
    let (_performance, parameters) = match parse_execute_body(body) {
        Ok(x) => x,
        Err(r) => return r,
    };
    let specs = def
        .nodes
        .iter()
        .map(|n| NodeSpec {
            id: n.id,
            kind: kind_of(n, query_id, &parameters),
            deps: n.dependencies.clone(),
            behaviour: n.clone(),
        })
        .collect();
    start_pipeline(shared, specs)
}

/// A scenario node's kind; query parameters go to the node(s) running the pipeline's own query.
fn kind_of(n: &NodeDef, root: u64, parameters: &Map<String, Value>) -> NodeKind {
    match (&n.materialized_view, n.query_id) {
        (Some(name), _) => NodeKind::View { name: name.clone() },
        (None, q) => {
            let query_id = q.unwrap_or(root);
            NodeKind::Query {
                query_id,
                parameters: if query_id == root {
                    parameters.clone()
                } else {
                    Map::new()
                },
            }
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ExecutePipelineRequest {
    pipeline: PipelineRequest,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PipelineRequest {
    nodes: Vec<PipelineNodeRequest>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PipelineNodeRequest {
    id: u64,
    #[serde(default)]
    dependencies: Option<Vec<u64>>,
    #[serde(default)]
    query_execution: Option<QueryExecutionRequest>,
    #[serde(default)]
    materialized_view_refresh: Option<ViewRefreshRequest>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct QueryExecutionRequest {
    query_id: u64,
    #[serde(default)]
    performance: Option<String>,
    #[serde(default)]
    query_parameters: Option<Map<String, Value>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ViewRefreshRequest {
    name: String,
    #[serde(default)]
    performance: Option<String>,
}

fn execute_pipeline(shared: &Shared, body: &[u8]) -> Reply {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Reply::error(
            400,
            "request body is required: {\"pipeline\": {\"nodes\": [...]}}",
        );
    }
    let de = &mut serde_json::Deserializer::from_slice(body);
    let req: ExecutePipelineRequest = match serde_path_to_error::deserialize(de) {
        Ok(r) => r,
        Err(e) => {
            let path = e.path().to_string();
            let msg = if path == "." {
                format!("invalid request body: {}", e.inner())
            } else {
                format!("invalid request body: {path}: {}", e.inner())
            };
            return Reply::error(400, msg);
        }
    };
    let nodes = req.pipeline.nodes;
    if nodes.is_empty() {
        return Reply::error(400, "pipeline.nodes must not be empty");
    }
    let mut specs = Vec::with_capacity(nodes.len());
    for n in nodes {
        let id = n.id;
        let (kind, perf, behaviour) = match (n.query_execution, n.materialized_view_refresh) {
            (Some(q), None) => {
                let behaviour = lookup_behaviour(shared, |d| d.query_id == Some(q.query_id))
                    .unwrap_or_else(|| NodeDef::query(id, q.query_id));
                let kind = NodeKind::Query {
                    query_id: q.query_id,
                    parameters: q.query_parameters.unwrap_or_default(),
                };
                (kind, q.performance, behaviour)
            }
            (None, Some(v)) => {
                if v.name.trim().is_empty() {
                    return Reply::error(
                        400,
                        format!("node {id}: materialized_view_refresh.name must not be empty"),
                    );
                }
                let behaviour = lookup_behaviour(shared, |d| {
                    d.materialized_view
                        .as_deref()
                        .is_some_and(|m| m == v.name || short_view_name(m) == v.name)
                })
                .unwrap_or_else(|| NodeDef::materialized_view(id, v.name.clone()));
                (NodeKind::View { name: v.name }, v.performance, behaviour)
            }
            (Some(_), Some(_)) => {
                return Reply::error(
                    400,
                    format!(
                        "node {id}: set exactly one of query_execution and materialized_view_refresh, not both"
                    ),
                );
            }
            (None, None) => {
                return Reply::error(
                    400,
                    format!(
                        "node {id}: set exactly one of query_execution and materialized_view_refresh"
                    ),
                );
            }
        };
        if performance(perf.as_deref()).is_err() {
            return Reply::error(400, format!("node {id}: {PERFORMANCE_ERROR}"));
        }
        if specs.iter().any(|s: &NodeSpec| s.id == id) {
            return Reply::error(400, format!("duplicate node id {id}"));
        }
        specs.push(NodeSpec {
            id,
            kind,
            deps: n.dependencies.unwrap_or_default(),
            behaviour,
        });
    }
    start_pipeline(shared, specs)
}

fn lookup_behaviour(shared: &Shared, pred: impl Fn(&NodeDef) -> bool) -> Option<NodeDef> {
    shared
        .scenario
        .queries
        .iter()
        .flat_map(|q| q.nodes.iter())
        .find(|d| pred(d))
        .cloned()
}

fn start_pipeline(shared: &Shared, specs: Vec<NodeSpec>) -> Reply {
    let graph: Vec<(u64, Vec<u64>)> = specs.iter().map(|s| (s.id, s.deps.clone())).collect();
    let order = match check_graph(&graph) {
        Ok(o) => o,
        Err(e) => return Reply::error(400, format!("invalid pipeline: {e}")),
    };
    let ids: Vec<u64> = specs.iter().map(|s| s.id).collect();
    let now = shared.now();
    let mut state = shared.lock();
    let nodes: Vec<RunNode> = specs
        .into_iter()
        .map(|s| {
            let deps = s
                .deps
                .iter()
                .filter_map(|d| ids.iter().position(|x| x == d))
                .collect();
            let mut behaviour = s.behaviour;
            let sql_seed = match &s.kind {
                NodeKind::Query { query_id, .. } => state
                    .saved
                    .sql(*query_id)
                    .map(|sql| crate::queries::apply(sql, &mut behaviour)),
                NodeKind::View { .. } => None,
            };
            RunNode {
                id: s.id,
                kind: s.kind,
                deps,
                behaviour,
                execution_id: String::new(),
                sql_seed,
            }
        })
        .collect();
    let pipeline_id = state.new_id(shared.unix_millis(now));
    let mut run = PipelineRun::new(now, nodes, order);
    for (i, node) in run.nodes.iter_mut().enumerate() {
        let id = state.new_id(shared.unix_millis(now));
        state
            .executions
            .insert(id.clone(), (pipeline_id.clone(), i));
        node.execution_id = id;
    }
    for (i, node) in run.nodes.iter().enumerate() {
        if let Some(q) = node.query_id() {
            state
                .latest
                .entry(q)
                .or_default()
                .push((pipeline_id.clone(), i));
        }
    }
    state.pipelines.insert(pipeline_id.clone(), run);
    state.pipelines_started += 1;
    Reply::json(200, &json!({ "pipeline_execution_id": pipeline_id }))
}

fn query_pipeline(shared: &Shared, raw_id: &str, params: &Params) -> Reply {
    let query_id = match parse_query_id(raw_id) {
        Ok(q) => q,
        Err(r) => return r,
    };
    let Some(def) = shared.scenario.query(query_id) else {
        return Reply::error(404, "Query not found");
    };
    let perf = match performance(params.get("performance")) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let parameters = match params.get("query_parameters") {
        None | Some("") => Map::new(),
        Some(text) => match serde_json::from_str::<Value>(text) {
            Ok(Value::Object(m)) => m,
            _ => {
                return Reply::error(
                    400,
                    "query_parameters must be a URL-encoded JSON object, e.g. %7B%22chain%22%3A%22base%22%7D",
                );
            }
        },
    };
    let nodes: Vec<Value> = def
        .nodes
        .iter()
        .map(|n| {
            let mut node = Map::new();
            node.insert("id".into(), json!(n.id));
            node.insert("dependencies".into(), json!(n.dependencies));
            match kind_of(n, query_id, &parameters) {
                NodeKind::View { name } => {
                    let name = shared.scenario.view_names_in_definition.apply(&name);
                    node.insert(
                        "materialized_view_refresh".into(),
                        json!({ "name": name, "performance": perf }),
                    );
                }
                NodeKind::Query {
                    query_id,
                    parameters,
                } => {
                    let mut q = Map::new();
                    q.insert("query_id".into(), json!(query_id));
                    q.insert("performance".into(), json!(perf));
                    if !parameters.is_empty() {
                        q.insert("query_parameters".into(), Value::Object(parameters));
                    }
                    node.insert("query_execution".into(), Value::Object(q));
                }
            }
            Value::Object(node)
        })
        .collect();
    Reply::json(200, &json!({ "pipeline": { "nodes": nodes } }))
}

fn node_status_string(shared: &Shared, phase: Phase, forced: Option<&str>) -> String {
    let names = &shared.scenario.status_names;
    let qs = shared.scenario.status_style == StatusStyle::QueryState;
    let pick = |over: &Option<String>, lower: &str, upper: &str| -> String {
        over.clone()
            .unwrap_or_else(|| if qs { upper } else { lower }.to_owned())
    };
    let pending = pick(&names.pending, "pending", "QUERY_STATE_PENDING");
    match phase {
        Phase::Waiting => names.waiting.clone().unwrap_or(pending),
        Phase::Pending => pending,
        Phase::Blocked => names.blocked.clone().unwrap_or(pending),
        Phase::Executing => pick(&names.executing, "executing", "QUERY_STATE_EXECUTING"),
        Phase::Ended(o) => {
            if let Some(f) = forced {
                return f.to_owned();
            }
            match o {
                Outcome::Completed => pick(&names.completed, "completed", "QUERY_STATE_COMPLETED"),
                Outcome::Failed => pick(&names.failed, "failed", "QUERY_STATE_FAILED"),
                Outcome::Cancelled => pick(&names.cancelled, "cancelled", "QUERY_STATE_CANCELLED"),
                Outcome::CompletedPartial => pick(
                    &names.completed_partial,
                    "completed_partial",
                    "QUERY_STATE_COMPLETED_PARTIAL",
                ),
                Outcome::Expired => pick(&names.expired, "expired", "QUERY_STATE_EXPIRED"),
            }
        }
    }
}

fn pipeline_status(shared: &Shared, id: &str) -> Reply {
    let now = shared.now();
    let state = shared.lock();
    let Some(run) = state.pipelines.get(id) else {
        return Reply::error(404, "Pipeline execution not found");
    };
    let t = run.rel(now);
    let nodes: Vec<Value> = run
        .nodes
        .iter()
        .enumerate()
        .map(|(i, n)| {
            let phase = run.phase(i, t);
            let mut st = Map::new();
            st.insert(
                "status".into(),
                json!(node_status_string(
                    shared,
                    phase,
                    n.behaviour.status.as_deref()
                )),
            );
            let (key, other) = match &n.kind {
                NodeKind::Query { query_id, .. } => {
                    st.insert("query_id".into(), json!(query_id));
                    (
                        "query_execution_status",
                        ("materialized_view_refresh_status", json!({"name": ""})),
                    )
                }
                NodeKind::View { name } => {
                    let name = shared.scenario.view_names_in_status.apply(name);
                    st.insert("name".into(), json!(name));
                    (
                        "materialized_view_refresh_status",
                        ("query_execution_status", json!({"query_id": 0})),
                    )
                }
            };
            if run.submitted(i, t) {
                st.insert("execution_id".into(), json!(n.execution_id));
            }
            if phase == Phase::Ended(Outcome::Failed) {
                st.insert("error".into(), json!(n.error_message()));
            }
            let mut node = json!({ "id": n.id, key: st });
            let unused = match shared.scenario.both_status_objects {
                BothStatusObjects::Off => None,
                BothStatusObjects::Null => Some(Value::Null),
                BothStatusObjects::Empty => {
                    let (_, mut empty) = other.clone();
                    for field in ["status", "execution_id", "error"] {
                        empty[field] = json!("");
                    }
                    Some(empty)
                }
            };
            if let (Some(v), Value::Object(m)) = (unused, &mut node) {
                m.insert(other.0.into(), v);
            }
            node
        })
        .collect();
    let names = &shared.scenario.pipeline_status_names;
    let (pstate, culprit) = run.state(t);
    let name = |over: &Option<String>, default: &str| over.clone().unwrap_or(default.to_owned());
    let status = match pstate {
        PipelineState::Pending => name(&names.pending, "pending"),
        PipelineState::Executing => name(&names.executing, "executing"),
        PipelineState::Completed => name(&names.completed, "completed"),
        PipelineState::Failed => name(&names.failed, "failed"),
        PipelineState::Cancelled => name(&names.cancelled, "cancelled"),
    };
    let mut body = Map::new();
    body.insert("status".into(), json!(status));
    body.insert("node_executions".into(), Value::Array(nodes));
    if shared.scenario.pipeline_error {
        let error = match (pstate, culprit.map(|i| (&run.nodes[i], run.phase(i, t)))) {
            (PipelineState::Failed, Some((n, Phase::Ended(Outcome::Expired)))) => {
                Some(format!("{} expired", n.label()))
            }
            (PipelineState::Failed, Some((n, _))) => {
                Some(format!("{} failed: {}", n.label(), n.error_message()))
            }
            (PipelineState::Failed, None) => Some("pipeline execution failed".to_owned()),
            (PipelineState::Cancelled, Some((n, _))) => {
                Some(format!("{} was cancelled", n.label()))
            }
            (PipelineState::Cancelled, None) => Some("pipeline execution was cancelled".to_owned()),
            _ => None,
        };
        if let Some(e) = error {
            body.insert("error".into(), json!(e));
        }
    }
    Reply::json(200, &Value::Object(body))
}

/// Everything the execution endpoints need about one execution, copied out of the lock.
struct ExecView {
    execution_id: String,
    query_id: Option<u64>,
    phase: Phase,
    /// Timestamps, in nanoseconds since the Unix epoch.
    submitted_at: i128,
    started_at: Option<i128>,
    ended_at: Option<i128>,
    queue: Duration,
    run_time: Duration,
    rows: u64,
    columns: u32,
    credits: f64,
    error: Value,
    seed: u64,
    /// The result of raw SQL (`POST /sql/execute`) or of a saved result's `sql`: its own columns and rows.
    sql: Option<Arc<sql::Shape>>,
}

enum Lookup {
    Found(Box<ExecView>),
    /// A real execution id of a node that has not been submitted (yet, or ever).
    NotSubmitted,
    Unknown,
}

fn lookup_execution(shared: &Shared, raw: &str) -> Result<Lookup, Reply> {
    if !is_ulid(raw) {
        return Err(Reply::error(
            400,
            format!("The requested execution ID (ID: {raw}) is invalid."),
        ));
    }
    let id = raw.to_ascii_uppercase();
    let now = shared.now();
    let state = shared.lock();
    if let Some(&li) = state.static_executions.get(&id) {
        return Ok(Lookup::Found(Box::new(static_view(
            shared,
            &shared.scenario.latest_results[li],
            id,
        ))));
    }
    if let Some(run) = state.sql_executions.get(&id) {
        return Ok(Lookup::Found(Box::new(sql_view(shared, &id, run, now))));
    }
    let Some((pid, i)) = state.executions.get(&id) else {
        return Ok(Lookup::Unknown);
    };
    let Some(run) = state.pipelines.get(pid) else {
        return Ok(Lookup::Unknown);
    };
    let t = run.rel(now);
    if !run.submitted(*i, t) {
        return Ok(Lookup::NotSubmitted);
    }
    Ok(Lookup::Found(Box::new(exec_view(shared, run, *i, t))))
}

/// `error` object of a failed execution.
fn error_object(
    error_type: Option<&str>,
    message: String,
    line: Option<u64>,
    column: Option<u64>,
) -> Value {
    let mut error = Map::new();
    error.insert(
        "type".into(),
        json!(error_type.unwrap_or("FAILED_TYPE_EXECUTION_FAILED")),
    );
    error.insert("message".into(), json!(message));
    let mut meta = Map::new();
    if let Some(l) = line {
        meta.insert("line".into(), json!(l));
    }
    if let Some(c) = column {
        meta.insert("column".into(), json!(c));
    }
    if !meta.is_empty() {
        error.insert("metadata".into(), Value::Object(meta));
    }
    Value::Object(error)
}

fn exec_view(shared: &Shared, run: &PipelineRun, i: usize, t: Duration) -> ExecView {
    let node = &run.nodes[i];
    let phase = run.phase(i, t);
    let abs = |d: Duration| shared.timestamp_nanos(shared.event_time(run.created, d));
    let (submit, start, end) = match run.timeline(i) {
        crate::engine::Timeline::Runs {
            submit, start, end, ..
        } => (submit, start, end),
        crate::engine::Timeline::Blocked { at } => (at, None, at),
    };
    let started = start.filter(|s| t >= *s);
    let ended = (t >= end).then_some(end);
    let b = &node.behaviour;
    let credits = match phase {
        Phase::Ended(o) => node.credits(o),
        _ => 0.0,
    };
    ExecView {
        execution_id: node.execution_id.clone(),
        query_id: node.query_id(),
        phase,
        submitted_at: abs(submit),
        started_at: started.map(abs),
        ended_at: ended.map(abs),
        queue: start.unwrap_or(end).saturating_sub(submit),
        run_time: start.map_or(Duration::ZERO, |s| end.saturating_sub(s)),
        rows: node.rows(),
        columns: b.columns.unwrap_or(results::DEFAULT_COLUMNS),
        credits,
        error: error_object(
            b.error_type.as_deref(),
            node.error_message(),
            b.error_line,
            b.error_column,
        ),
        seed: node.sql_seed.unwrap_or_else(|| fnv1a(&node.execution_id)),
        sql: None,
    }
}

/// A scenario's `latest_results` entry: it ended `age` before the epoch (or the simulator's start).
fn static_view(shared: &Shared, l: &LatestResult, execution_id: String) -> ExecView {
    let end = shared
        .timestamp_nanos(Duration::ZERO)
        .saturating_sub(l.age.as_nanos() as i128);
    let start = end.saturating_sub(l.duration.as_nanos() as i128);
    let credits = match l.state {
        Outcome::Failed | Outcome::Cancelled => 0.0,
        _ => 10.0,
    };
    let shape = l.sql.as_deref().map(|q| Arc::new(sql::derive(q)));
    ExecView {
        seed: fnv1a(&execution_id),
        execution_id,
        query_id: Some(l.query_id),
        phase: Phase::Ended(l.state),
        submitted_at: start,
        started_at: Some(start),
        ended_at: Some(end),
        queue: Duration::ZERO,
        run_time: l.duration,
        rows: shape.as_ref().map_or(l.rows.unwrap_or(5), |s| s.rows),
        columns: shape
            .as_ref()
            .map_or(l.columns.unwrap_or(results::DEFAULT_COLUMNS), |s| {
                s.columns.len() as u32
            }),
        credits,
        error: error_object(
            None,
            l.error
                .clone()
                .unwrap_or_else(|| "Query execution failed (simulated)".to_owned()),
            None,
            None,
        ),
        sql: shape,
    }
}

/// A raw-SQL execution: pending for a moment, then [`sql::RUN_TIME`] executing; it fails when its SQL
/// does, at the SQL's line and column.
fn sql_view(shared: &Shared, id: &str, run: &SqlRun, now: Duration) -> ExecView {
    let abs = |d: Duration| shared.timestamp_nanos(d);
    let t = now.saturating_sub(run.created);
    let queue = Duration::from_millis(200);
    let end = run.cancelled.unwrap_or(queue + sql::RUN_TIME);
    let outcome = match (&run.shape.error, run.cancelled) {
        (_, Some(_)) => Outcome::Cancelled,
        (Some(_), None) => Outcome::Failed,
        (None, None) => Outcome::Completed,
    };
    let phase = if t >= end {
        Phase::Ended(outcome)
    } else if t >= queue {
        Phase::Executing
    } else {
        Phase::Pending
    };
    let error = run.shape.error.as_ref();
    ExecView {
        execution_id: id.to_owned(),
        query_id: Some(0),
        phase,
        submitted_at: abs(run.created),
        started_at: (t >= queue).then(|| abs(run.created + queue)),
        ended_at: (t >= end).then(|| abs(run.created + end)),
        queue,
        run_time: end.saturating_sub(queue),
        rows: run.shape.rows,
        columns: run.shape.columns.len() as u32,
        credits: if outcome == Outcome::Completed {
            sql::credits(&run.shape)
        } else {
            0.0
        },
        error: error_object(
            Some("FAILED_TYPE_EXECUTION_FAILED"),
            error.map_or_else(String::new, |e| e.message.clone()),
            error.map(|e| e.line),
            error.map(|e| e.column),
        ),
        seed: fnv1a(id),
        sql: Some(run.shape.clone()),
    }
}

/// `POST /sql/execute` with `{"sql": ..., "performance": ...}`: a new execution of the SQL, saved
/// nowhere (its status and results report `query_id` 0, as Dune's do).
fn execute_sql(shared: &Shared, body: &[u8]) -> Reply {
    #[derive(Deserialize)]
    struct Body {
        sql: Option<String>,
        performance: Option<String>,
    }
    let req: Body = match serde_json::from_slice(body) {
        Ok(b) => b,
        Err(e) => return Reply::error(400, format!("invalid request body: {e}")),
    };
    let Some(text) = req.sql.filter(|s| !s.trim().is_empty()) else {
        return Reply::error(400, "sql is required");
    };
    if let Err(r) = performance(req.performance.as_deref()) {
        return r;
    }
    let now = shared.now();
    let mut state = shared.lock();
    let id = state.new_id(shared.unix_millis(now));
    state.sql_executions.insert(
        id.clone(),
        SqlRun {
            created: now,
            shape: Arc::new(sql::derive(&text)),
            cancelled: None,
        },
    );
    Reply::json(
        200,
        &json!({"execution_id": id, "state": "QUERY_STATE_PENDING"}),
    )
}

/// One `POST /sql/execute`.
pub(crate) struct SqlRun {
    /// Virtual time of the request.
    pub(crate) created: Duration,
    pub(crate) shape: Arc<sql::Shape>,
    /// When it was cancelled (since `created`).
    pub(crate) cancelled: Option<Duration>,
}

impl ExecView {
    fn state(&self) -> &'static str {
        match self.phase {
            Phase::Waiting | Phase::Blocked | Phase::Pending => "QUERY_STATE_PENDING",
            Phase::Executing => "QUERY_STATE_EXECUTING",
            Phase::Ended(Outcome::Completed) => "QUERY_STATE_COMPLETED",
            Phase::Ended(Outcome::CompletedPartial) => "QUERY_STATE_COMPLETED_PARTIAL",
            Phase::Ended(Outcome::Failed) => "QUERY_STATE_FAILED",
            Phase::Ended(Outcome::Cancelled) => "QUERY_STATE_CANCELLED",
            Phase::Ended(Outcome::Expired) => "QUERY_STATE_EXPIRED",
        }
    }

    fn outcome(&self) -> Option<Outcome> {
        match self.phase {
            Phase::Ended(o) => Some(o),
            _ => None,
        }
    }

    /// Fields shared by the status and results responses.
    fn common(&self) -> Map<String, Value> {
        let ts = |n: i128| json!(format_timestamp(n));
        let mut m = Map::new();
        m.insert("execution_id".into(), json!(self.execution_id));
        if let Some(q) = self.query_id {
            m.insert("query_id".into(), json!(q));
        }
        m.insert("state".into(), json!(self.state()));
        m.insert(
            "is_execution_finished".into(),
            json!(self.outcome().is_some()),
        );
        m.insert("submitted_at".into(), ts(self.submitted_at));
        if let Some(s) = self.started_at {
            m.insert("execution_started_at".into(), ts(s));
        }
        if let Some(e) = self.ended_at {
            m.insert("execution_ended_at".into(), ts(e));
            match self.outcome() {
                Some(Outcome::Completed | Outcome::CompletedPartial) => {
                    m.insert(
                        "expires_at".into(),
                        ts(e.saturating_add(RESULT_RETENTION.as_nanos() as i128)),
                    );
                }
                Some(Outcome::Expired) => {
                    m.insert("expires_at".into(), ts(e));
                }
                Some(Outcome::Cancelled) => {
                    m.insert("cancelled_at".into(), ts(e));
                }
                Some(Outcome::Failed) => {
                    m.insert("error".into(), self.error.clone());
                }
                None => {}
            }
        }
        m
    }

    fn metadata(&self, page_rows: u64, page_bytes: Option<u64>) -> Value {
        let total_bytes = match &self.sql {
            Some(s) => s.total_bytes(),
            None => results::estimated_total_bytes(self.rows, self.columns),
        };
        let (names, types) = match &self.sql {
            Some(s) => (s.column_names(), s.column_types()),
            None => (
                results::column_names(self.columns),
                results::column_types(self.columns)
                    .into_iter()
                    .map(str::to_owned)
                    .collect(),
            ),
        };
        json!({
            "column_names": names,
            "column_types": types,
            "row_count": page_rows,
            "result_set_bytes": page_bytes.unwrap_or(total_bytes),
            "total_row_count": self.rows,
            "total_result_set_bytes": total_bytes,
            "datapoint_count": self.rows.saturating_mul(u64::from(self.columns)),
            "pending_time_millis": self.queue.as_millis() as u64,
            "execution_time_millis": self.run_time.as_millis() as u64,
        })
    }
}

/// A JSON number, integral when the value is (`10` rather than `10.0`, like Dune's examples).
fn number(x: f64) -> Value {
    if x.fract() == 0.0 && (0.0..9.0e15).contains(&x) {
        json!(x as u64)
    } else {
        json!(x)
    }
}

fn not_found_execution() -> Reply {
    Reply::error(404, "Execution not found")
}

fn execution_status(shared: &Shared, raw: &str) -> Reply {
    let view = match lookup_execution(shared, raw) {
        Ok(Lookup::Found(v)) => *v,
        Ok(_) => return not_found_execution(),
        Err(r) => return r,
    };
    let mut m = view.common();
    if view.phase == Phase::Pending {
        m.insert("queue_position".into(), json!(1));
    }
    if view.outcome() == Some(Outcome::Completed) {
        m.insert("result_metadata".into(), view.metadata(view.rows, None));
    }
    m.insert("execution_cost_credits".into(), number(view.credits));
    Reply::json(200, &Value::Object(m))
}

const PARTIAL_ERROR: &str = "Partial Result, please request with 'allow_partial_results=true'";

/// Message of the 400 for a page above `max_datapoints_per_request`. A guess: Dune documents the
/// 250,000 datapoints default and the `ignore_max_datapoints_per_request` parameter, but not the
/// status code or wording of the response.
fn datapoint_error(datapoints: u64, cap: u64) -> String {
    format!(
        "This request would return {datapoints} datapoints, above the limit of {cap} datapoints per request. Request fewer rows or columns (limit, columns), or set ignore_max_datapoints_per_request=true."
    )
}

fn execution_results(shared: &Shared, raw: &str, params: &Params, csv: bool) -> Reply {
    let view = match lookup_execution(shared, raw) {
        Ok(Lookup::Found(v)) => *v,
        Ok(_) => return not_found_execution(),
        Err(r) => return r,
    };
    let path = format!("/api/v1/execution/{}/results", view.execution_id);
    results_page(shared, &view, &path, params, csv)
}

/// `GET /query/{id}/results[/csv]`: the newest ended execution of the query by a pipeline of this
/// simulator, else the scenario's `latest_results` entry, else 404.
fn query_results(shared: &Shared, raw: &str, params: &Params, csv: bool) -> Reply {
    let query_id = match parse_query_id(raw) {
        Ok(q) => q,
        Err(r) => return r,
    };
    let now = shared.now();
    let view = {
        let state = shared.lock();
        let from_pipeline = state.latest.get(&query_id).and_then(|runs| {
            runs.iter().rev().find_map(|(pid, i)| {
                let run = state.pipelines.get(pid)?;
                let t = run.rel(now);
                matches!(run.phase(*i, t), Phase::Ended(_)).then(|| exec_view(shared, run, *i, t))
            })
        });
        from_pipeline.or_else(|| {
            let li = shared
                .scenario
                .latest_results
                .iter()
                .position(|l| l.query_id == query_id)?;
            let id = state.static_ids.get(li)?.clone();
            Some(static_view(shared, &shared.scenario.latest_results[li], id))
        })
    };
    let Some(view) = view else {
        let known = shared.scenario.queries.iter().any(|q| {
            q.query_id == query_id || q.nodes.iter().any(|n| n.query_id == Some(query_id))
        });
        return Reply::error(
            404,
            if known {
                "No execution found for this query"
            } else {
                "Query not found"
            },
        );
    };
    let path = format!("/api/v1/query/{query_id}/results");
    results_page(shared, &view, &path, params, csv)
}

/// A page of results (JSON or CSV) of `view`; `path` is the endpoint `next_uri` points back to.
fn results_page(shared: &Shared, view: &ExecView, path: &str, params: &Params, csv: bool) -> Reply {
    let (limit, offset, allow_partial, ignore_cap) = match (
        params.u64("limit"),
        params.u64("offset"),
        params.bool("allow_partial_results"),
        params.bool("ignore_max_datapoints_per_request"),
    ) {
        (Ok(l), Ok(o), Ok(a), Ok(i)) => (l, o.unwrap_or(0), a, i),
        (Err(r), _, _, _) | (_, Err(r), _, _) | (_, _, Err(r), _) | (_, _, _, Err(r)) => {
            return r;
        }
    };
    let has_rows = match view.outcome() {
        Some(Outcome::Completed) => true,
        Some(Outcome::CompletedPartial) if allow_partial => true,
        Some(Outcome::CompletedPartial) => match shared.scenario.partial_results_without_allow {
            PartialResults::Error => return Reply::error(400, PARTIAL_ERROR),
            PartialResults::PartialState if !csv => {
                return Reply::json(200, &Value::Object(view.common()));
            }
            PartialResults::FailedState if !csv => {
                let mut m = view.common();
                m.insert("state".into(), json!("QUERY_STATE_FAILED"));
                m.remove("expires_at");
                m.insert(
                    "error".into(),
                    error_object(
                        Some("FAILED_TYPE_RESULT_TOO_LARGE"),
                        PARTIAL_ERROR.to_owned(),
                        None,
                        None,
                    ),
                );
                return Reply::json(200, &Value::Object(m));
            }
            _ => false,
        },
        _ => false,
    };
    if !has_rows {
        if csv {
            return Reply::error(
                400,
                format!(
                    "execution {} is in state {}: no results to download",
                    view.execution_id,
                    view.state()
                ),
            );
        }
        return Reply::json(200, &Value::Object(view.common()));
    }
    let max = shared.scenario.max_page_rows;
    let mut limit = match limit {
        None | Some(0) => max,
        Some(l) => l.min(max),
    };
    let total = view.rows;
    let start = offset.min(total);
    let mut end = start.saturating_add(limit).min(total);
    let cols = u64::from(view.columns.max(1));
    let cap = shared.scenario.max_datapoints_per_request;
    let datapoints = (end - start).saturating_mul(cols);
    if cap > 0 && !ignore_cap && datapoints > cap {
        match shared.scenario.datapoint_limit_response {
            DatapointLimitResponse::Error => {
                return Reply::error(400, datapoint_error(datapoints, cap));
            }
            DatapointLimitResponse::Shorten => {
                limit = (cap / cols).max(1);
                end = start.saturating_add(limit).min(total);
            }
        }
    }
    let next = (end < total).then_some(end);
    let next_uri = |suffix: &str| {
        next.map(|n| {
            let mut uri = format!("{}{path}{suffix}?limit={limit}&offset={n}", shared.base_url);
            if allow_partial {
                uri.push_str("&allow_partial_results=true");
            }
            if ignore_cap {
                uri.push_str("&ignore_max_datapoints_per_request=true");
            }
            uri
        })
    };
    let columns = view.columns;
    if csv {
        let per_row = 10 * u64::from(columns);
        let mut out = String::with_capacity(capacity(end - start, per_row));
        match &view.sql {
            Some(s) => s.write_csv(&mut out, start, end),
            None => results::write_csv(&mut out, view.seed, start, end, columns),
        }
        let mut reply = Reply::raw(200, "text/csv", out);
        if let (Some(n), Some(uri)) = (next, next_uri("/csv")) {
            reply.headers.push(("x-dune-next-uri", uri));
            reply.headers.push(("x-dune-next-offset", n.to_string()));
        }
        return reply;
    }
    let mut head = view.common();
    if let (Some(n), Some(uri)) = (next, next_uri("")) {
        head.insert("next_uri".into(), json!(uri));
        head.insert("next_offset".into(), json!(n));
    }
    // Write `{...head, "result": {"rows": [...], "metadata": {...}}}` without building a Value per row.
    let head = Value::Object(head).to_string();
    let per_row = 20 * u64::from(columns);
    let mut out = String::with_capacity(capacity(end - start, per_row) + head.len());
    out.push_str(&head[..head.len() - 1]);
    out.push_str(",\"result\":{\"rows\":[");
    let (bytes, header) = match &view.sql {
        Some(s) => (
            s.write_json_rows(&mut out, start, end),
            s.column_names().iter().map(|c| c.len() as u64).sum(),
        ),
        None => (
            results::write_json_rows(&mut out, view.seed, start, end, columns),
            results::header_bytes(columns),
        ),
    };
    out.push_str("],\"metadata\":");
    let meta = view.metadata(end - start, Some(header + bytes));
    out.push_str(&meta.to_string());
    out.push_str("}}");
    Reply::raw(200, "application/json", out)
}

/// A buffer size hint for `rows` rows of about `per_row` bytes, capped at 64 MiB.
fn capacity(rows: u64, per_row: u64) -> usize {
    usize::try_from(
        rows.saturating_mul(per_row)
            .saturating_add(512)
            .min(64 << 20),
    )
    .unwrap_or(0)
}

fn cancel_execution(shared: &Shared, raw: &str) -> Reply {
    if !is_ulid(raw) {
        return Reply::error(
            400,
            format!("The requested execution ID (ID: {raw}) is invalid."),
        );
    }
    let id = raw.to_ascii_uppercase();
    let now = shared.now();
    let mut state = shared.lock();
    if state.static_executions.contains_key(&id) {
        return Reply::json(200, &json!({ "success": false }));
    }
    if let Some(run) = state.sql_executions.get_mut(&id) {
        let t = now.saturating_sub(run.created);
        let running = run.cancelled.is_none() && t < Duration::from_millis(200) + sql::RUN_TIME;
        if running {
            run.cancelled = Some(t);
            state.cancelled.push(id);
        }
        return Reply::json(200, &json!({ "success": running }));
    }
    let Some((pid, i)) = state.executions.get(&id).cloned() else {
        return not_found_execution();
    };
    let cancelled = match state.pipelines.get_mut(&pid) {
        Some(run) => {
            let t = run.rel(now);
            run.cancel(i, t)
        }
        None => false,
    };
    if cancelled {
        state.cancelled.push(id);
    }
    Reply::json(200, &json!({ "success": cancelled }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes() {
        assert_eq!(
            Route::parse("POST", "/api/v1/query/12/pipeline/execute"),
            Route::QueryPipelineExecute("12".into())
        );
        assert_eq!(
            Route::parse("GET", "/api/v1/execution/X/results/csv"),
            Route::ExecutionResultsCsv("X".into())
        );
        assert_eq!(
            Route::parse("GET", "/api/v1/query/12/pipeline/execute"),
            Route::NotFound
        );
        assert_eq!(
            Route::parse("GET", "/v1/pipelines/execute"),
            Route::NotFound
        );
        assert_eq!(Route::NotFound.endpoint(), None);
    }
}
