//! Saved queries against the simulator: the SQL and version read back after an update, and updates held
//! to Dune's low limit by `QueryWriter`.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use dune_api::queries::{QueryWriter, writes_per_minute};
use dune_api::{ApiKey, Client, Clock};
use dune_sim::{SavedQuery, Scenario, Simulator};

const SPEED: f64 = 2000.0;

async fn client(sim: &Simulator, clock: Clock) -> Client {
    Client::builder(sim.base_url().parse().unwrap(), ApiKey::new("k"))
        .clock(clock)
        .per_request_timeout(Duration::from_secs(10))
        .max_requests_per_minute(1000)
        .build()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn an_update_is_read_back_with_the_next_version() {
    let mut scenario = Scenario::default().with_time_scale(SPEED);
    scenario.saved_queries = vec![SavedQuery::new(7, "SELECT 1")];
    let sim = Simulator::start(scenario).await.unwrap();
    let clock = Clock::scaled(SPEED);
    let client = client(&sim, clock).await;
    let q = client.query(7).await.unwrap();
    assert_eq!((q.query_sql.as_str(), q.version), ("SELECT 1", Some(1)));
    QueryWriter::new(&client, clock, 15)
        .update_sql(7, "SELECT 2")
        .await
        .unwrap();
    let q = client.query(7).await.unwrap();
    assert_eq!((q.query_sql.as_str(), q.version), ("SELECT 2", Some(2)));
    let missing = client.query(8).await.unwrap_err();
    assert_eq!(missing.status(), Some(404));
}

#[tokio::test(flavor = "multi_thread")]
async fn updates_wait_for_the_low_limit() {
    // Slower than the other test: a minute is 300 ms, so 15 local requests fit well within one.
    let speed = 200.0;
    let mut scenario = Scenario::default().with_time_scale(speed);
    scenario.saved_queries = vec![SavedQuery::new(7, "SELECT 0")];
    let sim = Simulator::start(scenario).await.unwrap();
    let clock = Clock::scaled(speed);
    let client = client(&sim, clock).await;
    let writes = writes_per_minute(40);
    assert_eq!(writes, 15, "Free: 40 reads, 15 writes a minute");
    let writer = QueryWriter::new(&client, clock, writes);
    let start = clock.elapsed();
    for i in 0..writes {
        writer.update_sql(7, &format!("SELECT {i}")).await.unwrap();
    }
    assert!(
        clock.elapsed() - start < Duration::from_secs(60),
        "15 updates go within one minute: {:?}",
        clock.elapsed() - start
    );
    writer.update_sql(7, "SELECT 15").await.unwrap();
    assert!(
        clock.elapsed() - start >= Duration::from_secs(60),
        "the 16th waits for the window: {:?}",
        clock.elapsed() - start
    );
    let patches = sim
        .requests()
        .iter()
        .filter(|r| r.method == "PATCH")
        .count();
    assert_eq!(patches, 16);
}
