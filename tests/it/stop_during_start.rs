//! A signal while the start request is in flight: the action waits briefly for Dune's answer, so that
//! what started can be cancelled; when the answer does not come, it says a pipeline may be running.

use std::time::{Duration, Instant};

use crate::common::{ActionRun, keyed};
use dune_sim::{Scenario, Simulator};

fn slow_start(delay_secs: u64) -> Scenario {
    keyed(
        Scenario::from_yaml_or_json(&format!(
            r#"
time_scale: 10
queries:
  - query_id: 42
    nodes:
      - {{id: 1, query_id: 41, duration: 10m}}
      - {{id: 2, query_id: 42, dependencies: [1], duration: 10m}}
faults:
  - endpoint: pipeline_execute
    responses:
      - delay: {delay_secs}s
"#
        ))
        .expect("scenario"),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn an_answer_within_the_grace_is_used_to_cancel() {
    // The POST is answered 1 s (real) after it was sent; the signal comes at 0.2 s.
    let sim = Simulator::start(slow_start(10)).await.expect("simulator");
    let done = ActionRun::against(&sim, 10.0)
        .input("query_id", "42")
        .input("result_rows", "0")
        .run_stopped_after(Duration::from_millis(200))
        .await;
    assert_eq!(done.exit_code, 1, "{}", done.log);
    assert_eq!(done.outputs["status"], "cancelled");
    assert_eq!(
        done.outputs["pipeline_execution_id"].len(),
        26,
        "{}",
        done.log
    );
    assert_eq!(sim.pipelines_started(), 1);
    assert_eq!(sim.cancelled_executions().len(), 1, "{}", done.log);
}

#[tokio::test(flavor = "multi_thread")]
async fn no_answer_within_the_grace_says_a_pipeline_may_run() {
    // The POST would be answered 30 s (real) after it was sent: far past the grace.
    let sim = Simulator::start(slow_start(300)).await.expect("simulator");
    let began = Instant::now();
    let done = ActionRun::against(&sim, 10.0)
        .input("query_id", "42")
        .input("result_rows", "0")
        .run_stopped_after(Duration::from_millis(200))
        .await;
    let took = began.elapsed();
    assert_eq!(done.exit_code, 1, "{}", done.log);
    assert_eq!(done.outputs["status"], "cancelled");
    assert_eq!(done.outputs["pipeline_execution_id"], "");
    assert!(
        done.log
            .contains("a pipeline may be running that the action could not cancel"),
        "{}",
        done.log
    );
    assert!(done.summary.contains("https://dune.com/queries/42"));
    // Within the runner's 10 s between the first signal and the kill.
    assert!(took < Duration::from_secs(6), "took {took:?}");
}
