//! What a run costs: credits per node and their sum, the budget (`max_credits`) that cancels the rest
//! once the known spend passes it, the estimate before the start that keeps a run over the budget from
//! starting, the account's billing period read before and after the run (`POST /v1/usage`), whose
//! failure does not fail the run, and Dune's own "configured limits" on a node.

use std::time::Duration;

use crate::common::{ActionRun, USAGE_PATH, keyed, posts};
use dune_api::rate::{DEFAULT_WINDOW, busiest_window};
use dune_pipeline_action::pipeline::schedule::Schedule;
use dune_sim::{Fault, FaultEndpoint, FaultResponse, LatestResult, Scenario, Simulator};

const SPEED: f64 = 50.0;

/// Query 900's chain: node 1 (3 credits, 5 s), node 2 (12 credits, 5 s), node 3 (4 credits, 2 min),
/// node 4 (1 credit, 5 s).
fn chain() -> Scenario {
    keyed(
        Scenario::from_yaml_or_json(&format!(
            r#"
time_scale: {SPEED}
queries:
  - query_id: 900
    nodes:
      - {{id: 1, query_id: 901, duration: 5s, credits: 3}}
      - {{id: 2, query_id: 902, dependencies: [1], duration: 5s, credits: 12}}
      - {{id: 3, query_id: 903, dependencies: [2], duration: 2m, credits: 4}}
      - {{id: 4, query_id: 900, dependencies: [3], duration: 5s, credits: 1}}
"#
        ))
        .expect("scenario"),
    )
}

