//! Deliberately varied server behaviour: status vocabularies, both status objects, short view names,
//! the datapoint cap, partial results, plan-limit errors, and the latest result of a query.
#![allow(clippy::unwrap_used)]

mod common;

use common::{Api, KEY, execution_id, node_status};
use dune_sim::{
    BothStatusObjects, Fault, FaultEndpoint, FaultResponse, LatestResult, NodeDef, QueryDef,
    Scenario, ViewNames,
};
use serde_json::{Value, json};

const RUNNING: &[&str] = &[
    "PIPELINE_EXECUTION_STATUS_PENDING",
    "PIPELINE_EXECUTION_STATUS_RUNNING",
];

#[tokio::test]
async fn vocab_builtins() {
    // Early: nothing but the view has been submitted.
    let api = Api::start(
        Scenario::builtin("vocab-succeeding")
            .unwrap()
            .with_time_scale(1.0),
    )
    .await;
    let id = api.execute(5_550_000).await;
    let s = api.status(&id).await;
    assert_eq!(s["status"], "PIPELINE_EXECUTION_STATUS_PENDING");
    assert_eq!(node_status(&s, 0)["status"], "scheduled");
    assert_eq!(node_status(&s, 0)["name"], "dune.acme.mv_daily_volume");
    assert!(node_status(&s, 0)["execution_id"].is_string());
    assert_eq!(node_status(&s, 1)["status"], "scheduled");
    assert!(node_status(&s, 1).get("execution_id").is_none());

    let api = Api::start(
        Scenario::builtin("vocab-succeeding")
            .unwrap()
            .with_time_scale(5000.0),
    )
    .await;
    let id = api.execute(5_550_000).await;
    let s = api.wait_until_not(&id, RUNNING).await;
    assert_eq!(s["status"], "PIPELINE_EXECUTION_STATUS_SUCCEEDED", "{s}");
    for i in 0..4 {
        assert_eq!(node_status(&s, i)["status"], "succeeded", "{s}");
    }
    assert!(s.get("error").is_none());

    let api = Api::start(
        Scenario::builtin("vocab-failing")
            .unwrap()
            .with_time_scale(5000.0),
    )
    .await;
    let id = api.execute(5_550_000).await;
    let s = api.wait_until_not(&id, RUNNING).await;
    assert_eq!(s["status"], "PIPELINE_EXECUTION_STATUS_ERRORED", "{s}");
    assert_eq!(node_status(&s, 0)["status"], "succeeded");
    assert_eq!(node_status(&s, 1)["status"], "errored");
    assert!(
        node_status(&s, 1)["error"]
            .as_str()
            .unwrap()
            .contains("line 3:14")
    );
    assert_eq!(node_status(&s, 2)["status"], "succeeded");
    assert_eq!(node_status(&s, 3)["status"], "aborted");
    assert!(node_status(&s, 3).get("execution_id").is_none());
    assert!(
        s["error"]
            .as_str()
            .unwrap()
            .contains("node 2 (query 5550001) failed")
    );
}

#[tokio::test]
async fn any_string_for_any_state() {
    let yaml = r#"
time_scale: 5000
status_names:
  waiting: scheduled
  pending: QUEUED
  executing: in_progress
  completed: finished
  failed: EXECUTION_STATUS_ERRORED
  blocked: aborted
pipeline_status_names:
  pending: scheduled
  executing: in_progress
  completed: REFRESH_STATUS_DONE
  failed: PIPELINE_EXECUTION_STATUS_FAILED
  cancelled: aborted
queries:
  - query_id: 10
    nodes:
      - {id: 1, materialized_view: dune.x.mv, duration: 5s}
      - {id: 2, query_id: 11, dependencies: [1], duration: 5s, outcome: failed}
      - {id: 3, query_id: 10, dependencies: [2]}
  - query_id: 20
    nodes:
      - {id: 1, query_id: 20, duration: 5s}
"#;
    let api = Api::start(Scenario::from_yaml_or_json(yaml).unwrap()).await;
    let id = api.execute(10).await;
    let s = api.wait_until_not(&id, &["scheduled", "in_progress"]).await;
    assert_eq!(s["status"], "PIPELINE_EXECUTION_STATUS_FAILED");
    assert_eq!(node_status(&s, 0)["status"], "finished");
    assert_eq!(node_status(&s, 1)["status"], "EXECUTION_STATUS_ERRORED");
    assert_eq!(node_status(&s, 2)["status"], "aborted");
    let id = api.execute(20).await;
    let s = api.wait_until_not(&id, &["scheduled", "in_progress"]).await;
    assert_eq!(s["status"], "REFRESH_STATUS_DONE");
    assert_eq!(node_status(&s, 0)["status"], "finished");
}

