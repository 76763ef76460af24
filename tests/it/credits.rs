//! What a run costs: credits per node and their sum, the budget (`max_credits`) that cancels the rest
//! once the known spend passes it, and the account's billing period read before and after the run
//! (`POST /v1/usage`), whose failure does not fail the run.

use crate::common::{ActionRun, keyed};
use dune_sim::{Fault, FaultEndpoint, FaultResponse, Scenario, Simulator};

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
