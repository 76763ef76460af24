//! Pipelines: `POST /query/{id}/pipeline/execute`, `POST /pipelines/execute`, `GET /query/{id}/pipeline`
//! (a saved query's pipeline definition) and `GET /pipelines/executions/{id}/status`.

use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::api::params::{PERFORMANCE_ERROR, Params, parse_query_id, performance};
use crate::api::reply::Reply;
use crate::engine::{NodeKind, Phase, PipelineRun, PipelineState, RunNode};
use crate::scenario::validation::check_graph;
use crate::scenario::{BothStatusObjects, NodeDef, Outcome, StatusStyle, short_view_name};
use crate::state::Shared;

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
    /// On the large tier.
    large: bool,
}

pub(super) fn execute_query_pipeline(shared: &Shared, raw_id: &str, body: &[u8]) -> Reply {
    let query_id = match parse_query_id(raw_id) {
        Ok(q) => q,
        Err(r) => return r,
    };
    let Some(def) = shared.scenario.query(query_id) else {
        return Reply::error(404, "Query not found");
    };
    let (performance, parameters) = match parse_execute_body(body) {
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
            large: performance == "large",
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

pub(super) fn execute_pipeline(shared: &Shared, body: &[u8]) -> Reply {
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
            large: perf.as_deref() == Some("large"),
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
    let now = shared.clock.now();
    let mut state = shared.lock();
    let nodes: Vec<RunNode> = specs
        .into_iter()
        .map(|s| {
            let deps = s
                .deps
                .iter()
                .filter_map(|d| ids.iter().position(|x| x == d))
                .collect();
            // The query's SQL now decides its rows and whether it fails.
            let mut behaviour = s.behaviour;
            let sql_seed = match &s.kind {
                NodeKind::Query { query_id, .. } => state
                    .saved
                    .get(*query_id)
                    .map(|(sql, _)| crate::sql::apply(sql, &mut behaviour)),
                NodeKind::View { .. } => None,
            };
            RunNode {
                id: s.id,
                kind: s.kind,
                deps,
                behaviour,
                execution_id: String::new(),
                large: s.large,
                sql_seed,
            }
        })
        .collect();
    let pipeline_id = state.new_id(shared.clock.unix_millis(now));
    let mut run = PipelineRun::new(now, nodes, order);
    for (i, node) in run.nodes.iter_mut().enumerate() {
        let id = state.new_id(shared.clock.unix_millis(now));
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

pub(super) fn query_pipeline(shared: &Shared, raw_id: &str, params: &Params) -> Reply {
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

pub(super) fn pipeline_status(shared: &Shared, id: &str) -> Reply {
    let now = shared.clock.now();
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
