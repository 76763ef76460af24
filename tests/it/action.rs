//! End to end: the action, in-process, against the Dune API simulator (both status vocabularies).

use crate::common::{ActionRun, KEY, keyed, snapshot_settings};
use dune_sim::{Scenario, Simulator};
use serde_json::json;

const SPEED: f64 = 50.0;

fn chain(style: &str, fail_node: Option<i64>) -> Scenario {
    let outcome = |id: i64| {
        if Some(id) == fail_node {
            "outcome: failed\n        error: \"line 1:8: Column 'x' cannot be resolved\"\n        error_line: 1\n        error_column: 8"
        } else {
            "outcome: completed"
        }
    };
    let yaml = format!(
        r#"
time_scale: {SPEED}
epoch: "2026-01-01T00:00:00Z"
status_style: {style}
queries:
  - query_id: 3493826
    nodes:
      - id: 1
        materialized_view: dune.acme.mv_daily
        dependencies: []
        duration: 20s
        credits: 5
        {o1}
      - id: 2
        query_id: 101
        dependencies: [1]
        duration: 15s
        credits: 12.5
        {o2}
      - id: 3
        query_id: 3493826
        dependencies: [2]
        duration: 10s
        credits: 3
        {o3}
"#,
        o1 = outcome(1),
        o2 = outcome(2),
        o3 = outcome(3),
    );
    keyed(Scenario::from_yaml_or_json(&yaml).expect("scenario"))
}

async fn run_chain(style: &str, fail: Option<i64>) -> (crate::common::Finished, Simulator) {
    let sim = Simulator::start(chain(style, fail))
        .await
        .expect("simulator");
    let done = ActionRun::against(&sim, SPEED)
        .input("query_id", "3493826")
        .input("performance", "large")
        // Results have their own tests (tests/results.rs); these follow the pipeline.
        .input("result_rows", "0")
        .run()
        .await;
    (done, sim)
}

#[tokio::test(flavor = "multi_thread")]
async fn success_lowercase_vocabulary() {
    let (done, sim) = run_chain("lowercase", None).await;
    assert_eq!(done.exit_code, 0, "{}", done.log);
    assert_eq!(done.outputs["status"], "completed");
    let nodes = done.json("nodes");
    let nodes = nodes.as_array().expect("array");
    assert_eq!(nodes.len(), 3);
    assert!(
        nodes.iter().all(|n| n["status"] == "completed"),
        "{nodes:?}"
    );
    assert_eq!(nodes[0]["kind"], "materialized_view");
    assert_eq!(nodes[0]["name"], "dune.acme.mv_daily");
    assert_eq!(nodes[1]["query_id"], 101);
    assert_eq!(nodes[1]["credits"], 12.5);
    assert_eq!(nodes[1]["error"], serde_json::Value::Null);
    assert!(
        nodes[1]["started_at"]
            .as_str()
            .is_some_and(|t| t.starts_with("2026-01-01T00:")),
        "{nodes:?}"
    );
    assert!(nodes[1]["ended_at"].is_string());
    assert_eq!(done.json("failed_nodes"), json!([]));
    assert_eq!(
        done.outputs["execution_id"],
        nodes[2]["execution_id"].as_str().expect("exec id")
    );
    let pid = &done.outputs["pipeline_execution_id"];
    assert_eq!(pid.len(), 26);
    assert_eq!(done.state.get("pipeline_execution_id"), Some(pid));
    // The key is masked before anything else is printed.
    assert_eq!(
        done.log.lines().next(),
        Some(format!("::add-mask::{KEY}").as_str())
    );
    assert!(done.log.contains(&format!(
        "::notice title=Dune pipeline started::pipeline execution {pid}"
    )));
    // The start request carried the tier and went out once.
    let starts: Vec<_> = sim
        .requests()
        .into_iter()
        .filter(|r| r.method == "POST")
        .collect();
    assert_eq!(starts.len(), 1);
    assert!(starts[0].body.contains("\"performance\":\"large\""));
    assert!(done.summary.contains("| Performance | large |"));
    snapshot_settings().bind(|| insta::assert_snapshot!("summary_success", done.summary));
}