fn mv_scenario() -> Scenario {
    Scenario {
        time_scale: 5000.0,
        queries: vec![QueryDef {
            query_id: 42,
            nodes: vec![
                NodeDef::materialized_view(1, "dune.acme.mv_daily_volume"),
                NodeDef::query(2, 42).depends_on([1]),
            ],
        }],
        ..Scenario::default()
    }
}

#[tokio::test]
async fn both_status_objects() {
    let api = Api::start(Scenario {
        both_status_objects: BothStatusObjects::Null,
        ..mv_scenario()
    })
    .await;
    let id = api.execute(42).await;
    let s = api.wait_done(&id).await;
    let n = &s["node_executions"];
    assert_eq!(n[0]["query_execution_status"], Value::Null);
    assert!(
        n[0].as_object()
            .unwrap()
            .contains_key("query_execution_status")
    );
    assert_eq!(
        n[0]["materialized_view_refresh_status"]["status"],
        "completed"
    );
    assert_eq!(n[1]["materialized_view_refresh_status"], Value::Null);
    assert!(
        n[1].as_object()
            .unwrap()
            .contains_key("materialized_view_refresh_status")
    );
    assert_eq!(n[1]["query_execution_status"]["query_id"], 42);

    let yaml = "both_status_objects: empty\ntime_scale: 5000\nqueries:\n  - query_id: 42\n    nodes:\n      - {id: 1, materialized_view: dune.acme.mv_daily_volume}\n      - {id: 2, query_id: 42, dependencies: [1]}\n";
    let api = Api::start(Scenario::from_yaml_or_json(yaml).unwrap()).await;
    let id = api.execute(42).await;
    let s = api.wait_done(&id).await;
    let n = &s["node_executions"];
    assert_eq!(
        n[0]["query_execution_status"],
        json!({"status": "", "query_id": 0, "execution_id": "", "error": ""})
    );
    assert_eq!(
        n[1]["materialized_view_refresh_status"],
        json!({"status": "", "name": "", "execution_id": "", "error": ""})
    );
    assert_eq!(n[1]["query_execution_status"]["status"], "completed");
    // A bare YAML null selects the null variant; absent is off.
    let s = Scenario::from_yaml_or_json("both_status_objects: null").unwrap();
    assert_eq!(s.both_status_objects, BothStatusObjects::Null);
    let s = Scenario::from_yaml_or_json("time_scale: 1").unwrap();
    assert_eq!(s.both_status_objects, BothStatusObjects::Off);
}

async fn view_names(api: &Api) -> (String, String) {
    let (_, def) = api.get("/query/42/pipeline").await;
    let id = api.execute(42).await;
    let s = api.wait_done(&id).await;
    (
        def["pipeline"]["nodes"][0]["materialized_view_refresh"]["name"]
            .as_str()
            .unwrap()
            .to_owned(),
        node_status(&s, 0)["name"].as_str().unwrap().to_owned(),
    )
}