fn node_credits(nodes: &serde_json::Value) -> Vec<Option<f64>> {
    nodes
        .as_array()
        .expect("nodes array")
        .iter()
        .map(|n| n["credits"].as_f64())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn every_node_read_its_credits_add_up_and_the_usage_line_is_in_the_summary() {
    let sim = Simulator::start(chain()).await.expect("simulator");
    let done = ActionRun::against(&sim, SPEED)
        .input("query_id", "900")
        .run()
        .await;
    assert_eq!(done.exit_code, 0, "{}", done.log);
    let per_node = node_credits(&done.json("nodes"));
    assert_eq!(per_node, vec![Some(3.0), Some(12.0), Some(4.0), Some(1.0)]);
    let total = done.outputs.get("credits").expect("a credits output");
    assert_eq!(total.trim().parse::<f64>().ok(), Some(20.0), "{total}");
    assert!(
        done.summary
            .contains("- This run: **20** credits, known for 4 of 4 nodes that executed."),
        "{}",
        done.summary
    );
    // 1,234 used before (the simulator's default period), 20 by this run.
    assert!(
        done.summary
            .contains("- Billing period: 1,254 of 2,500 credits used, 50%, period ends 2026-12-31"),
        "{}",
        done.summary
    );
    assert!(
        done.summary
            .contains("usage moved by 20 credits during the run (account-wide"),
        "{}",
        done.summary
    );
    let usage_reads = sim
        .requests()
        .iter()
        .filter(|r| r.path == "/api/v1/usage")
        .count();
    assert_eq!(usage_reads, 2, "one before the start, one after the end");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_budget_passed_by_the_second_node_cancels_the_rest() {
    let sim = Simulator::start(chain()).await.expect("simulator");
    let done = ActionRun::against(&sim, SPEED)
        .input("query_id", "900")
        .input("max_credits", "10")
        .run()
        .await;
    assert_eq!(done.exit_code, 6, "{}", done.log);
    assert_eq!(
        done.outputs.get("status").map(String::as_str),
        Some("over_budget")
    );
    let nodes = done.json("nodes");
    let status = |i: usize| nodes[i]["status"].as_str().unwrap_or_default().to_string();
    assert_eq!(status(0), "completed");
    assert_eq!(status(1), "completed");
    assert_ne!(status(2), "completed", "{nodes}");
    assert_ne!(status(3), "completed", "{nodes}");
    assert_eq!(
        sim.cancelled_executions().len(),
        1,
        "node 3 was running and is cancelled"
    );
    assert!(
        done.summary.contains("over its credit budget"),
        "{}",
        done.summary
    );
    assert!(
        done.summary
            .contains("Spent by: node 2 (query 902) 12, node 1 (query 901) 3"),
        "{}",
        done.summary
    );
    assert!(
        done.summary
            .contains("- Budget (`max_credits`): 10, **passed**")
    );
    // None of the queries ran before: the estimate knew nothing, so the run started, and said so.
    assert!(
        done.summary
            .contains("- No node's cost was known before the start, so the estimate could not be held against `max_credits` (10): the run started"),
        "{}",
        done.summary
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_budget_not_passed_changes_nothing() {
    let sim = Simulator::start(chain()).await.expect("simulator");
    let done = ActionRun::against(&sim, SPEED)
        .input("query_id", "900")
        .input("max_credits", "20")
        .run()
        .await;
    assert_eq!(done.exit_code, 0, "{}", done.log);
    assert!(
        done.summary
            .contains("- Budget (`max_credits`): 20, not passed")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_invalid_budget_is_an_input_error_and_nothing_is_sent() {
    for bad in ["0", "-5", "lots"] {
        let sim = Simulator::start(chain()).await.expect("simulator");
        let done = ActionRun::against(&sim, SPEED)
            .input("query_id", "900")
            .input("max_credits", bad)
            .run()
            .await;
        assert_eq!(done.exit_code, 2, "{bad}: {}", done.log);
        assert!(done.log.contains("max_credits"), "{}", done.log);
        assert!(sim.requests().is_empty(), "{bad}: {:?}", sim.requests());
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn usage_that_cannot_be_read_does_not_fail_the_run() {
    let sim = Simulator::start(chain().with_fault(Fault::new(
        FaultEndpoint::Usage,
        (0..30).map(|_| FaultResponse::status(403)),
    )))
    .await
    .expect("simulator");
    let done = ActionRun::against(&sim, SPEED)
        .input("query_id", "900")
        .run()
        .await;
    assert_eq!(done.exit_code, 0, "{}", done.log);
    assert!(
        done.summary
            .contains("The account's usage could not be read"),
        "{}",
        done.summary
    );
    assert!(!done.summary.contains("Billing period"), "{}", done.summary);
    assert!(done.summary.contains("- This run: **20** credits"));
}

/// The chain after an earlier run: each query's latest result cost what the chain's node does.
fn chain_that_ran_before() -> Scenario {
    let mut s = chain();
    let hour = Duration::from_secs(3600);
    s.latest_results = [(901, 3.0), (902, 12.0), (903, 4.0), (900, 1.0)]
        .into_iter()
        .map(|(q, c)| LatestResult::new(q, hour).credits(c))
        .collect();
    s
}

fn error_lines(log: &str) -> Vec<&str> {
    log.lines().filter(|l| l.starts_with("::error")).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn an_estimate_over_the_budget_starts_nothing() {
    // A view refreshed for 7.5 credits last time, then a query whose latest run cost 4.
    let scenario = keyed(
        Scenario::from_yaml_or_json(&format!(
            r#"
time_scale: {SPEED}
materialized_views:
  - {{name: dune.acme.mv_daily, age: 2h, credits: 7.5}}
latest_results:
  - {{query_id: 910, age: 1h, credits: 4}}
queries:
  - query_id: 910
    nodes:
      - {{id: 1, materialized_view: dune.acme.mv_daily, duration: 5s}}
      - {{id: 2, query_id: 910, dependencies: [1], duration: 5s}}
"#
        ))
        .expect("scenario"),
    );
    let sim = Simulator::start(scenario).await.expect("simulator");
    let done = ActionRun::against(&sim, SPEED)
        .input("query_id", "910")
        .input("max_credits", "10")
        .run()
        .await;
    assert_eq!(done.exit_code, 6, "{}", done.log);
    assert_eq!(done.outputs["status"], "over_budget");
    assert!(
        posts(&sim).is_empty(),
        "nothing started: {:?}",
        sim.requests()
    );
    assert_eq!(sim.pipelines_started(), 0);
    let errors = error_lines(&done.log);
    assert_eq!(errors.len(), 1, "{}", done.log);
    assert!(
        errors[0].contains("Nothing was started: the estimate from each node's last known cost is 11.5 credits for 2 of 2 nodes, more than `max_credits` (10). Costliest: node 1 (view dune.acme.mv_daily) 7.5, node 2 (query 910) 4."),
        "{}",
        errors[0]
    );
    assert!(
        done.summary.contains("- Estimate before the start, from each node's last known cost (the latest execution of its query, the last refresh of its view; the next run may cost more or less): **11.5** credits, known for 2 of 2 nodes."),
        "{}",
        done.summary
    );
    assert!(
        done.summary
            .contains("- The estimate is more than `max_credits` (10): **nothing was started**."),
        "{}",
        done.summary
    );
    // Nothing ran, so no usage was read and nothing was spent against the budget.
    assert!(!sim.requests().iter().any(|r| r.path == USAGE_PATH));
    assert!(!done.summary.contains("not passed"), "{}", done.summary);
    let nodes = done.json("nodes");
    assert!(
        nodes
            .as_array()
            .expect("nodes")
            .iter()
            .all(|n| n["status"] == "planned" && n["credits"].is_null()),
        "{nodes}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_estimate_within_the_budget_runs_and_shows_in_the_summary() {
    let sim = Simulator::start(chain_that_ran_before())
        .await
        .expect("simulator");
    let done = ActionRun::against(&sim, SPEED)
        .input("query_id", "900")
        .input("max_credits", "25")
        .input("requests_per_minute", "200")
        .run()
        .await;
    assert_eq!(done.exit_code, 0, "{}", done.log);
    assert!(
        done.summary.contains("(the latest execution of its query, the last refresh of its view; the next run may cost more or less): **20** credits, known for 4 of 4 nodes."),
        "{}",
        done.summary
    );
    assert!(
        done.summary
            .contains("- Within `max_credits` (25) as far as it is known.")
    );
    assert!(
        done.log.contains("Estimate before the start"),
        "{}",
        done.log
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_dry_run_shows_the_estimate() {
    let sim = Simulator::start(chain_that_ran_before())
        .await
        .expect("simulator");
    let done = ActionRun::against(&sim, SPEED)
        .input("query_id", "900")
        .input("dry_run", "true")
        .input("max_credits", "10")
        .run()
        .await;
    assert_eq!(done.exit_code, 0, "{}", done.log);
    assert_eq!(done.outputs["status"], "planned");
    assert!(
        done.summary
            .contains("**20** credits, known for 4 of 4 nodes."),
        "{}",
        done.summary
    );
    assert!(
        done.summary
            .contains("- The estimate is more than `max_credits` (10): a run now would not start."),
        "{}",
        done.summary
    );
    assert!(posts(&sim).is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn the_estimate_of_30_nodes_at_40_a_minute_reads_what_the_first_minute_of_polls_leaves() {
    // 30 queries that all ran before (1 credit each): reading each one's last cost would take 60
    // requests, a minute and a half at 40 a minute. The reads take only what the first window's polls
    // leave; the rest are unknown, the summary says why, and the start is not held back.
    let speed = 20.0;
    let query = crate::polling::QUERY;
    let mut scenario = crate::polling::fan_out(5, 29, 10, speed);
    for n in &mut scenario.queries[0].nodes {
        n.credits = Some(1.0);
    }
    let hour = Duration::from_secs(3600);
    scenario.latest_results = (1..=30)
        .map(|id| LatestResult::new(if id == 1 { query } else { query + id }, hour).credits(1.0))
        .collect();
    let sim = Simulator::start(scenario).await.expect("simulator");
    let done = ActionRun::against(&sim, speed)
        .input("query_id", &query.to_string())
        .input("max_credits", "100")
        .input("result_rows", "0")
        .run()
        .await;
    assert_eq!(done.exit_code, 0, "{}", done.log);
    let requests = sim.requests();
    let start = requests
        .iter()
        .position(|r| r.path.ends_with("/pipeline/execute"))
        .expect("a start");
    let before = &requests[..start];
    let estimate_reads = before
        .iter()
        .filter(|r| r.path.ends_with("/results") || r.path.ends_with("/status"))
        .count();
    let polls = Schedule::default()
        .plan(Duration::ZERO, Duration::ZERO, DEFAULT_WINDOW)
        .len();
    // The definition read, the reads, the usage read, and the start leave the first window's polls room.
    assert_eq!(estimate_reads, 2 * ((40 - polls - 3) / 2), "{before:?}");
    assert!(before.len() + 1 + polls <= 40, "{before:?}");
    let known = estimate_reads / 2;
    // The start left within seconds of the first request (virtual time), not a minute.
    let waited = requests[start].at - requests[0].at;
    assert!(waited < Duration::from_secs(5), "{waited:?}");
    assert!(
        done.summary.contains(&format!(
            "**{known}** credits, known for {known} of 30 nodes;"
        )),
        "{}",
        done.summary
    );
    assert!(
        done.summary.contains(&format!(
            "unknown: {} nodes not read: the rate budget before the start has no room for them (the rate budget before the start allowed {} reads, two a node).",
            30 - known,
            40 - polls - 3
        )),
        "{}",
        done.summary
    );
    let times: Vec<Duration> = requests.iter().map(|r| r.at).collect();
    assert!(busiest_window(&times, Duration::from_secs(60)) <= 40);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_node_refused_for_a_configured_limit_says_which_and_is_exit_4() {
    for (per_execution, knob) in [
        (true, "the cap per execution your team set on dune.com"),
        (false, "the monthly credit limit your team set on dune.com"),
    ] {
        let mut scenario = chain();
        let nodes = &mut scenario.queries[0].nodes;
        nodes[1] = nodes[1].clone().over_configured_limit(per_execution);
        let sim = Simulator::start(scenario).await.expect("simulator");
        let done = ActionRun::against(&sim, SPEED)
            .input("query_id", "900")
            .run()
            .await;
        assert_eq!(done.exit_code, 4, "{}", done.log);
        assert_eq!(done.outputs["status"], "error");
        let errors = error_lines(&done.log);
        let last = errors.last().expect("the step's error");
        assert!(
            last.starts_with("::error title=Dune limit reached::Dune refused node 2 (query 902): This api request would exceed your configured limits per "),
            "{last}"
        );
        assert!(last.contains(knob), "{last}");
        assert!(last.contains("No retry helps"), "{last}");
        assert!(last.contains("not retried"), "{last}");
        // One start, and nothing started again.
        assert_eq!(posts(&sim).len(), 1);
        assert_eq!(sim.pipelines_started(), 1);
    }
}
