//! Issue 12: the rate budget goes first to noticing the end. Polls are never held back by per-node extras
//! (execution reads, previews), extras after the end stop at the bound and the summary says what was left
//! out, `requests_per_minute` is validated, and a 429 lowers the cap.

use std::time::Duration;

use crate::common::{ActionRun, Finished, keyed};
use crate::polling::{self, QUERY};
use dune_api::rate::busiest_window;
use dune_pipeline_action::pipeline::schedule::Schedule;
use dune_sim::{
    Fault, FaultEndpoint, FaultResponse, NodeDef, QueryDef, RecordedRequest, Scenario, Simulator,
};

fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s)
}

/// The root query (node 1, `root` long), `burst` nodes after it that all end together `root + each` after
/// the start, and, when `straggler` is set, one more node after the root running that long.
fn fan_out(root: u64, burst: u64, each: u64, straggler: Option<u64>, speed: f64) -> Scenario {
    let mut s = polling::fan_out(root, burst, each, speed);
    if let Some(d) = straggler {
        let id = burst + 2;
        s.queries[0].nodes.push(
            NodeDef::query(id, QUERY + id)
                .depends_on([1])
                .duration(Duration::from_secs(d)),
        );
    }
    s
}

/// Runs the root query of `sim`'s pipeline with `inputs`; returns the run, the requests and the times
/// (since the start request) of the status polls.
async fn run(
    sim: &Simulator,
    speed: f64,
    inputs: &[(&str, &str)],
) -> (Finished, Vec<RecordedRequest>, Duration, Vec<Duration>) {
    let mut action = ActionRun::against(sim, speed).input("query_id", &QUERY.to_string());
    for (k, v) in inputs {
        action = action.input(k, v);
    }
    let done = action.run().await;
    assert_eq!(done.exit_code, 0, "{}", done.log);
    let requests = sim.requests();
    let start = requests
        .iter()
        .find(|r| r.method == "POST")
        .expect("start")
        .at;
    let polls = requests
        .iter()
        .filter(|r| is_status(&r.path))
        .map(|r| r.at - start)
        .collect();
    (done, requests, start, polls)
}

fn is_status(path: &str) -> bool {
    path.starts_with("/api/v1/pipelines/executions/")
}

fn is_read(path: &str) -> bool {
    path.starts_with("/api/v1/execution/") && path.ends_with("/status")
}

