//! The simulated endpoints, driven over HTTP.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::{Api, KEY, execution_id, node_status, secs};
use dune_sim::{NodeDef, Outcome, QueryDef, Scenario};
use serde_json::{Value, json};

#[tokio::test]
async fn auth_is_checked_first() {
    let api = Api::start(Scenario::builtin("demo").unwrap().with_api_key("sim-key")).await;
    let url = api.url("/execution/Wonky/status");

    let none = api.http.get(&url).send().await.unwrap();
    assert_eq!(none.status(), 401);
    assert_eq!(
        none.json::<Value>().await.unwrap(),
        json!({"error": "invalid API Key"})
    );
    let wrong = api
        .http
        .get(&url)
        .header("x-dune-api-key", "nope")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    let unknown_path = api
        .http
        .get(format!("{}/elsewhere", api.sim.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown_path.status(), 401);

    // Right key (header name is case-insensitive, or in the query): validation happens.
    let ok = api
        .http
        .get(&url)
        .header("X-DUNE-API-KEY", "sim-key")
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 400);
    assert_eq!(
        ok.json::<Value>().await.unwrap(),
        json!({"error": "The requested execution ID (ID: Wonky) is invalid."})
    );
    let by_query = api
        .http
        .get(format!("{url}?api_key=sim-key&x=1"))
        .send()
        .await
        .unwrap();
    assert_eq!(by_query.status(), 400);

    let recorded = api.sim.requests();
    let oks: Vec<bool> = recorded.iter().map(|r| r.api_key_ok).collect();
    assert_eq!(oks, [false, false, false, true, true]);
    let statuses: Vec<u16> = recorded.iter().map(|r| r.status).collect();
    assert_eq!(statuses, [401, 401, 401, 400, 400]);
    assert_eq!(recorded[4].query.as_deref(), Some("api_key=REDACTED&x=1"));
    assert!(!format!("{recorded:?}").contains("sim-key"));

    // Without a configured key any non-empty key is accepted.
    let open = Api::start(Scenario::builtin("demo").unwrap()).await;
    let (status, _) = open.get("/query/3493826/pipeline").await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn execute_then_status_progresses() {
    // Real time: the first status is deterministic.
    let api = Api::start(Scenario::chain(7, 3, secs(10))).await;
    let id = api.execute(7).await;
    assert_eq!(id.len(), 26);
    assert!(id.starts_with("01"), "{id}");
    let s = api.status(&id).await;
    assert_eq!(s["status"], "pending");
    assert!(s.get("error").is_none());
    let nodes = s["node_executions"].as_array().unwrap();
    assert_eq!(nodes.len(), 3);
    assert_eq!(nodes[0]["id"], 1);
    assert!(nodes[0].get("query_execution_status").is_none());
    let mv = &nodes[0]["materialized_view_refresh_status"];
    assert_eq!(mv["name"], "dune.sim.mv_chain_1");
    assert_eq!(mv["status"], "executing");
    assert_eq!(mv["execution_id"].as_str().unwrap().len(), 26);
    assert!(nodes[1].get("materialized_view_refresh_status").is_none());
    assert_eq!(
        nodes[1]["query_execution_status"],
        json!({"status": "pending", "query_id": 8})
    );
    assert_eq!(nodes[2]["query_execution_status"]["query_id"], 7);
    assert_ne!(api.execute(7).await, id, "ids are unique");
    assert_eq!(api.sim.pipelines_started(), 2);

    // Fast: 3 nodes of 5 s at 100x = 150 ms.
    let api = Api::start(Scenario::chain(7, 3, secs(5)).with_time_scale(100.0)).await;
    let id = api.execute(7).await;
    let mut seen: Vec<String> = Vec::new();
    let mut polls = 0;
    let done = loop {
        let s = api.status(&id).await;
        let status = s["status"].as_str().unwrap().to_owned();
        if seen.last() != Some(&status) {
            seen.push(status.clone());
        }
        if status == "completed" {
            break s;
        }
        polls += 1;
        assert!(seen.len() <= 3 && polls < 500, "{seen:?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    assert_eq!(seen.last().map(String::as_str), Some("completed"));
    assert!(seen.contains(&"executing".to_owned()), "{seen:?}");
    for i in 0..3 {
        let n = node_status(&done, i);
        assert_eq!(n["status"], "completed");
        assert!(n["execution_id"].is_string());
        assert!(n.get("error").is_none());
    }
}

#[tokio::test]
async fn execute_errors() {
    let api = Api::start(Scenario::builtin("demo").unwrap()).await;
    let (s, b) = api.post("/query/abc/pipeline/execute", "").await;
    assert_eq!(s, 400, "{b}");
    let (s, b) = api.post("/query/1/pipeline/execute", "").await;
    assert_eq!((s, b), (404, json!({"error": "Query not found"})));
    let (s, b) = api
        .post(
            "/query/3493826/pipeline/execute",
            r#"{"performance": "huge"}"#,
        )
        .await;
    assert_eq!(
        (s, b),
        (
            400,
            json!({"error": "performance must be one of: medium, large"})
        )
    );
    let (s, b) = api.post("/query/3493826/pipeline/execute", "{").await;
    assert_eq!(s, 400);
    assert!(b["error"].as_str().unwrap().contains("invalid JSON"), "{b}");
    let (s, _) = api
        .post(
            "/query/3493826/pipeline/execute",
            r#"{"performance": "large", "query_parameters": {"chain": "base"}}"#,
        )
        .await;
    assert_eq!(s, 200);
    let (s, _) = api.post("/query/3493826/pipeline/execute", "{}").await;
    assert_eq!(s, 200);
    let (s, b) = api
        .get("/pipelines/executions/01HKZJ2683PHF9Q9PHHQ8FW4Q1/status")
        .await;
    assert_eq!(
        (s, b),
        (404, json!({"error": "Pipeline execution not found"}))
    );
    let (s, b) = api.get("/no/such/thing").await;
    assert_eq!((s, b), (404, json!({"error": "not found"})));
    let (s, _) = api.post("/pipelines/executions/x/status", "").await;
    assert_eq!(s, 404, "wrong method");
}

#[tokio::test]
async fn failing_node_blocks_downstream() {
    let api = Api::start(
        Scenario::builtin("demo-failing")
            .unwrap()
            .with_time_scale(3000.0),
    )
    .await;
    let id = api.execute(3_493_826).await;
    let s = api.wait_done(&id).await;
    assert_eq!(s["status"], "failed");
    assert!(s["error"].as_str().unwrap().contains("amount_usd"), "{s}");
    assert_eq!(node_status(&s, 1)["status"], "completed");
    let n3 = node_status(&s, 2);
    assert_eq!(n3["status"], "failed");
    assert_eq!(
        n3["error"],
        "line 12:5: Column 'amount_usd' cannot be resolved"
    );
    for i in [3, 4] {
        let n = node_status(&s, i);
        assert_eq!(n["status"], "pending", "{s}");
        assert!(n.get("execution_id").is_none(), "{s}");
        assert!(n.get("error").is_none());
    }

    let exec = execution_id(&s, 2);
    let (code, st) = api.get(&format!("/execution/{exec}/status")).await;
    assert_eq!(code, 200);
    assert_eq!(st["state"], "QUERY_STATE_FAILED");
    assert_eq!(st["is_execution_finished"], true);
    assert_eq!(st["query_id"], 3_493_802);
    assert_eq!(st["execution_cost_credits"], 0);
    assert_eq!(
        st["error"],
        json!({
            "type": "FAILED_TYPE_EXECUTION_FAILED",
            "message": "line 12:5: Column 'amount_usd' cannot be resolved",
            "metadata": {"line": 12, "column": 5}
        })
    );
    assert!(st.get("result_metadata").is_none());
    assert!(st.get("expires_at").is_none());

    let (code, res) = api.get(&format!("/execution/{exec}/results")).await;
    assert_eq!(code, 200);
    assert_eq!(res["state"], "QUERY_STATE_FAILED");
    assert_eq!(res["error"]["metadata"]["line"], 12);
    assert!(res.get("result").is_none());
    let (code, _) = api.get(&format!("/execution/{exec}/results/csv")).await;
    assert_eq!(code, 400);
}

#[tokio::test]
async fn status_name_overrides() {
    let yaml = r#"
time_scale: 200
status_names: {blocked: skipped, executing: running}
pipeline_status_names: {failed: executing}
pipeline_error: false
queries:
  - query_id: 10
    nodes:
      - {id: 1, query_id: 11, duration: 10s, status: weird_state}
      - {id: 2, query_id: 12, duration: 2s, dependencies: [1], outcome: failed}
      - {id: 3, query_id: 10, dependencies: [2]}
"#;
    let api = Api::start(Scenario::from_yaml_or_json(yaml).unwrap()).await;
    let id = api.execute(10).await;
    let early = api.status(&id).await;
    assert_eq!(node_status(&early, 0)["status"], "running");
    // Node 2 fails at 12 s virtual (60 ms real); the pipeline never leaves `executing`.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    let s = loop {
        let s = api.status(&id).await;
        if node_status(&s, 1)["status"] == "failed" {
            break s;
        }
        assert!(std::time::Instant::now() < deadline, "{s}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    // A server that never ends a failed pipeline.
    assert_eq!(s["status"], "executing");
    assert!(s.get("error").is_none());
    assert_eq!(node_status(&s, 0)["status"], "weird_state");
    assert_eq!(node_status(&s, 1)["status"], "failed");
    assert_eq!(
        node_status(&s, 1)["error"],
        "Query execution failed (simulated)"
    );
    assert_eq!(node_status(&s, 2)["status"], "skipped");
}

#[tokio::test]
async fn query_state_vocabulary() {
    let api = Api::start(
        Scenario::builtin("query-state")
            .unwrap()
            .with_time_scale(1.0),
    )
    .await;
    let id = api.execute(3_493_826).await;
    let s = api.status(&id).await;
    assert_eq!(s["status"], "pending", "top level stays lowercase");
    assert_eq!(node_status(&s, 0)["status"], "QUERY_STATE_PENDING");
    assert!(node_status(&s, 0)["execution_id"].is_string());
    assert_eq!(node_status(&s, 1)["status"], "QUERY_STATE_PENDING");
    assert!(node_status(&s, 1).get("execution_id").is_none());

    let api = Api::start(
        Scenario::builtin("query-state")
            .unwrap()
            .with_time_scale(5000.0),
    )
    .await;
    let id = api.execute(3_493_826).await;
    let s = api.wait_done(&id).await;
    assert_eq!(s["status"], "completed");
    for i in 0..5 {
        assert_eq!(node_status(&s, i)["status"], "QUERY_STATE_COMPLETED");
    }
}

#[tokio::test]
async fn cancel_execution() {
    let api = Api::start(Scenario::chain(7, 3, secs(10))).await;
    let id = api.execute(7).await;
    let exec = execution_id(&api.status(&id).await, 0);
    let (code, body) = api.post(&format!("/execution/{exec}/cancel"), "").await;
    assert_eq!((code, body), (200, json!({"success": true})));
    let s = api.status(&id).await;
    assert_eq!(s["status"], "cancelled");
    assert!(s["error"].as_str().unwrap().contains("cancelled"), "{s}");
    assert_eq!(node_status(&s, 0)["status"], "cancelled");
    for i in [1, 2] {
        assert_eq!(node_status(&s, i)["status"], "pending");
        assert!(node_status(&s, i).get("execution_id").is_none());
    }
    let (_, st) = api.get(&format!("/execution/{exec}/status")).await;
    assert_eq!(st["state"], "QUERY_STATE_CANCELLED");
    assert_eq!(st["is_execution_finished"], true);
    assert!(st["cancelled_at"].is_string());
    assert!(st["execution_started_at"].is_string());
    assert_eq!(st["execution_ended_at"], st["cancelled_at"]);
    assert!(st.get("query_id").is_none(), "a view has no query id");
    assert!(st.get("expires_at").is_none());
    let (_, res) = api.get(&format!("/execution/{exec}/results")).await;
    assert_eq!(res["state"], "QUERY_STATE_CANCELLED");

    let (code, body) = api
        .post(&format!("/execution/{}/cancel", exec.to_lowercase()), "")
        .await;
    assert_eq!((code, body), (200, json!({"success": false})));
    let (code, _) = api
        .post("/execution/01HKZJ2683PHF9Q9PHHQ8FW4Q1/cancel", "")
        .await;
    assert_eq!(code, 404);
    let (code, _) = api.post("/execution/nope/cancel", "").await;
    assert_eq!(code, 400);
    assert_eq!(api.sim.cancelled_executions(), vec![exec]);
}

fn timed_scenario(nodes: Vec<NodeDef>, time_scale: f64) -> Scenario {
    Scenario {
        time_scale,
        epoch: Some("2026-01-01T00:00:00Z".into()),
        queries: vec![QueryDef { query_id: 5, nodes }],
        ..Scenario::default()
    }
}

#[tokio::test]
async fn execution_status_fields() {
    let node = |queue| {
        let mut n = NodeDef::query(1, 5)
            .queue(secs(queue))
            .duration(secs(2))
            .rows(7);
        n.credits = Some(12.5);
        n
    };
    // Pending (real time).
    let api = Api::start(timed_scenario(vec![node(60)], 1.0)).await;
    let id = api.execute(5).await;
    let exec = execution_id(&api.status(&id).await, 0);
    let (code, st) = api.get(&format!("/execution/{exec}/status")).await;
    assert_eq!(code, 200);
    assert_eq!(
        st,
        json!({
            "execution_id": exec,
            "query_id": 5,
            "state": "QUERY_STATE_PENDING",
            "is_execution_finished": false,
            "submitted_at": "2026-01-01T00:00:00.000000000Z",
            "queue_position": 1,
            "execution_cost_credits": 0
        })
    );

    // Completed (100x).
    let api = Api::start(timed_scenario(vec![node(1)], 100.0)).await;
    let id = api.execute(5).await;
    let exec = execution_id(&api.wait_done(&id).await, 0);
    let (_, st) = api.get(&format!("/execution/{exec}/status")).await;
    assert_eq!(
        st,
        json!({
            "execution_id": exec,
            "query_id": 5,
            "state": "QUERY_STATE_COMPLETED",
            "is_execution_finished": true,
            "submitted_at": "2026-01-01T00:00:00.000000000Z",
            "execution_started_at": "2026-01-01T00:00:01.000000000Z",
            "execution_ended_at": "2026-01-01T00:00:03.000000000Z",
            "expires_at": "2026-04-01T00:00:03.000000000Z",
            "execution_cost_credits": 12.5,
            "result_metadata": {
                "column_names": ["day", "chain", "volume", "tx_count"],
                "column_types": ["varchar", "varchar", "double", "bigint"],
                "row_count": 7,
                "total_row_count": 7,
                "result_set_bytes": st["result_metadata"]["result_set_bytes"],
                "total_result_set_bytes": st["result_metadata"]["total_result_set_bytes"],
                "datapoint_count": 28,
                "pending_time_millis": 1000,
                "execution_time_millis": 2000
            }
        })
    );
    // Lowercase ids are accepted; unknown and malformed ids are not.
    let (code, _) = api
        .get(&format!("/execution/{}/status", exec.to_lowercase()))
        .await;
    assert_eq!(code, 200);
    let (code, body) = api
        .get("/execution/01HKZJ2683PHF9Q9PHHQ8FW4Q1/status")
        .await;
    assert_eq!((code, body), (404, json!({"error": "Execution not found"})));
    let (code, _) = api.get("/execution/not-an-id/results").await;
    assert_eq!(code, 400);
}

async fn completed_execution(api: &Api) -> String {
    let id = api.execute(5).await;
    let s = api.wait_done(&id).await;
    execution_id(&s, 0)
}

#[tokio::test]
async fn results_paging() {
    let mut scenario = timed_scenario(
        vec![NodeDef::query(1, 5).duration(secs(1)).rows(25)],
        1000.0,
    );
    scenario.max_page_rows = 10;
    let api = Api::start(scenario).await;
    let exec = completed_execution(&api).await;

    // An oversized limit is lowered to max_page_rows.
    let (code, page) = api
        .get(&format!("/execution/{exec}/results?limit=100"))
        .await;
    assert_eq!(code, 200);
    assert_eq!(page["state"], "QUERY_STATE_COMPLETED");
    assert_eq!(page["is_execution_finished"], true);
    assert_eq!(page["result"]["metadata"]["row_count"], 10);
    assert_eq!(page["result"]["metadata"]["total_row_count"], 25);
    assert_eq!(page["next_offset"], 10);
    let expected = format!(
        "{}/api/v1/execution/{exec}/results?limit=10&offset=10",
        api.sim.base_url()
    );
    assert_eq!(page["next_uri"], expected.as_str());
    let row = &page["result"]["rows"][0];
    assert!(row["day"].is_string() && row["chain"].is_string());
    assert!(row["volume"].is_number() && row["tx_count"].is_u64());

    // Follow next_uri as-is.
    let mut rows: Vec<Value> = page["result"]["rows"].as_array().unwrap().clone();
    let mut next = page["next_uri"].as_str().map(str::to_owned);
    let mut pages = 1;
    while let Some(uri) = next {
        let p: Value = api
            .http
            .get(&uri)
            .header("X-Dune-Api-Key", KEY)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        rows.extend(p["result"]["rows"].as_array().unwrap().iter().cloned());
        next = p["next_uri"].as_str().map(str::to_owned);
        if next.is_none() {
            assert!(p.get("next_offset").is_none());
            assert_eq!(p["result"]["metadata"]["row_count"], 5);
        }
        pages += 1;
    }
    assert_eq!((pages, rows.len()), (3, 25));

    // The same rows again (generated deterministically), and a small limit.
    let (_, again) = api
        .get(&format!("/execution/{exec}/results?limit=3&offset=2"))
        .await;
    assert_eq!(again["result"]["rows"][0], rows[2]);
    assert_eq!(again["next_offset"], 5);

    // Past the end: empty, true total, no next.
    let (code, past) = api
        .get(&format!("/execution/{exec}/results?offset=30"))
        .await;
    assert_eq!(code, 200);
    assert_eq!(past["result"]["rows"], json!([]));
    assert_eq!(past["result"]["metadata"]["row_count"], 0);
    assert_eq!(past["result"]["metadata"]["total_row_count"], 25);
    assert!(past.get("next_uri").is_none());

    let (code, _) = api
        .get(&format!("/execution/{exec}/results?limit=ten"))
        .await;
    assert_eq!(code, 400);
}

#[tokio::test]
async fn millions_of_rows_are_paged_quickly() {
    let api = Api::start(timed_scenario(
        vec![NodeDef::query(1, 5).duration(secs(1)).rows(5_000_000)],
        1000.0,
    ))
    .await;
    let exec = completed_execution(&api).await;
    let started = std::time::Instant::now();
    let (_, first) = api.get(&format!("/execution/{exec}/results")).await;
    assert_eq!(first["result"]["metadata"]["row_count"], 30_000);
    assert_eq!(first["next_offset"], 30_000);
    let (_, last) = api
        .get(&format!(
            "/execution/{exec}/results?limit=50000&offset=4990000"
        ))
        .await;
    assert_eq!(last["result"]["metadata"]["row_count"], 10_000);
    assert_eq!(last["result"]["metadata"]["total_row_count"], 5_000_000);
    assert!(last.get("next_uri").is_none());
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn csv_paging_headers() {
    let api = Api::start(timed_scenario(
        vec![NodeDef::query(1, 5).duration(secs(1)).rows(9)],
        1000.0,
    ))
    .await;
    let exec = completed_execution(&api).await;
    let first = api
        .raw_get(&format!("/execution/{exec}/results/csv?limit=4"))
        .await;
    assert_eq!(first.status(), 200);
    assert_eq!(first.headers()["content-type"], "text/csv");
    assert_eq!(first.headers()["x-dune-next-offset"], "4");
    let mut next = first.headers()["x-dune-next-uri"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        next,
        format!(
            "{}/api/v1/execution/{exec}/results/csv?limit=4&offset=4",
            api.sim.base_url()
        )
    );
    let text = first.text().await.unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "day,chain,volume,tx_count");
    let mut data_rows = lines.len() - 1;
    assert_eq!(data_rows, 4);
    loop {
        let r = api
            .http
            .get(&next)
            .header("X-Dune-Api-Key", KEY)
            .send()
            .await
            .unwrap();
        let header = r
            .headers()
            .get("x-dune-next-uri")
            .map(|v| v.to_str().unwrap().to_owned());
        assert_eq!(
            header.is_some(),
            r.headers().get("x-dune-next-offset").is_some()
        );
        let text = r.text().await.unwrap();
        assert!(text.starts_with("day,chain,volume,tx_count\n"));
        data_rows += text.lines().count() - 1;
        match header {
            Some(h) => next = h,
            None => break,
        }
    }
    assert_eq!(data_rows, 9);
}

#[tokio::test]
async fn partial_results() {
    let mut scenario = timed_scenario(
        vec![
            NodeDef::query(1, 6)
                .duration(secs(1))
                .rows(12)
                .outcome(Outcome::CompletedPartial),
            NodeDef::query(2, 5).duration(secs(1)).depends_on([1]),
        ],
        1000.0,
    );
    scenario.max_page_rows = 5;
    let api = Api::start(scenario).await;
    let id = api.execute(5).await;
    let s = api.wait_done(&id).await;
    assert_eq!(s["status"], "completed", "partial counts as completed");
    assert_eq!(node_status(&s, 0)["status"], "completed_partial");
    assert_eq!(node_status(&s, 1)["status"], "completed");
    let exec = execution_id(&s, 0);
    let (_, st) = api.get(&format!("/execution/{exec}/status")).await;
    assert_eq!(st["state"], "QUERY_STATE_COMPLETED_PARTIAL");
    assert_eq!(st["is_execution_finished"], true);

    let (code, body) = api.get(&format!("/execution/{exec}/results")).await;
    assert_eq!(
        (code, body),
        (
            400,
            json!({"error": "Partial Result, please request with 'allow_partial_results=true'"})
        )
    );
    let (code, page) = api
        .get(&format!(
            "/execution/{exec}/results?allow_partial_results=true"
        ))
        .await;
    assert_eq!(code, 200);
    assert_eq!(page["state"], "QUERY_STATE_COMPLETED_PARTIAL");
    assert_eq!(page["result"]["metadata"]["row_count"], 5);
    assert!(
        page["next_uri"]
            .as_str()
            .unwrap()
            .ends_with("?limit=5&offset=5&allow_partial_results=true")
    );
}

#[tokio::test]
async fn query_pipeline_lineage() {
    let api = Api::start(Scenario::builtin("demo").unwrap()).await;
    let (code, body) = api.get("/query/3493826/pipeline").await;
    assert_eq!(code, 200);
    let nodes = body["pipeline"]["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), 5);
    assert_eq!(
        nodes[0],
        json!({
            "id": 1,
            "dependencies": [],
            "materialized_view_refresh": {"name": "dune.acme.mv_dex_trades_daily", "performance": "medium"}
        })
    );
    assert_eq!(
        nodes[4],
        json!({
            "id": 5,
            "dependencies": [4],
            "query_execution": {"query_id": 3493826, "performance": "medium"}
        })
    );

    let (code, body) = api
        .get("/query/3493826/pipeline?performance=large&query_parameters=%7B%22chain%22%3A%22base%22%7D")
        .await;
    assert_eq!(code, 200);
    let nodes = body["pipeline"]["nodes"].as_array().unwrap();
    assert_eq!(
        nodes[4]["query_execution"],
        json!({"query_id": 3493826, "performance": "large", "query_parameters": {"chain": "base"}})
    );
    assert!(
        nodes[1]["query_execution"]
            .get("query_parameters")
            .is_none()
    );

    let (code, _) = api.get("/query/3493826/pipeline?performance=huge").await;
    assert_eq!(code, 400);
    let (code, _) = api
        .get("/query/3493826/pipeline?query_parameters=not-json")
        .await;
    assert_eq!(code, 400);
    let (code, _) = api.get("/query/999/pipeline").await;
    assert_eq!(code, 404);
    let (code, _) = api.get("/query/x/pipeline").await;
    assert_eq!(code, 400);
}

#[tokio::test]
async fn explicit_pipeline_validation() {
    let api = Api::start(
        Scenario::builtin("demo-failing")
            .unwrap()
            .with_time_scale(5000.0),
    )
    .await;
    let cases = [
        ("", "request body is required"),
        ("{", "invalid request body"),
        (r#"{"query_id": 1}"#, "unknown field `query_id`"),
        (r#"{"pipeline": {}}"#, "missing field `nodes`"),
        (r#"{"pipeline": {"nodes": []}}"#, "must not be empty"),
        (
            r#"{"pipeline": {"nodes": [{"id": 1, "query_execution": {"query_id": 1}}, {"id": 1, "query_execution": {"query_id": 2}}]}}"#,
            "duplicate node id 1",
        ),
        (
            r#"{"pipeline": {"nodes": [{"id": 1, "dependencies": [9], "query_execution": {"query_id": 1}}]}}"#,
            "node 1 depends on node 9, which does not exist",
        ),
        (
            r#"{"pipeline": {"nodes": [{"id": 1, "dependencies": [2], "query_execution": {"query_id": 1}}, {"id": 2, "dependencies": [1], "query_execution": {"query_id": 2}}]}}"#,
            "dependency cycle among nodes 1, 2",
        ),
        (
            r#"{"pipeline": {"nodes": [{"id": 1, "dependencies": []}]}}"#,
            "node 1: set exactly one of query_execution and materialized_view_refresh",
        ),
        (
            r#"{"pipeline": {"nodes": [{"id": 1, "query_execution": {"query_id": 1}, "materialized_view_refresh": {"name": "a"}}]}}"#,
            "not both",
        ),
        (
            r#"{"pipeline": {"nodes": [{"id": 1, "query_execution": {"query_id": 1, "performance": "xl"}}]}}"#,
            "node 1: performance must be one of: medium, large",
        ),
        (
            r#"{"pipeline": {"nodes": [{"id": 1, "query_execution": {"query_id": 1}, "foo": 2}]}}"#,
            "unknown field `foo`",
        ),
        (
            r#"{"pipeline": {"nodes": [{"id": "one", "query_execution": {"query_id": 1}}]}}"#,
            "pipeline.nodes[0].id",
        ),
    ];
    for (body, expected) in cases {
        let (code, resp) = api.post("/pipelines/execute", body).await;
        assert_eq!(code, 400, "{body} -> {resp}");
        let msg = resp["error"].as_str().unwrap();
        assert!(msg.contains(expected), "{body} -> {msg}");
    }
    assert_eq!(api.sim.pipelines_started(), 0);

    // Behaviour comes from the scenario's nodes with the same query / view; unknown ones default.
    let body = json!({"pipeline": {"nodes": [
        {"id": 10, "dependencies": [], "materialized_view_refresh": {"name": "dune.acme.mv_dex_trades_daily", "performance": "large"}},
        {"id": 20, "dependencies": [10], "query_execution": {"query_id": 3493802, "performance": "medium", "query_parameters": {"a": 1}}},
        {"id": 30, "dependencies": [], "query_execution": {"query_id": 777}}
    ]}});
    let (code, resp) = api.post("/pipelines/execute", &body.to_string()).await;
    assert_eq!(code, 200, "{resp}");
    let id = resp["pipeline_execution_id"].as_str().unwrap();
    let s = api.wait_done(id).await;
    assert_eq!(s["status"], "failed");
    let ids: Vec<&Value> = s["node_executions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| &n["id"])
        .collect();
    assert_eq!(ids, [10, 20, 30]);
    assert_eq!(node_status(&s, 0)["name"], "dune.acme.mv_dex_trades_daily");
    assert!(
        node_status(&s, 1)["error"]
            .as_str()
            .unwrap()
            .contains("amount_usd")
    );
    assert_eq!(node_status(&s, 2)["status"], "completed");
    assert_eq!(api.sim.pipelines_started(), 1);
}

#[tokio::test]
async fn requests_are_recorded() {
    let api = Api::start(Scenario::builtin("single").unwrap().with_time_scale(100.0)).await;
    let id = api.execute(1111).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    api.status(&id).await;
    let _ = api.get("/execution/bad/status?limit=1").await;
    let _ = api
        .post(
            "/query/1111/pipeline/execute",
            r#"{"performance": "large"}"#,
        )
        .await;

    let r = api.sim.requests();
    assert_eq!(r.len(), 4);
    assert_eq!(
        (r[0].method.as_str(), r[0].path.as_str(), r[0].status),
        ("POST", "/api/v1/query/1111/pipeline/execute", 200)
    );
    assert_eq!(r[0].body, "");
    assert_eq!(
        r[1].path,
        format!("/api/v1/pipelines/executions/{id}/status")
    );
    assert_eq!(r[1].query, None);
    assert_eq!(r[2].query.as_deref(), Some("limit=1"));
    assert_eq!(r[2].status, 400);
    assert_eq!(r[3].body, r#"{"performance": "large"}"#);
    assert!(r.iter().all(|x| x.api_key_ok));
    assert!(r.windows(2).all(|w| w[0].at <= w[1].at));
    // Virtual time: 50 ms real at 100x is at least 5 s.
    assert!(r[1].at >= Duration::from_secs(4), "{:?}", r[1].at);
    assert!(api.sim.virtual_now() >= r[3].at);
    api.sim.shutdown().await;
}

#[tokio::test]
async fn expired_node_fails_the_pipeline() {
    let api = Api::start(timed_scenario(
        vec![
            NodeDef::query(1, 6)
                .duration(secs(1))
                .outcome(Outcome::Expired),
            NodeDef::query(2, 5).depends_on([1]),
        ],
        1000.0,
    ))
    .await;
    let id = api.execute(5).await;
    let s = api.wait_done(&id).await;
    assert_eq!(s["status"], "failed");
    assert_eq!(s["error"], "node 1 (query 6) expired");
    assert_eq!(node_status(&s, 0)["status"], "expired");
    assert!(node_status(&s, 0).get("error").is_none());
    let (_, st) = api
        .get(&format!("/execution/{}/results", execution_id(&s, 0)))
        .await;
    assert_eq!(st["state"], "QUERY_STATE_EXPIRED");
    assert_eq!(st["is_execution_finished"], true);
    assert!(st.get("result").is_none());
}

#[tokio::test]
async fn speaks_http2_with_prior_knowledge() {
    let api = Api::start(Scenario::builtin("demo").unwrap()).await;
    let client = reqwest::Client::builder()
        .http2_prior_knowledge()
        .build()
        .unwrap();
    let r = client
        .get(api.url("/query/3493826/pipeline"))
        .header("X-Dune-Api-Key", KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(r.version(), reqwest::Version::HTTP_2);
    assert_eq!(r.status(), 200);
}

/// A saved query's SQL decides its node: the same SQL gives the same rows, another SQL other rows, and
/// a SQL with `!!` fails at that line and column.
#[tokio::test]
async fn the_sql_decides_the_rows_and_can_fail_at_a_line() {
    let mut scenario = Scenario::single_query(7, secs(1)).with_time_scale(1000.0);
    scenario.saved_queries = vec![dune_sim::SavedQuery::new(7, "SELECT 1")];
    let api = Api::start(scenario).await;
    let body = r#"{"pipeline": {"nodes": [{"id": 1, "query_execution": {"query_id": 7}}]}}"#;
    let mut seen = Vec::new();
    for sql in ["SELECT 1", "SELECT 1", "SELECT 2", "SELECT\n  1 !! 2"] {
        let patch = api
            .http
            .patch(api.url("/query/7"))
            .header("X-Dune-Api-Key", KEY)
            .json(&json!({ "query_sql": sql }))
            .send()
            .await
            .unwrap();
        assert_eq!(patch.status(), 200);
        let (status, started) = api.post("/pipelines/execute", body).await;
        assert_eq!(status, 200, "{started}");
        let pipeline = started["pipeline_execution_id"]
            .as_str()
            .unwrap()
            .to_owned();
        let done = api.wait_done(&pipeline).await;
        let exec = execution_id(&done, 0);
        let (_, result) = api.get(&format!("/execution/{exec}/results")).await;
        seen.push((done, result));
    }
    let rows_of = |i: usize| seen[i].1["result"]["rows"].clone();
    assert_eq!(rows_of(0), rows_of(1), "the same SQL, the same rows");
    assert_ne!(rows_of(0), rows_of(2), "another SQL, other rows");
    let (_, failed) = api
        .get(&format!(
            "/execution/{}/status",
            execution_id(&seen[3].0, 0)
        ))
        .await;
    assert_eq!(failed["state"], "QUERY_STATE_FAILED", "{failed}");
    assert_eq!(
        failed["error"]["metadata"],
        json!({"line": 2, "column": 5}),
        "{failed}"
    );
    let (_, query) = api.get("/query/7").await;
    assert_eq!(query["version"], 5, "four updates after version 1");
}

/// `GET /materialized-views/{name}`: the scenario's last refresh of a view, readable as an execution
/// (its end, its cost); a pipeline's refresh listed before it once submitted; a view only in a pipeline
/// with no refresh yet; an unknown view is a 404.
#[tokio::test]
async fn materialized_views_list_their_latest_refreshes() {
    let mut scenario = Scenario::from_yaml_or_json(
        r#"
time_scale: 100
epoch: "2026-01-01T00:00:00Z"
materialized_views:
  - {name: dune.acme.result_daily, age: 2h, duration: 30s, credits: 7.5, query_id: 4321}
  - {name: dune.acme.result_broken, age: 5m, state: failed, error: boom}
queries:
  - query_id: 5
    nodes:
      - {id: 1, materialized_view: dune.acme.result_daily, duration: 2s}
      - {id: 2, query_id: 5, dependencies: [1], duration: 2s}
  - query_id: 6
    nodes:
      - {id: 1, materialized_view: dune.acme.result_never, duration: 2s}
"#,
    )
    .unwrap();
    scenario.api_key = Some(KEY.into());
    let api = Api::start(scenario).await;

    let (code, view) = api.get("/materialized-views/dune.acme.result_daily").await;
    assert_eq!(code, 200, "{view}");
    let ids = view["last_execution_ids"].as_array().unwrap().clone();
    assert_eq!(ids.len(), 1, "{view}");
    assert_eq!(
        (&view["id"], &view["query_id"]),
        (&json!("dune.acme.result_daily"), &json!(4321))
    );
    let scenario_refresh = ids[0].as_str().unwrap().to_owned();
    let (code, st) = api
        .get(&format!("/execution/{scenario_refresh}/status"))
        .await;
    assert_eq!(code, 200, "{st}");
    assert_eq!(
        (
            &st["state"],
            &st["execution_ended_at"],
            &st["execution_started_at"],
            &st["execution_cost_credits"],
            &st["query_id"]
        ),
        (
            &json!("QUERY_STATE_COMPLETED"),
            &json!("2025-12-31T22:00:00.000000000Z"),
            &json!("2025-12-31T21:59:30.000000000Z"),
            &json!(7.5),
            &json!(4321)
        )
    );
    let (_, cancel) = api
        .post(&format!("/execution/{scenario_refresh}/cancel"), "")
        .await;
    assert_eq!(cancel, json!({"success": false}), "a past refresh");

    let (_, broken) = api.get("/materialized-views/dune.acme.result_broken").await;
    let failed = broken["last_execution_ids"][0].as_str().unwrap().to_owned();
    let (_, st) = api.get(&format!("/execution/{failed}/status")).await;
    assert_eq!(
        (
            &st["state"],
            &st["error"]["message"],
            &st["execution_cost_credits"]
        ),
        (&json!("QUERY_STATE_FAILED"), &json!("boom"), &json!(0))
    );

    // A pipeline refreshes the view: its refresh comes first once submitted.
    let id = api.execute(5).await;
    let done = api.wait_done(&id).await;
    let refresh = execution_id(&done, 0);
    let (_, view) = api.get("/materialized-views/dune.acme.result_daily").await;
    assert_eq!(
        view["last_execution_ids"],
        json!([refresh, scenario_refresh]),
        "{view}"
    );

    let (code, never) = api.get("/materialized-views/dune.acme.result_never").await;
    assert_eq!((code, &never["last_execution_ids"]), (200, &json!([])));
    let (code, body) = api.get("/materialized-views/dune.acme.nope").await;
    assert_eq!(
        (code, body),
        (404, json!({"error": "Materialized view not found"}))
    );
}
