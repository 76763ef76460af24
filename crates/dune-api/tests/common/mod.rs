//! What the crate's tests against the simulator share: a scenario with one two-node pipeline, a client of
//! it that records the retries it reports, and a started pipeline's execution.
#![allow(dead_code)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use dune_api::models::{ExecuteQueryPipelineRequest, Performance};
use dune_api::{ApiKey, Client, Clock, RetryHook};
use dune_sim::{Fault, Scenario, Simulator};

pub const KEY: &str = "crate-test-key-7d1e";
pub const QUERY: u64 = 500;

/// A two-node pipeline of query [`QUERY`] (node 2 after node 1, 25 rows each), with `extra` settings.
pub fn scenario(speed: f64, extra: &str) -> Scenario {
    scenario_with(speed, extra, "rows: 25")
}

/// The same, node 2's fields after its dependencies given as `node` (`rows: 25, columns: 20`, ...).
pub fn scenario_with(speed: f64, extra: &str, node: &str) -> Scenario {
    let mut s = Scenario::from_yaml_or_json(&format!(
        r#"
time_scale: {speed}
{extra}
queries:
  - query_id: {QUERY}
    nodes:
      - {{id: 1, query_id: 501, duration: 5s, rows: 25}}
      - {{id: 2, query_id: {QUERY}, dependencies: [1], duration: 5s, {node}}}
"#
    ))
    .expect("scenario");
    s.api_key = Some(KEY.to_string());
    s
}

pub async fn start(mut s: Scenario, faults: impl IntoIterator<Item = Fault>) -> Simulator {
    s.faults.extend(faults);
    Simulator::start(s).await.expect("simulator")
}

/// The retries a client reported: the error, the attempt, whether patient.
pub type Reported = Arc<Mutex<Vec<(String, u32, bool)>>>;

/// A client of `sim` at `speed`, and the retries it reported.
pub fn client(sim: &Simulator, speed: f64) -> (Client, Reported) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    let hook: RetryHook = Arc::new(move |r| {
        if let Ok(mut l) = log.lock() {
            l.push((r.error.to_string(), r.attempt, r.patient));
        }
    });
    let client = Client::builder(sim.base_url().parse().expect("url"), ApiKey::new(KEY))
        .clock(Clock::scaled(speed))
        .user_agent("dune-api-tests")
        .retry_hook(hook)
        .build()
        .expect("client");
    (client, seen)
}

pub async fn started(client: &Client) -> String {
    let request = ExecuteQueryPipelineRequest {
        performance: Performance::Medium.into(),
        query_parameters: None,
    };
    client
        .execute_query_pipeline(QUERY, &request)
        .await
        .expect("started")
}

/// Waits (on the clock) until the pipeline has ended; the execution of node `node`.
pub async fn execution_of(client: &Client, id: &str, node: i64, clock: Clock) -> String {
    for _ in 0..200 {
        let s = client.pipeline_status(id, false).await.expect("status");
        let done = s
            .status
            .as_deref()
            .is_some_and(|s| s.to_ascii_lowercase().contains("complete"));
        if done && let Some(n) = s.nodes.iter().find(|n| n.id == node) {
            return n.execution_id.clone().expect("an execution id");
        }
        clock.sleep(Duration::from_secs(2)).await;
    }
    panic!("the pipeline did not complete");
}
