//! Contract test: every JSON body the simulator sends is validated against the response schema that
//! Dune's official OpenAPI spec (vendored in `tests/spec/`) declares for that path, method and status.
//!
//! The spec is resolved (`$ref`s into `components/schemas` inlined) and tightened, because as
//! published it would accept almost anything:
//!
//! - **Closed objects.** Every object schema with non-empty `properties` gets
//!   `additionalProperties: false`, so a misspelled or invented field fails (`properties: {}`, as on
//!   `query_parameters`, stays a free-form map).
//! - **Required fields.** The spec marks no response field `required`. [`REQUIRED`] adds the fields
//!   Dune's official SDKs (Python, TypeScript, Go) read unconditionally, so dropping one fails.
//! - **Exemption: `models.Row`.** The spec says every row value is an object (`additionalProperties:
//!   {type: object}`, a generator artefact of Go's `map[string]interface{}`); Dune's own examples and
//!   SDKs have strings, numbers and nulls. Rows are validated as plain objects.
//! - **Undeclared statuses.** 402/403 are not declared on the pipeline paths (and 401 not on
//!   `/query/{id}/results`); such bodies are validated against `models.Error402`/`Error403`/...
//! - **CSV.** The spec declares `text/plain` for `/results/csv`; the simulator sends `text/csv` (what
//!   Dune sends, per the SDKs). CSV error bodies are JSON and validated against the error schemas.
//! - Timestamps (`*_at`) must also parse as RFC 3339.
//!
//! Deliberately-off variants (see `variants_against_the_spec`): the other status vocabularies,
//! `both_status_objects: empty` and short view names validate strictly (the spec has no enums for
//! statuses). Only `both_status_objects: null` is exempt, for exactly the two properties
//! `query_execution_status` and `materialized_view_refresh_status` of `models.PipelineNodeExecution`,
//! which are allowed to be `null` there.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeSet;

use common::{Api, KEY};
use dune_sim::{BothStatusObjects, Fault, FaultEndpoint, FaultResponse, Scenario, ViewNames};
use serde_json::{Map, Value, json};

const SPEC: &str = include_str!("spec/dune-openapi.json");

/// Fields the official SDKs always read, per schema (the spec itself requires none).
const REQUIRED: &[(&str, &[&str])] = &[
    (
        "models.ExecuteQueryPipelineResponse",
        &["pipeline_execution_id"],
    ),
    ("models.ExecutePipelineResponse", &["pipeline_execution_id"]),
    ("models.GetQueryPipelineResponse", &["pipeline"]),
    ("models.Pipeline", &["nodes"]),
    ("models.PipelineNode", &["id", "dependencies"]),
    ("models.PipelineQueryExecutionNode", &["query_id"]),
    ("models.PipelineMaterializedViewRefreshNode", &["name"]),
    (
        "models.GetPipelineExecutionStatusResponse",
        &["status", "node_executions"],
    ),
    ("models.PipelineNodeExecution", &["id"]),
    (
        "models.PipelineQueryExecutionStatus",
        &["status", "query_id"],
    ),
    (
        "models.PipelineMaterializedViewRefreshStatus",
        &["status", "name"],
    ),
    (
        "models.GetExecutionStatusResponse",
        &[
            "execution_id",
            "state",
            "is_execution_finished",
            "submitted_at",
        ],
    ),
    (
        "models.ReadExecutionResultResponse",
        &[
            "execution_id",
            "state",
            "is_execution_finished",
            "submitted_at",
        ],
    ),
    ("models.QueryResultData", &["rows", "metadata"]),
    (
        "models.ExecutionResultMetadata",
        &["column_names", "row_count", "total_row_count"],
    ),
    ("models.QueryResultError", &["type", "message"]),
    ("models.CancelQueryExecutionResponse", &["success"]),
    // Not read by the SDKs: what the action's `max_age` check reads of a view.
    (
        "matviews.MatviewsGetResponse",
        &["id", "last_execution_ids"],
    ),
    ("models.Error400", &["error"]),
    ("models.Error401", &["error"]),
    ("models.Error402", &["error"]),
    ("models.Error403", &["error"]),
    ("models.Error404", &["error"]),
    ("models.Error500", &["error"]),
];