#[tokio::test]
async fn short_and_full_view_names() {
    let api = Api::start(mv_scenario()).await;
    assert_eq!(
        view_names(&api).await,
        (
            "dune.acme.mv_daily_volume".into(),
            "dune.acme.mv_daily_volume".into()
        )
    );
    let api = Api::start(Scenario {
        view_names_in_status: ViewNames::Short,
        ..mv_scenario()
    })
    .await;
    assert_eq!(
        view_names(&api).await,
        ("dune.acme.mv_daily_volume".into(), "mv_daily_volume".into())
    );
    let yaml = "view_names_in_definition: short\ntime_scale: 5000\nqueries:\n  - query_id: 42\n    nodes:\n      - {id: 1, materialized_view: dune.acme.mv_daily_volume}\n      - {id: 2, query_id: 42, dependencies: [1]}\n";
    let api = Api::start(Scenario::from_yaml_or_json(yaml).unwrap()).await;
    assert_eq!(
        view_names(&api).await,
        ("mv_daily_volume".into(), "dune.acme.mv_daily_volume".into())
    );
    // The short name in an explicit pipeline finds the scenario's view behaviour.
    let (code, body) = api
        .post(
            "/pipelines/execute",
            r#"{"pipeline": {"nodes": [{"id": 1, "materialized_view_refresh": {"name": "mv_daily_volume"}}]}}"#,
        )
        .await;
    assert_eq!(code, 200, "{body}");
}

fn wide_scenario(extra: &str) -> Scenario {
    let yaml = format!(
        "time_scale: 5000\nepoch: \"2026-01-01T00:00:00Z\"\nmax_datapoints_per_request: 1000\n{extra}\nqueries:\n  - query_id: 5\n    nodes:\n      - {{id: 1, query_id: 5, duration: 1s, rows: 120, columns: 20}}\n"
    );
    Scenario::from_yaml_or_json(&yaml).unwrap()
}

async fn wide_execution(api: &Api) -> String {
    let id = api.execute(5).await;
    execution_id(&api.wait_done(&id).await, 0)
}

#[tokio::test]
async fn datapoint_cap_shortens_pages() {
    let api = Api::start(wide_scenario("")).await;
    let exec = wide_execution(&api).await;
    let (code, r) = api
        .get(&format!("/execution/{exec}/results?limit=100"))
        .await;
    assert_eq!(code, 200, "{r}");
    let meta = &r["result"]["metadata"];
    assert_eq!(meta["column_names"].as_array().unwrap().len(), 20);
    assert_eq!(meta["column_names"][19], "metric_20");
    assert_eq!(meta["row_count"], 50, "1000 datapoints / 20 columns");
    assert_eq!(r["result"]["rows"].as_array().unwrap().len(), 50);
    assert_eq!(r["result"]["rows"][0].as_object().unwrap().len(), 20);
    assert_eq!(r["next_offset"], 50);
    assert!(
        r["next_uri"]
            .as_str()
            .unwrap()
            .ends_with("?limit=50&offset=50")
    );
    // Small pages pass; the cap can be ignored.
    let (_, r) = api
        .get(&format!("/execution/{exec}/results?limit=10"))
        .await;
    assert_eq!(r["result"]["metadata"]["row_count"], 10);
    let (_, r) = api
        .get(&format!(
            "/execution/{exec}/results?limit=100&ignore_max_datapoints_per_request=true"
        ))
        .await;
    assert_eq!(r["result"]["metadata"]["row_count"], 100);
    // CSV pages are capped the same way, and are text/csv.
    let resp = api
        .http
        .get(api.url(&format!("/execution/{exec}/results/csv?limit=100")))
        .header("X-Dune-Api-Key", KEY)
        .header("Accept", "text/csv")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers()["content-type"], "text/csv");
    assert_eq!(resp.headers()["x-dune-next-offset"], "50");
    let text = resp.text().await.unwrap();
    assert_eq!(text.lines().count(), 51);
    assert_eq!(text.lines().next().unwrap().split(',').count(), 20);
    let recorded = api.sim.requests();
    let csv = recorded
        .iter()
        .find(|r| r.path.ends_with("/results/csv"))
        .unwrap();
    assert_eq!(csv.accept.as_deref(), Some("text/csv"));
}

