//! The polling strategy against the simulator: the rate cap holds when many nodes end together, and
//! per-node reads are spent only on state changes.

use std::time::Duration;

use crate::common::{ActionRun, keyed};
use dune_api::rate::busiest_window;
use dune_sim::{NodeDef, QueryDef, Scenario, Simulator};

pub(crate) const QUERY: u64 = 777;

/// A root node and `fan_out` nodes after it that all end at the same moment, `root + each` after the start.
pub(crate) fn fan_out(root: u64, fan_out: u64, each: u64, speed: f64) -> Scenario {
    let mut nodes = vec![NodeDef::query(1, QUERY).duration(Duration::from_secs(root))];
    nodes.extend((2..=fan_out + 1).map(|id| {
        NodeDef::query(id, QUERY + id)
            .depends_on([1])
            .duration(Duration::from_secs(each))
    }));
    keyed(Scenario {
        queries: vec![QueryDef {
            query_id: QUERY,
            nodes,
        }],
        ..Scenario::default()
    })
    .with_time_scale(speed)
}

fn is_read(path: &str) -> bool {
    path.starts_with("/api/v1/execution/")
}

#[tokio::test(flavor = "multi_thread")]
async fn a_burst_of_node_reads_in_the_busiest_minute_stays_within_the_cap() {
    // 15 nodes end together 45 s in, after the start request and some 27 status requests: their reads
    // would make 44 requests within a minute, so the cap must hold some back. (Issue 12: the reads are
    // extras, so those the cap holds back past the 9 s allowed after the end are left unread and said.)
    let sim = Simulator::start(fan_out(30, 14, 15, 30.0))
        .await
        .expect("simulator");
    let done = ActionRun::against(&sim, 30.0)
        .input("query_id", &QUERY.to_string())
        .input("result_rows", "0")
        .run()
        .await;
    assert_eq!(done.exit_code, 0, "{}", done.log);
    let requests = sim.requests();
    let times: Vec<Duration> = requests.iter().map(|r| r.at).collect();
    let busiest = busiest_window(&times, Duration::from_secs(60));
    assert!(busiest <= 40, "{busiest} requests within a minute");
    // At most one execution read per node, when it ended; never one per poll. Those left out are said.
    let reads = requests.iter().filter(|r| is_read(&r.path)).count();
    let observed = done
        .json("nodes")
        .as_array()
        .expect("nodes")
        .iter()
        .filter(|n| n["times"] == "observed")
        .count();
    assert_eq!(reads + observed, 15, "{reads} reads, {observed} observed");
    if observed > 0 {
        assert!(
            done.summary.contains(&format!(
                "Execution details (exact times, credits, error position) of {observed} node"
            )),
            "{}",
            done.summary
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn node_reads_follow_state_changes_not_polls() {
    // A long pipeline (many polls) with two nodes: exactly two reads, each after its node ended.
    let sim = Simulator::start(fan_out(60, 1, 40, 60.0))
        .await
        .expect("simulator");
    let done = ActionRun::against(&sim, 60.0)
        .input("query_id", &QUERY.to_string())
        .input("result_rows", "0")
        .run()
        .await;
    assert_eq!(done.exit_code, 0, "{}", done.log);
    let requests = sim.requests();
    let start = requests[0].at;
    let polls = requests
        .iter()
        .filter(|r| r.path.starts_with("/api/v1/pipelines/"))
        .count();
    assert!(polls > 20, "{polls} status requests");
    let reads: Vec<Duration> = requests
        .iter()
        .filter(|r| is_read(&r.path))
        .map(|r| r.at - start)
        .collect();
    assert_eq!(reads.len(), 2, "{reads:?}");
    assert!(reads[0] >= Duration::from_secs(60) && reads[0] < Duration::from_secs(100));
    assert!(reads[1] >= Duration::from_secs(100));
}