/// Every (method, spec path) the simulator serves; each must be exercised.
const ENDPOINTS: &[(&str, &str)] = &[
    ("POST", "/v1/query/{query_id}/pipeline/execute"),
    ("POST", "/v1/pipelines/execute"),
    ("GET", "/v1/query/{query_id}/pipeline"),
    (
        "GET",
        "/v1/pipelines/executions/{pipeline_execution_id}/status",
    ),
    ("GET", "/v1/execution/{execution_id}/status"),
    ("GET", "/v1/execution/{execution_id}/results"),
    ("GET", "/v1/execution/{execution_id}/results/csv"),
    ("POST", "/v1/execution/{execution_id}/cancel"),
    ("GET", "/v1/query/{query_id}/results"),
    ("GET", "/v1/query/{query_id}/results/csv"),
    ("POST", "/v1/sql/execute"),
    ("GET", "/v1/materialized-views/{name}"),
];

/// Deliberate deviations a variant is allowed.
#[derive(Clone, Copy, Default)]
struct Exempt {
    /// `both_status_objects: null`: the two status objects of a node may be `null`.
    null_status_objects: bool,
}

struct Checker {
    spec: Value,
    exempt: Exempt,
    violations: Vec<String>,
    seen: BTreeSet<(String, String, u16)>,
    checked: usize,
}

/// `/api/v1/execution/X/results` -> `/v1/execution/{execution_id}/results`.
fn spec_path(path: &str) -> String {
    let rest = path.strip_prefix("/api/v1/").unwrap();
    let segs: Vec<&str> = rest.split('/').collect();
    match segs.as_slice() {
        ["query", _] => "/v1/query/{queryId}".to_owned(),
        ["query", _, tail @ ..] => format!("/v1/query/{{query_id}}/{}", tail.join("/")),
        ["pipelines", "executions", _, "status"] => {
            "/v1/pipelines/executions/{pipeline_execution_id}/status".to_owned()
        }
        ["execution", _, tail @ ..] => format!("/v1/execution/{{execution_id}}/{}", tail.join("/")),
        ["materialized-views", _] => "/v1/materialized-views/{name}".to_owned(),
        _ => format!("/v1/{rest}"),
    }
}

impl Checker {
    fn new(exempt: Exempt) -> Checker {
        Checker {
            spec: serde_json::from_str(SPEC).unwrap(),
            exempt,
            violations: Vec::new(),
            seen: BTreeSet::new(),
            checked: 0,
        }
    }

    /// The resolved, tightened schema of a component.
    fn component(&self, name: &str) -> Value {
        let raw = self.spec["components"]["schemas"]
            .get(name)
            .unwrap_or_else(|| panic!("no schema {name} in the spec"))
            .clone();
        if name == "models.Row" {
            return json!({"type": "object"});
        }
        let mut schema = self.resolve(raw);
        if let Some(obj) = schema.as_object_mut() {
            if let Some((_, req)) = REQUIRED.iter().find(|(n, _)| *n == name) {
                obj.insert("required".into(), json!(req));
            }
            if name == "models.PipelineNodeExecution" && self.exempt.null_status_objects {
                let props = obj["properties"].as_object_mut().unwrap();
                for key in ["query_execution_status", "materialized_view_refresh_status"] {
                    let orig = props[key].take();
                    props[key] = json!({"anyOf": [{"type": "null"}, orig]});
                }
            }
        }
        schema
    }

    fn resolve(&self, v: Value) -> Value {
        match v {
            Value::Object(mut m) => {
                if let Some(Value::String(r)) = m.get("$ref") {
                    let name = r.strip_prefix("#/components/schemas/").unwrap().to_owned();
                    return self.component(&name);
                }
                for key in ["description", "example"] {
                    if !matches!(m.get(key), Some(Value::Object(_))) {
                        m.remove(key);
                    }
                }
                let mut out = Map::new();
                for (k, v) in m {
                    out.insert(k, self.resolve(v));
                }
                // `properties: {}` is a free-form map (`query_parameters`): left open.
                let has_props = out
                    .get("properties")
                    .and_then(Value::as_object)
                    .is_some_and(|p| !p.is_empty());
                if has_props && !out.contains_key("additionalProperties") {
                    out.insert("additionalProperties".into(), json!(false));
                }
                Value::Object(out)
            }
            Value::Array(a) => Value::Array(a.into_iter().map(|x| self.resolve(x)).collect()),
            other => other,
        }
    }