#[tokio::test]
async fn datapoint_cap_error() {
    let api = Api::start(wide_scenario("datapoint_limit_response: error")).await;
    let exec = wide_execution(&api).await;
    let (code, r) = api
        .get(&format!("/execution/{exec}/results?limit=100"))
        .await;
    assert_eq!(code, 400);
    let msg = r["error"].as_str().unwrap();
    assert!(msg.contains("2000 datapoints"), "{msg}");
    assert!(msg.contains("limit of 1000 datapoints"), "{msg}");
    let (code, _) = api
        .get(&format!("/execution/{exec}/results?limit=50"))
        .await;
    assert_eq!(code, 200);
    let (code, _) = api
        .get(&format!(
            "/execution/{exec}/results?limit=100&ignore_max_datapoints_per_request=true"
        ))
        .await;
    assert_eq!(code, 200);
    // Dune's documented cap by default, in code and in a scenario file; 0 turns it off.
    assert_eq!(Scenario::default().max_datapoints_per_request, 250_000);
    let parsed = Scenario::from_yaml_or_json("queries: []").unwrap();
    assert_eq!(parsed.max_datapoints_per_request, 250_000);
    let off = Scenario::from_yaml_or_json(
        "max_datapoints_per_request: 0
queries: []",
    )
    .unwrap();
    assert_eq!(off.max_datapoints_per_request, 0);
}

fn partial_scenario(mode: &str) -> Scenario {
    let yaml = format!(
        "time_scale: 5000\npartial_results_without_allow: {mode}\nqueries:\n  - query_id: 5\n    nodes:\n      - {{id: 1, query_id: 5, duration: 1s, outcome: completed_partial, rows: 8}}\n"
    );
    Scenario::from_yaml_or_json(&yaml).unwrap()
}

#[tokio::test]
async fn partial_results_modes() {
    let api = Api::start(partial_scenario("error")).await;
    let exec = wide_execution(&api).await;
    let (code, r) = api.get(&format!("/execution/{exec}/results")).await;
    assert_eq!(
        (code, r["error"].as_str().unwrap()),
        (
            400,
            "Partial Result, please request with 'allow_partial_results=true'"
        )
    );

    let api = Api::start(partial_scenario("partial_state")).await;
    let exec = wide_execution(&api).await;
    let (code, r) = api.get(&format!("/execution/{exec}/results")).await;
    assert_eq!(code, 200);
    assert_eq!(r["state"], "QUERY_STATE_COMPLETED_PARTIAL");
    assert_eq!(r["is_execution_finished"], true);
    assert!(r.get("result").is_none());
    let (_, r) = api
        .get(&format!(
            "/execution/{exec}/results?allow_partial_results=true"
        ))
        .await;
    assert_eq!(r["result"]["metadata"]["row_count"], 8);

    let api = Api::start(partial_scenario("failed_state")).await;
    let exec = wide_execution(&api).await;
    let (code, r) = api.get(&format!("/execution/{exec}/results")).await;
    assert_eq!(code, 200);
    assert_eq!(r["state"], "QUERY_STATE_FAILED");
    assert_eq!(r["is_execution_finished"], true);
    assert!(
        r["error"]["message"]
            .as_str()
            .unwrap()
            .contains("allow_partial_results=true")
    );
    assert!(r.get("result").is_none());
    let (_, r) = api
        .get(&format!(
            "/execution/{exec}/results?allow_partial_results=true"
        ))
        .await;
    assert_eq!(r["state"], "QUERY_STATE_COMPLETED_PARTIAL");
    assert_eq!(r["result"]["rows"].as_array().unwrap().len(), 8);
}