#[tokio::test(flavor = "multi_thread")]
async fn a_burst_of_200_nodes_ending_together_does_not_delay_the_next_poll() {
    // 200 nodes end together 20 s in; one more runs until 80 s. Their 200 reads could fill five minutes
    // of the 40-a-minute cap: the polls after the burst must keep their schedule all the same.
    // At 10 virtual seconds a real one, the 1 s of slack below is 100 ms of real time: enough for a
    // loaded machine, too little to hide a poll that waited for an extra's slot (1.5 s at 40 a minute).
    let speed = 10.0;
    let sim = Simulator::start(fan_out(10, 200, 10, Some(70), speed))
        .await
        .expect("simulator");
    let (_, requests, start, polls) = run(&sim, speed, &[("result_rows", "0")]).await;
    // Each poll leaves one interval after the previous one (as the schedule has it), give or take the
    // round trip and the jitter of compressed time (1 s: 100 ms of real time); never seconds later because
    // extras took its slot.
    let schedule = Schedule::default();
    let first = polls[0];
    for pair in polls.windows(2) {
        let due = pair[0] + schedule.interval(pair[0] - first);
        assert!(
            pair[1] <= due + secs(1.0),
            "a poll at {:?} was due at {due:?} (polls {polls:?})",
            pair[1]
        );
    }
    let burst_polls = polls
        .iter()
        .filter(|t| **t > secs(20.0) && **t < secs(40.0))
        .count();
    assert!(burst_polls >= 8, "{polls:?}");
    // The end (80 s) is noticed within max(1.5 s, 10% of the run) plus a round trip.
    let noticed = polls
        .iter()
        .find(|t| **t >= secs(80.0))
        .expect("a poll after the end");
    assert!(*noticed <= secs(80.0 + 8.0 + 0.6), "{polls:?}");
    // The cap held, and the reads went out while the pipeline ran.
    let times: Vec<Duration> = requests.iter().map(|r| r.at).collect();
    assert!(busiest_window(&times, Duration::from_secs(60)) <= 40);
    let reads_before_end = requests
        .iter()
        .filter(|r| is_read(&r.path) && r.at - start < secs(80.0))
        .count();
    assert!(
        reads_before_end >= 10,
        "{reads_before_end} reads before the end"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn extras_after_the_end_stop_at_the_bound_and_the_summary_says_what_was_left_out() {
    // 200 nodes end together with the pipeline: at 40 a minute their reads cannot all fit in the 9 s
    // allowed after the end. The step stops asking at the bound and says what it did not read.
    let speed = 20.0;
    let sim = Simulator::start(fan_out(10, 200, 10, None, speed))
        .await
        .expect("simulator");
    let (done, requests, start, polls) = run(&sim, speed, &[]).await;
    let noticed = *polls
        .iter()
        .find(|t| **t >= secs(20.0))
        .expect("a poll after the end");
    let last = requests.last().expect("requests").at - start;
    assert!(
        last <= noticed + secs(10.5),
        "the last request left {last:?}, the end was noticed at {noticed:?}"
    );
    let reads = requests.iter().filter(|r| is_read(&r.path)).count();
    let nodes = done.json("nodes");
    let nodes = nodes.as_array().expect("nodes");
    let observed: Vec<&serde_json::Value> =
        nodes.iter().filter(|n| n["times"] == "observed").collect();
    assert!(!observed.is_empty(), "every read fit: {reads}");
    assert_eq!(reads + observed.len(), nodes.len(), "{reads} reads");
    for n in &observed {
        // Observed times fill in; what only a read gives stays null, never invented.
        assert!(n["ended_at"].is_string(), "{n}");
        assert_eq!(n["credits"], serde_json::Value::Null, "{n}");
    }
    assert!(
        done.summary.contains(&format!(
            "Execution details (exact times, credits, error position) of {} nodes were not read",
            observed.len()
        )),
        "{}",
        done.summary
    );
    assert!(
        done.summary
            .contains("9 s allowed after the pipeline ended ran out")
    );
    assert!(done.log.contains("node execution reads left unread"));
    // The 200 sinks' previews share the same cap and bound: those not read are said too.
    let results = done.json("results");
    let previewed = results.as_array().map_or(0, Vec::len);
    assert!(previewed < 200, "{results}");
    assert!(
        done.summary.contains(&format!(
            "Previews of {} nodes were not read: the 9 s allowed after the pipeline ended ran out",
            200 - previewed
        )),
        "{}",
        done.summary
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn at_200_a_minute_every_node_is_read() {
    // 30 nodes ending 1 s apart: with Plus's 200 a minute, nothing is left out.
    let speed = 20.0;
    let mut nodes = vec![NodeDef::query(1, QUERY).duration(Duration::from_secs(5))];
    nodes.extend((2..=30).map(|id| {
        NodeDef::query(id, QUERY + id)
            .depends_on([1])
            .duration(Duration::from_secs(id))
    }));
    let scenario = keyed(Scenario {
        queries: vec![QueryDef {
            query_id: QUERY,
            nodes,
        }],
        ..Scenario::default()
    })
    .with_time_scale(speed);
    let sim = Simulator::start(scenario).await.expect("simulator");
    let (done, ..) = run(&sim, speed, &[("requests_per_minute", "200")]).await;
    let nodes = done.json("nodes");
    assert!(
        nodes
            .as_array()
            .expect("nodes")
            .iter()
            .all(|n| n["times"] == "dune" && n["credits"].is_number()),
        "{nodes}"
    );
    assert!(!done.summary.contains("were not read"), "{}", done.summary);
}

#[tokio::test(flavor = "multi_thread")]
async fn requests_per_minute_is_validated_before_any_request() {
    let sim = Simulator::start(fan_out(1, 1, 1, None, 50.0))
        .await
        .expect("simulator");
    for bad in ["0", "1001", "-1", "forty", "2.5"] {
        let done = ActionRun::against(&sim, 50.0)
            .input("query_id", &QUERY.to_string())
            .input("requests_per_minute", bad)
            .run()
            .await;
        assert_eq!(done.exit_code, 2, "{bad}: {}", done.log);
        assert_eq!(done.outputs["status"], "error");
        assert!(
            done.log.contains("Invalid input `requests_per_minute`"),
            "{}",
            done.log
        );
        assert!(done.log.contains("40 on Free"), "{}", done.log);
    }
    assert!(sim.requests().is_empty(), "{:?}", sim.requests());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_429_lowers_the_cap_for_the_rest_of_the_run() {
    // Dune answers one status poll with 429 (Retry-After: 1): the action waits that second, lowers its
    // cap from 40 to 30 a minute, says so, and finishes; from then on no minute holds more than 30.
    let speed = 20.0;
    let mut scenario = fan_out(20, 60, 5, None, speed);
    scenario.faults = vec![
        Fault::new(
            FaultEndpoint::PipelineStatus,
            [FaultResponse::rate_limited("1")],
        )
        .after(3),
    ];
    let sim = Simulator::start(scenario).await.expect("simulator");
    let (done, requests, ..) = run(&sim, speed, &[("result_rows", "0")]).await;
    assert!(
        done.log
            .contains("the action lowered its cap from 40 to 30 requests a minute"),
        "{}",
        done.log
    );
    let limited = requests
        .iter()
        .position(|r| r.status == 429)
        .expect("a 429");
    // The retry honoured Retry-After.
    let retry = &requests[limited + 1..]
        .iter()
        .find(|r| is_status(&r.path))
        .expect("a retry");
    assert!(retry.at - requests[limited].at >= secs(0.95));
    // 60 reads after 25 s would fill the old cap; the lowered one holds them to 30 in any window that
    // starts after the 429 (the window the 429 fell in was already counted under the old cap).
    let after: Vec<Duration> = requests[limited..]
        .iter()
        .map(|r| r.at)
        .filter(|t| *t >= requests[limited].at)
        .collect();
    let busiest = busiest_window(&after, Duration::from_secs(61));
    assert!(
        busiest <= 30 + 1,
        "{busiest} requests in a window after the 429"
    );
}
