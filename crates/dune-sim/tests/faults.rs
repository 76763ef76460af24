//! Fault injection, one kind at a time.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use common::{Api, KEY, secs};
use dune_sim::{Fault, FaultEndpoint, FaultResponse, Scenario};
use serde_json::{Value, json};

fn scenario(faults: Vec<Fault>) -> Scenario {
    let mut s = Scenario::single_query(42, secs(5)).with_time_scale(100.0);
    s.faults = faults;
    s
}

fn statuses(api: &Api) -> Vec<u16> {
    api.sim.requests().iter().map(|r| r.status).collect()
}

#[tokio::test]
async fn error_statuses_then_normal() {
    let yaml = r#"
time_scale: 100
queries:
  - query_id: 42
    nodes: [{id: 1, query_id: 42}]
faults:
  - endpoint: pipeline_status
    responses:
      - status: 503
      - {status: 429, retry_after: "2"}
      - {status: 502, body: "<html><body>Bad Gateway</body></html>", content_type: text/html}
"#;
    let api = Api::start(Scenario::from_yaml_or_json(yaml).unwrap()).await;
    let id = api.execute(42).await;
    let path = format!("/pipelines/executions/{id}/status");

    let r = api.raw_get(&path).await;
    assert_eq!(r.status(), 503);
    assert_eq!(r.headers()["content-type"], "application/json");
    assert_eq!(
        r.json::<Value>().await.unwrap(),
        json!({"error": "Service Unavailable"})
    );

    let r = api.raw_get(&path).await;
    assert_eq!(r.status(), 429);
    assert_eq!(r.headers()["retry-after"], "2");
    assert!(r.json::<Value>().await.unwrap()["error"].is_string());

    let r = api.raw_get(&path).await;
    assert_eq!(r.status(), 502);
    assert_eq!(r.headers()["content-type"], "text/html");
    assert_eq!(
        r.text().await.unwrap(),
        "<html><body>Bad Gateway</body></html>"
    );

    let r = api.raw_get(&path).await;
    assert_eq!(r.status(), 200);
    assert_eq!(statuses(&api), [200, 503, 429, 502, 200]);
}

#[tokio::test]
async fn after_lets_requests_through_first() {
    let api = Api::start(scenario(vec![
        Fault::new(FaultEndpoint::QueryPipeline, [FaultResponse::status(500)]).after(2),
    ]))
    .await;
    for _ in 0..2 {
        assert_eq!(api.get("/query/42/pipeline").await.0, 200);
    }
    // Other endpoints do not count.
    assert_eq!(api.get("/pipelines/executions/x/status").await.0, 404);
    assert_eq!(api.get("/query/42/pipeline").await.0, 500);
    assert_eq!(api.get("/query/42/pipeline").await.0, 200);
}

#[tokio::test]
async fn drop_closes_the_connection_without_response() {
    let api = Api::start(scenario(vec![Fault::new(
        FaultEndpoint::PipelineExecute,
        [
            FaultResponse::drop_connection(),
            FaultResponse::drop_connection().applied(),
        ],
    )]))
    .await;
    let send = || {
        api.http
            .post(api.url("/query/42/pipeline/execute"))
            .header("X-Dune-Api-Key", KEY)
            .send()
    };
    let err = send().await.unwrap_err();
    assert!(!err.is_status(), "{err:?}");
    assert_eq!(api.sim.pipelines_started(), 0);
    // `apply`: the pipeline starts although the client sees no response.
    send().await.unwrap_err();
    assert_eq!(api.sim.pipelines_started(), 1);
    let ok = send().await.unwrap();
    assert_eq!(ok.status(), 200);
    assert_eq!(api.sim.pipelines_started(), 2);
    assert_eq!(statuses(&api), [0, 0, 200]);
}

#[tokio::test]
async fn drop_mid_body_sends_headers_then_aborts() {
    let api = Api::start(scenario(vec![Fault::new(
        FaultEndpoint::QueryPipeline,
        [FaultResponse::drop_mid_body()],
    )]))
    .await;
    let r = api.raw_get("/query/42/pipeline").await;
    assert_eq!(r.status(), 200);
    assert!(r.bytes().await.is_err());
    assert_eq!(api.get("/query/42/pipeline").await.0, 200);
    assert_eq!(statuses(&api), [200, 200]);
}

#[tokio::test]
async fn garbage_and_oversized_bodies() {
    let api = Api::start(scenario(vec![Fault::new(
        FaultEndpoint::Any,
        [
            FaultResponse::garbage(),
            FaultResponse::oversized(2_000_000),
        ],
    )]))
    .await;
    let r = api.raw_get("/query/42/pipeline").await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/json");
    let text = r.text().await.unwrap();
    assert!(serde_json::from_str::<Value>(&text).is_err(), "{text}");

    let r = api.raw_get("/no/such/path").await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.content_length(), Some(2_000_000));
    let bytes = r.bytes().await.unwrap();
    assert_eq!(bytes.len(), 2_000_000);
    assert!(serde_json::from_slice::<Value>(&bytes).unwrap().is_string());

    assert_eq!(api.get("/no/such/path").await.0, 404);
}

#[tokio::test]
async fn delay_and_slow_drip() {
    // 100x: 20 s virtual = 200 ms real; 30 s = 300 ms.
    let api = Api::start(scenario(vec![Fault::new(
        FaultEndpoint::QueryPipeline,
        [
            FaultResponse::delay(secs(20)),
            FaultResponse::slow_drip(secs(30)),
        ],
    )]))
    .await;
    let t = Instant::now();
    let (code, body) = api.get("/query/42/pipeline").await;
    assert_eq!(code, 200);
    assert!(body["pipeline"]["nodes"].is_array());
    assert!(
        t.elapsed() >= Duration::from_millis(190),
        "{:?}",
        t.elapsed()
    );

    let t = Instant::now();
    let r = api.raw_get("/query/42/pipeline").await;
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert!(body["pipeline"]["nodes"].is_array());
    assert!(
        t.elapsed() >= Duration::from_millis(280),
        "{:?}",
        t.elapsed()
    );

    let t = Instant::now();
    assert_eq!(api.get("/query/42/pipeline").await.0, 200);
    assert!(t.elapsed() < Duration::from_millis(150));
    assert_eq!(statuses(&api), [200, 200, 200]);
}

#[tokio::test]
async fn pass_and_apply() {
    let api = Api::start(scenario(vec![
        Fault::new(
            FaultEndpoint::PipelinesExecute,
            [FaultResponse::status(502).applied()],
        ),
        Fault::new(
            FaultEndpoint::ExecutionCancel,
            [FaultResponse::pass(), FaultResponse::status(500)],
        ),
    ]))
    .await;
    let body = r#"{"pipeline": {"nodes": [{"id": 1, "query_execution": {"query_id": 42}}]}}"#;
    let (code, resp) = api.post("/pipelines/execute", body).await;
    assert_eq!(code, 502, "{resp}");
    assert_eq!(api.sim.pipelines_started(), 1, "applied despite the error");
    let (code, _) = api.post("/pipelines/execute", body).await;
    assert_eq!(code, 200);
    assert_eq!(api.sim.pipelines_started(), 2);

    let unknown = "/execution/01HKZJ2683PHF9Q9PHHQ8FW4Q1/cancel";
    assert_eq!(api.post(unknown, "").await.0, 404, "pass = normal");
    assert_eq!(api.post(unknown, "").await.0, 500);
    assert_eq!(api.post(unknown, "").await.0, 404);
}