#[tokio::test]
async fn plan_limit_and_scope_errors_on_any_endpoint() {
    let scenario = Scenario::single_query(5, common::secs(1))
        .with_time_scale(5000.0)
        .with_fault(Fault::new(
            FaultEndpoint::PipelineExecute,
            [FaultResponse::billing_limit_exceeded()],
        ))
        .with_fault(Fault::new(
            FaultEndpoint::QueryPipeline,
            [FaultResponse::forbidden()],
        ))
        .with_fault(Fault::new(
            FaultEndpoint::QueryResults,
            [FaultResponse::request_limit_exceeded()],
        ));
    let api = Api::start(scenario).await;
    let (code, r) = api.post("/query/5/pipeline/execute", "").await;
    assert_eq!(code, 402);
    assert!(
        r["error"]
            .as_str()
            .unwrap()
            .contains("configured limits per billing cycle")
    );
    assert_eq!(api.sim.pipelines_started(), 0);
    let (code, r) = api.get("/query/5/pipeline").await;
    assert_eq!(code, 403);
    assert_eq!(r["error"], dune_sim::FORBIDDEN_MESSAGE);
    let (code, r) = api.get("/query/5/results").await;
    assert_eq!(code, 402);
    assert!(r["error"].as_str().unwrap().contains("limits per request"));
    // Then normal behaviour.
    api.execute(5).await;

    // From YAML: a custom message on any endpoint.
    let yaml = "faults:\n  - endpoint: any\n    responses:\n      - {status: 403, error: \"API key scope does not allow this\"}\n";
    let api = Api::start(Scenario::from_yaml_or_json(yaml).unwrap()).await;
    let (code, r) = api
        .get("/execution/01HKZJ2683PHF9Q9PHHQ8FW4Q1/status")
        .await;
    assert_eq!(
        (code, r),
        (403, json!({"error": "API key scope does not allow this"}))
    );
    let e = Scenario::from_yaml_or_json(
        "faults:\n  - endpoint: any\n    responses:\n      - {status: 402, error: a, body: b}\n",
    )
    .unwrap_err();
    assert!(format!("{e:#}").contains("at most one of `body` and `error`"));
    assert_eq!(
        FaultResponse::preset("forbidden").unwrap().status,
        Some(403)
    );
    assert_eq!(FaultResponse::preset("503").unwrap().status, Some(503));
    assert!(FaultResponse::preset("nope").is_none());
}

fn latest_scenario() -> Scenario {
    let yaml = r#"
time_scale: 5000
epoch: "2026-01-01T00:00:00Z"
latest_results:
  - {query_id: 5, age: 10m, duration: 30s, rows: 25}
  - {query_id: 6, age: 2h, state: failed, error: "boom"}
queries:
  - query_id: 5
    nodes:
      - {id: 1, query_id: 5, duration: 2s, rows: 3}
  - query_id: 7
    nodes:
      - {id: 1, query_id: 7}
"#;
    Scenario::from_yaml_or_json(yaml).unwrap()
}