    /// The schema for a response, and where it came from.
    fn response_schema(&self, method: &str, path: &str, status: u16) -> Option<(String, Value)> {
        let op = &self.spec["paths"][path][method.to_ascii_lowercase()];
        assert!(op.is_object(), "the spec has no {method} {path}");
        let declared = op["responses"][status.to_string()]["content"]
            .as_object()
            .and_then(|c| c.values().next())
            .map(|c| c["schema"].clone());
        match declared {
            Some(schema) => Some((format!("{method} {path} {status}"), self.resolve(schema))),
            None => {
                let name = format!("models.Error{status}");
                self.spec["components"]["schemas"].get(&name)?;
                Some((
                    format!("{name} (status not declared for {method} {path})"),
                    self.component(&name),
                ))
            }
        }
    }

    fn validate(&mut self, method: &str, path: &str, status: u16, body: &Value) {
        let template = spec_path(path);
        self.seen
            .insert((method.to_owned(), template.clone(), status));
        let Some((what, schema)) = self.response_schema(method, &template, status) else {
            self.violations.push(format!(
                "{method} {path} -> {status}: no schema in the spec for this status"
            ));
            return;
        };
        let validator = jsonschema::validator_for(&schema).unwrap();
        for e in validator.iter_errors(body) {
            self.violations.push(format!(
                "{method} {path} -> {status} vs {what}: at {:?}: {e}",
                e.instance_path().to_string()
            ));
        }
        check_timestamps(body, &mut |field, text| {
            if humantime::parse_rfc3339(text).is_err() {
                self.violations.push(format!(
                    "{method} {path} -> {status}: {field} {text:?} is not RFC 3339"
                ));
            }
        });
        self.checked += 1;
    }

    /// Sends a request (with the API key unless `key` is false) and validates the response.
    async fn call(
        &mut self,
        api: &Api,
        method: &str,
        path: &str,
        body: Option<&str>,
    ) -> (u16, Value) {
        self.send(api, method, path, body, true).await
    }

    /// Sends each `(method, suffix)` to `/api/v1/execution/{exec}{suffix}` and validates the responses.
    async fn execution(&mut self, api: &Api, exec: &str, requests: &[(&str, &str)]) {
        for (method, suffix) in requests {
            let path = format!("/api/v1/execution/{exec}{suffix}");
            self.call(api, method, &path, None).await;
        }
    }

