//! Outputs a later step builds on (issue 21), read as a later step reads them: from `GITHUB_OUTPUT`.

use crate::common::{ActionRun, keyed};
use dune_sim::{Scenario, Simulator};

const SPEED: f64 = 50.0;

/// MV (5 credits) → query 101 (12.5) → query 3493826 (3).
fn chain() -> Scenario {
    let yaml = format!(
        r#"
time_scale: {SPEED}
epoch: "2026-01-01T00:00:00Z"
queries:
  - query_id: 3493826
    nodes:
      - id: 1
        materialized_view: dune.acme.mv_daily
        duration: 20s
        credits: 5
      - id: 2
        query_id: 101
        dependencies: [1]
        duration: 15s
        credits: 12.5
      - id: 3
        query_id: 3493826
        dependencies: [2]
        duration: 10s
        credits: 3
"#
    );
    keyed(Scenario::from_yaml_or_json(&yaml).expect("scenario"))
}

#[tokio::test(flavor = "multi_thread")]
async fn credits_is_the_sum_of_known_costs() {
    let sim = Simulator::start(chain()).await.expect("simulator");
    let done = ActionRun::against(&sim, SPEED)
        .input("query_id", "3493826")
        .input("result_rows", "0")
        .run()
        .await;
    assert_eq!(done.exit_code, 0, "{}", done.log);
    assert_eq!(done.outputs["credits"], "20.5");
    assert_eq!(done.outputs["credits_unknown_nodes"], "0");
    let parsed: f64 = done.outputs["credits"].parse().expect("a number");
    assert!((parsed - 20.5).abs() < 1e-9);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_dry_run_spends_no_credits() {
    let sim = Simulator::start(chain()).await.expect("simulator");
    let done = ActionRun::against(&sim, SPEED)
        .input("query_id", "3493826")
        .input("dry_run", "true")
        .run()
        .await;
    assert_eq!(done.exit_code, 0, "{}", done.log);
    assert_eq!(done.outputs["credits"], "0");
    assert_eq!(done.outputs["credits_unknown_nodes"], "0");
}