#[tokio::test]
async fn latest_results_of_a_query() {
    let api = Api::start(latest_scenario()).await;
    let (code, r) = api.get("/query/5/results?limit=10").await;
    assert_eq!(code, 200, "{r}");
    assert_eq!(r["query_id"], 5);
    assert_eq!(r["state"], "QUERY_STATE_COMPLETED");
    assert_eq!(r["is_execution_finished"], true);
    assert_eq!(r["execution_ended_at"], "2025-12-31T23:50:00.000000000Z");
    assert_eq!(r["execution_started_at"], "2025-12-31T23:49:30.000000000Z");
    assert_eq!(r["submitted_at"], "2025-12-31T23:49:30.000000000Z");
    assert_eq!(r["result"]["metadata"]["total_row_count"], 25);
    assert_eq!(r["result"]["metadata"]["row_count"], 10);
    assert_eq!(r["next_offset"], 10);
    let next = r["next_uri"].as_str().unwrap();
    assert!(
        next.contains("/api/v1/query/5/results?limit=10&offset=10"),
        "{next}"
    );
    let static_exec = r["execution_id"].as_str().unwrap().to_owned();
    // The same execution is reachable by id.
    let (code, st) = api.get(&format!("/execution/{static_exec}/status")).await;
    assert_eq!((code, &st["state"]), (200, &json!("QUERY_STATE_COMPLETED")));
    // CSV.
    let resp = api.raw_get("/query/5/results/csv?limit=5").await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "text/csv");
    assert_eq!(resp.text().await.unwrap().lines().count(), 6);
    // A failed latest execution.
    let (code, r) = api.get("/query/6/results").await;
    assert_eq!(code, 200);
    assert_eq!(r["state"], "QUERY_STATE_FAILED");
    assert_eq!(r["error"]["message"], "boom");
    // No result at all: 404 with Dune's error body.
    let (code, r) = api.get("/query/7/results").await;
    assert_eq!(
        (code, r),
        (404, json!({"error": "No execution found for this query"}))
    );
    let (code, r) = api.get("/query/999/results").await;
    assert_eq!((code, r), (404, json!({"error": "Query not found"})));
    let (code, _) = api.get("/query/x/results").await;
    assert_eq!(code, 400);

    // Running the pipeline makes its executions the latest results.
    let id = api.execute(5).await;
    let exec = execution_id(&api.wait_done(&id).await, 0);
    let (_, r) = api.get("/query/5/results").await;
    assert_eq!(r["execution_id"], exec);
    assert_eq!(r["result"]["metadata"]["total_row_count"], 3);
    let id = api.execute(7).await;
    let exec = execution_id(&api.wait_done(&id).await, 0);
    let (code, r) = api.get("/query/7/results").await;
    assert_eq!((code, &r["execution_id"]), (200, &json!(exec)));
    assert!(
        api.sim
            .requests()
            .iter()
            .any(|r| r.path == "/api/v1/query/7/results" && r.status == 200)
    );
    let _ = LatestResult::new(1, common::secs(1));
}

/// The `Date` header is the simulator's clock (the epoch plus virtual time), so a latest result's age can
/// be measured against it: 10 minutes and a few virtual seconds, whatever the machine's clock says.
#[tokio::test]
async fn date_header_is_the_simulators_clock() {
    let api = Api::start(latest_scenario()).await;
    let r = api.raw_get("/query/5/results?limit=1").await;
    let date = r
        .headers()
        .get("date")
        .and_then(|d| d.to_str().ok())
        .map(str::to_owned)
        .unwrap();
    let body: Value = r.json().await.unwrap();
    let now = std::time::SystemTime::UNIX_EPOCH
        + std::time::Duration::from_secs(1_767_225_600)
        + api.sim.virtual_now();
    let date = httpdate_parse(&date);
    let lag = now.duration_since(date).unwrap();
    assert!(lag < std::time::Duration::from_secs(3600), "{lag:?}");
    assert_eq!(body["execution_ended_at"], "2025-12-31T23:50:00.000000000Z");
    // Also on errors.
    assert!(
        api.raw_get("/query/999/results")
            .await
            .headers()
            .contains_key("date")
    );
}

/// `Thu, 01 Jan 2026 00:00:05 GMT` → time (enough of RFC 9110's IMF-fixdate for this test).
fn httpdate_parse(s: &str) -> std::time::SystemTime {
    let parts: Vec<&str> = s.split([' ', ':']).collect();
    assert_eq!(
        (parts[2], parts[3], parts[7]),
        ("Jan", "2026", "GMT"),
        "{s}"
    );
    let day: u64 = parts[1].parse().unwrap();
    let (h, m, sec): (u64, u64, u64) = (
        parts[4].parse().unwrap(),
        parts[5].parse().unwrap(),
        parts[6].parse().unwrap(),
    );
    std::time::SystemTime::UNIX_EPOCH
        + std::time::Duration::from_secs(
            1_767_225_600 + (day - 1) * 86_400 + h * 3600 + m * 60 + sec,
        )
}