    async fn send(
        &mut self,
        api: &Api,
        method: &str,
        path: &str,
        body: Option<&str>,
        key: bool,
    ) -> (u16, Value) {
        let url = format!("{}{path}", api.sim.base_url());
        let mut req = match method {
            "GET" => api.http.get(url),
            "PATCH" => api.http.patch(url),
            _ => api.http.post(url),
        };
        if key {
            req = req.header("X-Dune-Api-Key", KEY);
        }
        if let Some(b) = body {
            req = req
                .header("Content-Type", "application/json")
                .body(b.to_owned());
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let ct = resp.headers()["content-type"].to_str().unwrap().to_owned();
        let text = resp.text().await.unwrap();
        let url_path = path.split('?').next().unwrap();
        if url_path.ends_with("/csv") && status == 200 {
            self.seen
                .insert((method.to_owned(), spec_path(url_path), status));
            if ct != "text/csv" {
                self.violations
                    .push(format!("{method} {path} -> {status}: content type {ct}"));
            }
            return (status, Value::String(text));
        }
        if ct != "application/json" {
            self.violations
                .push(format!("{method} {path} -> {status}: content type {ct}"));
        }
        let value: Value = match serde_json::from_str(&text) {
            Ok(v) => v,
            Err(e) => {
                self.violations.push(format!(
                    "{method} {path} -> {status}: not JSON ({e}): {text}"
                ));
                return (status, Value::Null);
            }
        };
        self.validate(method, url_path, status, &value);
        (status, value)
    }

    /// Polls a pipeline (validating every status response) until none of `running`.
    async fn wait(&mut self, api: &Api, pipeline: &str, running: &[&str]) -> Value {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let (_, s) = self
                .call(
                    api,
                    "GET",
                    &format!("/api/v1/pipelines/executions/{pipeline}/status"),
                    None,
                )
                .await;
            if !running.contains(&s["status"].as_str().unwrap_or("")) {
                return s;
            }
            assert!(std::time::Instant::now() < deadline, "{s}");
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    }

    fn finish(self, expect_endpoints: bool) {
        if expect_endpoints {
            for (m, p) in ENDPOINTS {
                assert!(
                    self.seen.iter().any(|(sm, sp, _)| sm == m && sp == p),
                    "{m} {p} was never exercised"
                );
            }
        }
        assert!(
            self.violations.is_empty(),
            "{} of {} responses violate Dune's OpenAPI spec:\n{}",
            self.violations.len(),
            self.checked,
            self.violations.join("\n")
        );
    }
}

fn check_timestamps(v: &Value, f: &mut impl FnMut(&str, &str)) {
    match v {
        Value::Object(m) => {
            for (k, v) in m {
                match v {
                    Value::String(s) if k.ends_with("_at") => f(k, s),
                    _ => check_timestamps(v, f),
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|x| check_timestamps(x, f)),
        _ => {}
    }
}

fn node_exec(status: &Value, i: usize) -> String {
    let n = &status["node_executions"][i];
    let s = if n["query_execution_status"].is_object() {
        &n["query_execution_status"]
    } else {
        &n["materialized_view_refresh_status"]
    };
    s["execution_id"].as_str().unwrap().to_owned()
}

const DONE_LOWER: &[&str] = &["pending", "executing"];

fn fast_scenario() -> Scenario {
    Scenario::from_yaml_or_json(
        r#"
time_scale: 5000
epoch: "2026-01-01T00:00:00Z"
max_datapoints_per_request: 40
latest_results:
  - {query_id: 100, age: 10m, rows: 30}
  - {query_id: 700, age: 1h, state: failed, error: boom}
  - {query_id: 701, age: 1h, state: cancelled}
materialized_views:
  - {name: dune.acme.mv_contract, age: 2h, query_id: 4321, credits: 7.5}
queries:
  - query_id: 100
    nodes:
      - {id: 1, materialized_view: dune.acme.mv_contract, duration: 5s}
      - {id: 2, query_id: 101, dependencies: [1], duration: 5s, rows: 25}
      - {id: 3, query_id: 100, dependencies: [2], duration: 5s, rows: 3}
  - query_id: 200
    nodes:
      - {id: 1, query_id: 201, duration: 5s, outcome: failed, error: "line 1:8: x", error_line: 1, error_column: 8}
      - {id: 2, query_id: 200, dependencies: [1]}
  - query_id: 300
    nodes:
      - {id: 1, query_id: 300, duration: 5s, outcome: completed_partial, rows: 4}
  - query_id: 400
    nodes:
      - {id: 1, query_id: 400, duration: 5s, outcome: expired}
"#,
    )
    .unwrap()
}

#[tokio::test]
async fn every_endpoint_matches_the_spec() {
    let mut c = Checker::new(Exempt::default());
    let api = Api::start(fast_scenario()).await;

    // Raw SQL: an execution that completes, one that fails at a line and column, and bad bodies; both
    // executions read through the usual endpoints.
    let mut sql_executions = Vec::new();
    for body in [
        r#"{"sql": "SELECT id, volume FROM t LIMIT 30", "performance": "medium"}"#,
        r#"{"sql": "SELECT id,\nFROM t"}"#,
    ] {
        let (status, started) = c
            .call(&api, "POST", "/api/v1/sql/execute", Some(body))
            .await;
        assert_eq!(status, 200, "{started}");
        sql_executions.push(started["execution_id"].as_str().unwrap().to_owned());
    }
    for body in [
        r#"{"performance": "large"}"#,
        r#"{"sql": "SELECT 1", "performance": "huge"}"#,
    ] {
        let (status, _) = c
            .call(&api, "POST", "/api/v1/sql/execute", Some(body))
            .await;
        assert_eq!(status, 400);
    }
    // 2.2 s of virtual time at 5000x.
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    for exec in &sql_executions {
        c.execution(
            &api,
            exec,
            &[
                ("GET", "/status"),
                ("GET", "/results?limit=5"),
                ("GET", "/results/csv?limit=5"),
            ],
        )
        .await;
    }

    // Latest results before any pipeline ran (scenario `latest_results`), and their errors.
    c.call(&api, "GET", "/api/v1/query/100/results?limit=10", None)
        .await;
    c.call(
        &api,
        "GET",
        "/api/v1/query/100/results?limit=1000&ignore_max_datapoints_per_request=true",
        None,
    )
    .await;
    c.call(&api, "GET", "/api/v1/query/100/results/csv?limit=5", None)
        .await;
    c.call(&api, "GET", "/api/v1/query/700/results", None).await;
    c.call(&api, "GET", "/api/v1/query/701/results", None).await;
    c.call(&api, "GET", "/api/v1/query/999/results", None).await;
    c.call(&api, "GET", "/api/v1/query/abc/results", None).await;
    c.call(&api, "GET", "/api/v1/query/999/results/csv", None)
        .await;

    // Pipeline definition.
    c.call(&api, "GET", "/api/v1/query/100/pipeline", None)
        .await;
    c.call(&api, "GET", "/api/v1/query/100/pipeline?performance=large&query_parameters=%7B%22chain%22%3A%22base%22%7D", None).await;
    c.call(&api, "GET", "/api/v1/query/999/pipeline", None)
        .await;
    c.call(
        &api,
        "GET",
        "/api/v1/query/100/pipeline?performance=huge",
        None,
    )
    .await;

    // Execute: errors, then a completed pipeline followed to the end.
    c.send(
        &api,
        "POST",
        "/api/v1/query/100/pipeline/execute",
        None,
        false,
    )
    .await;
    c.call(
        &api,
        "POST",
        "/api/v1/query/100/pipeline/execute",
        Some(r#"{"performance": "huge"}"#),
    )
    .await;
    c.call(&api, "POST", "/api/v1/query/999/pipeline/execute", None)
        .await;
    c.call(&api, "POST", "/api/v1/query/abc/pipeline/execute", None)
        .await;
    let (code, started) = c
        .call(
            &api,
            "POST",
            "/api/v1/query/100/pipeline/execute",
            Some(r#"{"performance": "medium"}"#),
        )
        .await;
    assert_eq!(code, 200);
    let pid = started["pipeline_execution_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let done = c.wait(&api, &pid, DONE_LOWER).await;
    assert_eq!(done["status"], "completed");
    for i in 0..3 {
        let exec = node_exec(&done, i);
        c.execution(
            &api,
            &exec,
            &[
                ("GET", "/status"),
                ("GET", "/results"),
                ("GET", "/results?limit=5&offset=20"),
                ("GET", "/results?offset=1000"),
                ("GET", "/results/csv?limit=5"),
                ("POST", "/cancel"),
            ],
        )
        .await;
    }
    c.call(&api, "GET", "/api/v1/query/100/results", None).await;
    c.call(&api, "GET", "/api/v1/query/101/results/csv", None)
        .await;

    // Explicit pipeline.
    let body = r#"{"pipeline": {"nodes": [
        {"id": 1, "dependencies": [], "materialized_view_refresh": {"name": "dune.acme.mv_contract", "performance": "medium"}},
        {"id": 2, "dependencies": [1], "query_execution": {"query_id": 101, "performance": "large", "query_parameters": {"a": 1}}}]}}"#;
    let (_, started) = c
        .call(&api, "POST", "/api/v1/pipelines/execute", Some(body))
        .await;
    let pid2 = started["pipeline_execution_id"]
        .as_str()
        .unwrap()
        .to_owned();
    c.wait(&api, &pid2, DONE_LOWER).await;

    // The view both pipelines refreshed: its refreshes, newest first, each readable as an execution; an
    // unknown view.
    let (code, view) = c
        .call(
            &api,
            "GET",
            "/api/v1/materialized-views/dune.acme.mv_contract",
            None,
        )
        .await;
    assert_eq!(code, 200, "{view}");
    let ids = view["last_execution_ids"].as_array().unwrap();
    assert_eq!(
        ids.len(),
        3,
        "two pipelines' refreshes and the scenario's: {view}"
    );
    assert_eq!(ids[1].as_str().unwrap(), node_exec(&done, 0), "{view}");
    assert_eq!(view["query_id"], 4321, "{view}");
    for id in ids {
        c.execution(&api, id.as_str().unwrap(), &[("GET", "/status")])
            .await;
    }
    let (code, _) = c
        .call(
            &api,
            "GET",
            "/api/v1/materialized-views/dune.acme.nope",
            None,
        )
        .await;
    assert_eq!(code, 404);
    c.call(
        &api,
        "POST",
        "/api/v1/pipelines/execute",
        Some(r#"{"pipeline": {"nodes": []}}"#),
    )
    .await;
    c.call(
        &api,
        "POST",
        "/api/v1/pipelines/execute",
        Some(r#"{"nodes": []}"#),
    )
    .await;

    // Failed, partial and expired nodes.
    for (query, done_status) in [(200, "failed"), (300, "completed"), (400, "failed")] {
        let (_, started) = c
            .call(
                &api,
                "POST",
                &format!("/api/v1/query/{query}/pipeline/execute"),
                None,
            )
            .await;
        let pid = started["pipeline_execution_id"]
            .as_str()
            .unwrap()
            .to_owned();
        let s = c.wait(&api, &pid, DONE_LOWER).await;
        assert_eq!(s["status"], done_status, "{s}");
        let exec = node_exec(&s, 0);
        c.execution(
            &api,
            &exec,
            &[
                ("GET", "/status"),
                ("GET", "/results"),
                ("GET", "/results?allow_partial_results=true"),
                ("GET", "/results/csv"),
            ],
        )
        .await;
        c.call(&api, "GET", &format!("/api/v1/query/{query}/results"), None)
            .await;
    }

    // Unknown and malformed ids.
    let unknown = "01HKZJ2683PHF9Q9PHHQ8FW4Q1";
    for (method, path) in [
        (
            "GET",
            format!("/api/v1/pipelines/executions/{unknown}/status"),
        ),
        ("GET", format!("/api/v1/execution/{unknown}/status")),
        ("GET", format!("/api/v1/execution/{unknown}/results")),
        ("GET", format!("/api/v1/execution/{unknown}/results/csv")),
        ("POST", format!("/api/v1/execution/{unknown}/cancel")),
        ("GET", "/api/v1/execution/bad-id/status".to_owned()),
        ("GET", "/api/v1/execution/bad-id/results".to_owned()),
        ("GET", "/api/v1/execution/bad-id/results/csv".to_owned()),
        ("POST", "/api/v1/execution/bad-id/cancel".to_owned()),
    ] {
        c.call(&api, method, &path, None).await;
    }
    api.sim.shutdown().await;

    // Pending, executing and cancelled (slower clock: 10x).
    let api = Api::start(
        Scenario::from_yaml_or_json(
            "time_scale: 10\nqueries:\n  - query_id: 500\n    nodes:\n      - {id: 1, query_id: 501, queue: 1h}\n      - {id: 2, query_id: 500, dependencies: [1]}\n  - query_id: 600\n    nodes:\n      - {id: 1, query_id: 600, duration: 1h}\n",
        )
        .unwrap(),
    )
    .await;
    let (_, started) = c
        .call(&api, "POST", "/api/v1/query/500/pipeline/execute", None)
        .await;
    let pid = started["pipeline_execution_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (_, s) = c
        .call(
            &api,
            "GET",
            &format!("/api/v1/pipelines/executions/{pid}/status"),
            None,
        )
        .await;
    let exec = node_exec(&s, 0);
    c.execution(&api, &exec, &[("GET", "/status"), ("GET", "/results")])
        .await;
    let (_, cancelled) = c
        .call(
            &api,
            "POST",
            &format!("/api/v1/execution/{exec}/cancel"),
            None,
        )
        .await;
    assert_eq!(cancelled["success"], true);
    let s = c.wait(&api, &pid, DONE_LOWER).await;
    assert_eq!(s["status"], "cancelled");
    c.execution(&api, &exec, &[("GET", "/status"), ("GET", "/results")])
        .await;
    let (_, started) = c
        .call(&api, "POST", "/api/v1/query/600/pipeline/execute", None)
        .await;
    let pid = started["pipeline_execution_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let s = c.wait(&api, &pid, &["pending"]).await;
    let exec = node_exec(&s, 0);
    c.execution(&api, &exec, &[("GET", "/status"), ("GET", "/results")])
        .await;
    api.sim.shutdown().await;

    // Results modes: datapoint errors and both partial-state answers.
    for extra in [
        "datapoint_limit_response: error",
        "partial_results_without_allow: partial_state",
        "partial_results_without_allow: failed_state",
    ] {
        let yaml = format!(
            "time_scale: 5000\nmax_datapoints_per_request: 8\n{extra}\nqueries:\n  - query_id: 5\n    nodes:\n      - {{id: 1, query_id: 5, duration: 1s, rows: 20}}\n  - query_id: 6\n    nodes:\n      - {{id: 1, query_id: 6, duration: 1s, outcome: completed_partial}}\n"
        );
        let api = Api::start(Scenario::from_yaml_or_json(&yaml).unwrap()).await;
        for q in [5, 6] {
            let (_, started) = c
                .call(
                    &api,
                    "POST",
                    &format!("/api/v1/query/{q}/pipeline/execute"),
                    None,
                )
                .await;
            let pid = started["pipeline_execution_id"]
                .as_str()
                .unwrap()
                .to_owned();
            let s = c.wait(&api, &pid, DONE_LOWER).await;
            let exec = node_exec(&s, 0);
            c.call(
                &api,
                "GET",
                &format!("/api/v1/execution/{exec}/results?limit=10"),
                None,
            )
            .await;
            c.call(&api, "GET", &format!("/api/v1/query/{q}/results"), None)
                .await;
        }
    }

    // Plan limits and key scope (402/403 are not declared on the pipeline paths).
    let api = Api::start(
        Scenario::single_query(5, common::secs(1))
            .with_fault(Fault::new(
                FaultEndpoint::PipelineExecute,
                [
                    FaultResponse::billing_limit_exceeded(),
                    FaultResponse::forbidden(),
                ],
            ))
            .with_fault(Fault::new(
                FaultEndpoint::QueryResults,
                [FaultResponse::request_limit_exceeded()],
            )),
    )
    .await;
    let (code, _) = c
        .call(&api, "POST", "/api/v1/query/5/pipeline/execute", None)
        .await;
    assert_eq!(code, 402);
    let (code, _) = c
        .call(&api, "POST", "/api/v1/query/5/pipeline/execute", None)
        .await;
    assert_eq!(code, 403);
    let (code, _) = c.call(&api, "GET", "/api/v1/query/5/results", None).await;
    assert_eq!(code, 402);

    assert!(c.checked > 80, "only {} responses checked", c.checked);
    c.finish(true);
}

/// Saved queries' SQL (`sync_sql`): read, update, read the new version; unknown queries and a key
/// without the write scope.
#[tokio::test]
async fn saved_queries_match_the_spec() {
    let mut c = Checker::new(Exempt::default());
    let mut scenario = fast_scenario();
    scenario.saved_queries = vec![dune_sim::SavedQuery::new(101, "SELECT 1")];
    let api = Api::start(scenario).await;
    let (code, q) = c.call(&api, "GET", "/api/v1/query/101", None).await;
    assert_eq!(
        (code, q["query_sql"].as_str(), q["version"].as_i64()),
        (200, Some("SELECT 1"), Some(1))
    );
    let (code, q) = c.call(&api, "GET", "/api/v1/query/100", None).await;
    assert_eq!(
        (code, q["version"].as_i64()),
        (200, Some(1)),
        "a pipeline's query has SQL too"
    );
    let (code, r) = c
        .call(
            &api,
            "PATCH",
            "/api/v1/query/101",
            Some(r#"{"query_sql": "SELECT 2"}"#),
        )
        .await;
    assert_eq!((code, r), (200, json!({"query_id": 101})));
    let (_, q) = c.call(&api, "GET", "/api/v1/query/101", None).await;
    assert_eq!(
        (q["query_sql"].as_str(), q["version"].as_i64()),
        (Some("SELECT 2"), Some(2))
    );
    let (code, _) = c.call(&api, "GET", "/api/v1/query/999", None).await;
    assert_eq!(code, 404);
    let (code, _) = c.call(&api, "PATCH", "/api/v1/query/999", Some("{}")).await;
    assert_eq!(code, 404);
    let (code, _) = c
        .send(&api, "PATCH", "/api/v1/query/101", Some("{}"), false)
        .await;
    assert_eq!(code, 401);
    let mut read_only = fast_scenario();
    read_only.key_can_write = false;
    let api = Api::start(read_only).await;
    let (code, _) = c
        .call(
            &api,
            "PATCH",
            "/api/v1/query/100",
            Some(r#"{"query_sql": "SELECT 3"}"#),
        )
        .await;
    assert_eq!(code, 403);
    c.finish(false);
}

/// The deliberately-off variants, with the exemptions documented at the top.
#[tokio::test]
async fn variants_against_the_spec() {
    for (name, tweak) in [
        ("vocab-failing", (BothStatusObjects::Off, ViewNames::Full)),
        (
            "vocab-succeeding",
            (BothStatusObjects::Empty, ViewNames::Short),
        ),
        ("vocab-failing", (BothStatusObjects::Null, ViewNames::Short)),
    ] {
        let mut c = Checker::new(Exempt {
            null_status_objects: tweak.0 == BothStatusObjects::Null,
        });
        let scenario = Scenario {
            both_status_objects: tweak.0,
            view_names_in_status: tweak.1,
            view_names_in_definition: if tweak.1 == ViewNames::Short {
                ViewNames::Full
            } else {
                ViewNames::Short
            },
            ..Scenario::builtin(name).unwrap().with_time_scale(5000.0)
        };
        let api = Api::start(scenario).await;
        c.call(&api, "GET", "/api/v1/query/5550000/pipeline", None)
            .await;
        let (_, started) = c
            .call(&api, "POST", "/api/v1/query/5550000/pipeline/execute", None)
            .await;
        let pid = started["pipeline_execution_id"]
            .as_str()
            .unwrap()
            .to_owned();
        let s = c
            .wait(
                &api,
                &pid,
                &[
                    "PIPELINE_EXECUTION_STATUS_PENDING",
                    "PIPELINE_EXECUTION_STATUS_RUNNING",
                ],
            )
            .await;
        assert!(
            s["status"]
                .as_str()
                .unwrap()
                .starts_with("PIPELINE_EXECUTION_STATUS_")
        );
        c.finish(false);
    }
    // Without the exemption, the null variant does violate the spec.
    let mut c = Checker::new(Exempt::default());
    let api = Api::start(Scenario {
        both_status_objects: BothStatusObjects::Null,
        ..Scenario::builtin("vocab-succeeding")
            .unwrap()
            .with_time_scale(5000.0)
    })
    .await;
    let (_, started) = c
        .call(&api, "POST", "/api/v1/query/5550000/pipeline/execute", None)
        .await;
    let pid = started["pipeline_execution_id"]
        .as_str()
        .unwrap()
        .to_owned();
    c.call(
        &api,
        "GET",
        &format!("/api/v1/pipelines/executions/{pid}/status"),
        None,
    )
    .await;
    assert!(!c.violations.is_empty());
    assert!(
        c.violations.iter().all(|v| v.contains("null")),
        "{:?}",
        c.violations
    );
}
