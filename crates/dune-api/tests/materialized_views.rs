//! Materialized views against the simulator: a view's latest refreshes, each read as an execution for
//! its end and its cost, measured against Dune's `Date`; an unknown view is a 404 that is not retried; a
//! transient failure is.
#![allow(clippy::unwrap_used)]

use std::time::{Duration, UNIX_EPOCH};

use dune_api::models::parse_timestamp;
use dune_api::{ApiKey, Client, Clock};
use dune_sim::{Fault, FaultEndpoint, FaultResponse, Scenario, Simulator};

const SPEED: f64 = 1000.0;
const VIEW: &str = "dune.acme.result_daily";

fn scenario() -> Scenario {
    Scenario::from_yaml_or_json(&format!(
        r#"
time_scale: {SPEED}
epoch: "2026-01-01T00:00:00Z"
materialized_views:
  - {{name: {VIEW}, age: 3h, credits: 7.5, query_id: 4321}}
queries:
  - query_id: 5
    nodes:
      - {{id: 1, materialized_view: {VIEW}, duration: 2s}}
      - {{id: 2, query_id: 5, dependencies: [1], duration: 2s}}
"#
    ))
    .unwrap()
}

fn client(sim: &Simulator) -> Client {
    Client::builder(sim.base_url().parse().unwrap(), ApiKey::new("k"))
        .clock(Clock::scaled(SPEED))
        .build()
        .unwrap()
}

fn view_reads(sim: &Simulator) -> usize {
    sim.requests()
        .iter()
        .filter(|r| r.path.starts_with("/api/v1/materialized-views/"))
        .count()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_views_last_refresh_says_when_it_ended_and_what_it_cost() {
    let sim = Simulator::start(scenario()).await.unwrap();
    let client = client(&sim);
    let view = client.materialized_view(VIEW).await.unwrap();
    assert_eq!(view.name.as_deref(), Some(VIEW));
    assert_eq!(view.query_id, Some(4321));
    assert_eq!(view.last_execution_ids.len(), 1, "{view:?}");
    let newest = view.newest_executions(3);
    let refresh = client.execution_status(newest[0]).await.unwrap();
    assert_eq!(refresh.credits, Some(7.5));
    let ended = refresh
        .ended_at
        .as_deref()
        .and_then(parse_timestamp)
        .unwrap();
    let epoch = UNIX_EPOCH + Duration::from_secs(1_767_225_600);
    assert_eq!(ended, epoch - Duration::from_secs(3 * 3600));
    // Dune's clock (the simulator's epoch plus a little virtual time) says how old it is.
    let age = view.server_date.unwrap().duration_since(ended).unwrap();
    assert!(
        age >= Duration::from_secs(3 * 3600) && age < Duration::from_secs(3 * 3600 + 120),
        "{age:?}"
    );

    let missing = client
        .materialized_view("dune.acme.nope")
        .await
        .unwrap_err();
    assert_eq!(missing.status(), Some(404));
    assert!(
        missing
            .to_string()
            .contains("GET /api/v1/materialized-views/dune.acme.nope"),
        "{missing}"
    );
    assert_eq!(view_reads(&sim), 2, "a 404 is an answer, not retried");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_transient_failure_is_retried() {
    let sim = Simulator::start(scenario().with_fault(Fault::new(
        FaultEndpoint::MaterializedView,
        [FaultResponse::status(503)],
    )))
    .await
    .unwrap();
    let view = client(&sim).materialized_view(VIEW).await.unwrap();
    assert_eq!(view.last_execution_ids.len(), 1);
    assert_eq!(view_reads(&sim), 2);
}