#[tokio::test(flavor = "multi_thread")]
async fn success_query_state_vocabulary() {
    let (done, _sim) = run_chain("query_state", None).await;
    assert_eq!(done.exit_code, 0, "{}", done.log);
    let nodes = done.json("nodes");
    for n in nodes.as_array().expect("array") {
        assert_eq!(n["status"], "completed");
        assert_eq!(n["raw_status"], "QUERY_STATE_COMPLETED");
    }
}

async fn assert_failing(style: &str) {
    let (done, _sim) = run_chain(style, Some(2)).await;
    assert_eq!(done.exit_code, 1, "{}", done.log);
    assert_eq!(done.outputs["status"], "failed");
    assert_eq!(done.json("failed_nodes"), json!([2]));
    let nodes = done.json("nodes");
    assert_eq!(nodes[0]["status"], "completed");
    assert_eq!(nodes[1]["status"], "failed");
    assert_eq!(
        nodes[1]["error"]["message"],
        "line 1:8: Column 'x' cannot be resolved"
    );
    assert_eq!(nodes[1]["error"]["line"], 1);
    assert_eq!(nodes[1]["error"]["column"], 8);
    assert_eq!(nodes[2]["status"], "skipped");
    assert!(
        done.log.contains(
            "::error title=Node 2 (query 101) failed::line 1:8: Column 'x' cannot be resolved"
        ),
        "{}",
        done.log
    );
    assert!(done.log.contains("::error title=Dune pipeline failed::"));
    assert!(
        done.summary
            .contains("line 1:8: Column 'x' cannot be resolved")
    );
    assert!(done.summary.contains("❌ Dune pipeline failed"));
}

#[tokio::test(flavor = "multi_thread")]
async fn failing_node_lowercase_vocabulary() {
    assert_failing("lowercase").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn failing_node_query_state_vocabulary() {
    assert_failing("query_state").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn failing_summary_snapshot() {
    let (done, _sim) = run_chain("lowercase", Some(2)).await;
    snapshot_settings().bind(|| insta::assert_snapshot!("summary_failed", done.summary));
}

#[tokio::test(flavor = "multi_thread")]
async fn every_invalid_input_exits_2_before_any_request() {
    let sim = Simulator::start(chain("lowercase", None))
        .await
        .expect("simulator");
    let cases: &[(&str, Option<&str>)] = &[
        ("query_id", None),
        ("query_id", Some("abc")),
        ("query_id", Some("0")),
        ("query_id", Some("-5")),
        ("query_id", Some("12.5")),
        ("api_key", None),
        ("api_key", Some("two words")),
        // `performance: huge` is no longer refused here: an unknown tier is passed through with a warning,
        // the one rule with pipeline files (issue 21; real_dune.rs).
        ("timeout", Some("10x")),
        ("timeout", Some("0")),
        ("timeout", Some("90d")),
        // No unit: seconds or minutes? Refused (issue 21).
        ("timeout", Some("30")),
        ("request_timeout", Some("30")),
        ("query_parameters", Some("[1, 2]")),
        ("query_parameters", Some("{bad json")),
        ("api_url", Some("http://api.example.com")),
        ("api_url", Some("not a url")),
        ("request_timeout", Some("fast")),
        ("cancel_on_timeout", Some("yes")),
    ];
    for (input, value) in cases {
        let mut run = ActionRun::against(&sim, SPEED).input("query_id", "3493826");
        run = match value {
            Some(v) => run.input(input, v),
            None => run.without(input),
        };
        let done = run.run().await;
        assert_eq!(done.exit_code, 2, "{input}={value:?}: {}", done.log);
        assert!(
            done.log.contains(&format!(
                "::error title=Invalid input `{input}`::input `{input}`"
            )),
            "{input}={value:?}: {}",
            done.log
        );
        assert_eq!(done.outputs["status"], "error");
        assert!(
            done.summary.contains(&format!("Invalid input `{input}`")),
            "{}",
            done.summary
        );
        let unmasked: String = done
            .everything()
            .lines()
            .filter(|l| !l.starts_with("::add-mask::"))
            .collect();
        assert!(!unmasked.contains("two words"), "the key leaked");
    }
    assert_eq!(sim.requests().len(), 0, "no request may reach Dune");
}

#[tokio::test(flavor = "multi_thread")]
async fn wrong_key_is_401_with_a_hint_and_no_retry() {
    let sim = Simulator::start(chain("lowercase", None))
        .await
        .expect("simulator");
    let done = ActionRun::against(&sim, SPEED)
        .input("query_id", "3493826")
        .input("api_key", "wrong-key-123")
        .run()
        .await;
    assert_eq!(done.exit_code, 4, "{}", done.log);
    assert!(done.log.contains("HTTP 401"), "{}", done.log);
    assert!(
        done.log.contains("Check that the `api_key` input"),
        "{}",
        done.log
    );
    assert_eq!(sim.requests().len(), 1);
    assert_eq!(done.outputs["status"], "error");
    assert!(done.summary.contains("HTTP 401"));
    assert!(
        !done
            .everything()
            .replace("::add-mask::wrong-key-123", "")
            .contains("wrong-key-123")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn unknown_query_is_404_with_a_hint() {
    let sim = Simulator::start(chain("lowercase", None))
        .await
        .expect("simulator");
    let done = ActionRun::against(&sim, SPEED)
        .input("query_id", "999")
        .run()
        .await;
    assert_eq!(done.exit_code, 4, "{}", done.log);
    assert!(done.log.contains("HTTP 404"), "{}", done.log);
    assert!(done.log.contains("Check `query_id`"), "{}", done.log);
    // The definition read (a warning) and the start, each once: a 404 is not retried.
    let requests: Vec<String> = sim
        .requests()
        .iter()
        .map(|r| format!("{} {} {}", r.method, r.path, r.status))
        .collect();
    assert_eq!(
        requests,
        [
            "GET /api/v1/query/999/pipeline 404",
            "POST /api/v1/query/999/pipeline/execute 404"
        ]
    );
    assert_eq!(sim.pipelines_started(), 0);
}

fn slow(style: &str) -> Scenario {
    keyed(
        Scenario::from_yaml_or_json(&format!(
            r#"
time_scale: 100
status_style: {style}
queries:
  - query_id: 77
    nodes:
      - {{id: 1, query_id: 70, duration: 5s}}
      - {{id: 2, query_id: 77, dependencies: [1], duration: 10m}}
"#
        ))
        .expect("scenario"),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn timeout_exits_3_cancels_and_still_reports() {
    let sim = Simulator::start(slow("lowercase"))
        .await
        .expect("simulator");
    let done = ActionRun::against(&sim, 100.0)
        .input("query_id", "77")
        .input("timeout", "40s")
        .run()
        .await;
    assert_eq!(done.exit_code, 3, "{}", done.log);
    assert_eq!(done.outputs["status"], "timed_out");
    assert_eq!(done.outputs["pipeline_execution_id"].len(), 26);
    let nodes = done.json("nodes");
    assert_eq!(nodes[0]["status"], "completed");
    assert_eq!(nodes[1]["status"], "cancelled");
    assert_eq!(nodes[1]["cancelled_by_action"], true);
    assert_eq!(sim.cancelled_executions().len(), 1);
    assert!(done.summary.contains("timed out"));
    assert!(done.summary.contains("Cancelled by the action"));
    assert!(done.log.contains("::error title=Dune pipeline timed out::"));
}

#[tokio::test(flavor = "multi_thread")]
async fn timeout_without_cancel_leaves_executions_running() {
    let sim = Simulator::start(slow("query_state"))
        .await
        .expect("simulator");
    let done = ActionRun::against(&sim, 100.0)
        .input("query_id", "77")
        .input("timeout", "40s")
        .input("cancel_on_timeout", "false")
        .run()
        .await;
    assert_eq!(done.exit_code, 3, "{}", done.log);
    assert!(sim.cancelled_executions().is_empty());
    assert_eq!(done.json("nodes")[1]["status"], "executing");
}

#[tokio::test(flavor = "multi_thread")]
async fn unknown_status_strings_are_kept_and_settled_by_the_execution() {
    let scenario = keyed(
        Scenario::from_yaml_or_json(
            r#"
time_scale: 50
status_names: {completed: all_good_now}
queries:
  - query_id: 5
    nodes:
      - {id: 1, query_id: 5, duration: 5s}
"#,
        )
        .expect("scenario"),
    );
    let sim = Simulator::start(scenario).await.expect("simulator");
    let done = ActionRun::against(&sim, 50.0)
        .input("query_id", "5")
        .run()
        .await;
    assert_eq!(done.exit_code, 0, "{}", done.log);
    let nodes = done.json("nodes");
    assert_eq!(nodes[0]["raw_status"], "all_good_now");
    assert_eq!(nodes[0]["status"], "completed");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_pipeline_that_never_says_so_does_not_hang() {
    // The server keeps saying "executing" after a node failed and the rest can never start.
    let scenario = keyed(
        Scenario::from_yaml_or_json(
            r#"
time_scale: 50
pipeline_status_names: {failed: executing}
queries:
  - query_id: 9
    nodes:
      - {id: 1, query_id: 8, duration: 5s, outcome: failed, error: boom}
      - {id: 2, query_id: 9, dependencies: [1], duration: 5s}
"#,
        )
        .expect("scenario"),
    );
    let sim = Simulator::start(scenario).await.expect("simulator");
    let done = ActionRun::against(&sim, 50.0)
        .input("query_id", "9")
        .input("timeout", "10m")
        .run()
        .await;
    assert_eq!(done.exit_code, 1, "{}", done.log);
    assert_eq!(done.outputs["status"], "failed");
    assert_eq!(done.json("nodes")[1]["status"], "skipped");
}

#[tokio::test(flavor = "multi_thread")]
async fn query_parameters_are_passed_through() {
    let sim = Simulator::start(chain("lowercase", None))
        .await
        .expect("simulator");
    let done = ActionRun::against(&sim, SPEED)
        .input("query_id", "3493826")
        .input("query_parameters", r#"{"chain": "ethereum", "days": 7}"#)
        .run()
        .await;
    assert_eq!(done.exit_code, 0, "{}", done.log);
    let start = sim
        .requests()
        .into_iter()
        .find(|r| r.method == "POST")
        .expect("start");
    let body: serde_json::Value = serde_json::from_str(&start.body).expect("json body");
    assert_eq!(
        body,
        json!({"performance": "medium", "query_parameters": {"chain": "ethereum", "days": 7}})
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn polling_stays_within_the_rate_cap() {
    let (done, sim) = run_chain("lowercase", None).await;
    assert_eq!(done.exit_code, 0);
    let times: Vec<_> = sim.requests().iter().map(|r| r.at).collect();
    for (i, t) in times.iter().enumerate() {
        let in_minute = times[i..]
            .iter()
            .take_while(|u| **u < *t + std::time::Duration::from_secs(60))
            .count();
        assert!(in_minute <= 40, "{in_minute} requests within a minute");
    }
    // One execution read per node that ended, never one per poll.
    let reads = sim
        .requests()
        .iter()
        .filter(|r| r.path.starts_with("/api/v1/execution/"))
        .count();
    assert_eq!(reads, 3);
}
