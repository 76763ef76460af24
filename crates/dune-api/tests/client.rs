//! The client against the Dune API simulator (`dune-sim`), from outside: retries and what is reported of
//! them, `Retry-After`, patient reads, the rate cap (result pages and the datapoint limit: `results.rs`).

mod common;

use std::time::Duration;

use common::{KEY, client, execution_of, scenario, start, started};
use dune_api::{ApiKey, Client, Clock, Error};
use dune_sim::{Fault, FaultEndpoint, FaultResponse, RecordedRequest, Simulator};

fn status_reads(sim: &Simulator) -> Vec<RecordedRequest> {
    sim.requests()
        .into_iter()
        .filter(|r| r.path.starts_with("/api/v1/pipelines/executions/"))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn transient_failures_are_retried_and_each_retry_is_reported() {
    let speed = 100.0;
    let sim = start(
        scenario(speed, ""),
        [Fault::new(
            FaultEndpoint::PipelineStatus,
            [
                FaultResponse::status(503),
                FaultResponse::drop_connection(),
                FaultResponse::status(502),
            ],
        )],
    )
    .await;
    let (client, seen) = client(&sim, speed);
    let id = started(&client).await;
    let status = client.pipeline_status(&id, false).await.expect("status");
    assert!(status.status.is_some());
    let seen = seen.lock().expect("lock").clone();
    assert_eq!(seen.len(), 3, "{seen:?}");
    assert!(seen[0].0.contains("HTTP 503"), "{seen:?}");
    assert!(seen[1].0.contains("dropped"), "{seen:?}");
    assert_eq!(
        seen.iter().map(|s| s.1).collect::<Vec<_>>(),
        [1, 2, 3],
        "{seen:?}"
    );
    assert_eq!(
        status_reads(&sim)
            .iter()
            .map(|r| r.status)
            .collect::<Vec<_>>(),
        [503, 0, 502, 200]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn retry_after_is_waited_for() {
    let speed = 50.0;
    let sim = start(
        scenario(speed, ""),
        [Fault::new(
            FaultEndpoint::PipelineStatus,
            [FaultResponse::rate_limited("3")],
        )],
    )
    .await;
    let (client, _) = client(&sim, speed);
    let id = started(&client).await;
    client.pipeline_status(&id, false).await.expect("status");
    let reads = status_reads(&sim);
    assert_eq!(reads[0].status, 429);
    let gap = reads[1].at - reads[0].at;
    // Without Retry-After the first wait is at most 1.5 s.
    assert!(gap >= Duration::from_secs(3), "retried after {gap:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_read_gives_up_after_twelve_attempts_a_patient_one_rides_the_outage_out() {
    let speed = 400.0;
    let outage = || {
        [Fault::new(
            FaultEndpoint::PipelineStatus,
            vec![FaultResponse::status(503); 12],
        )]
    };
    let sim = start(scenario(speed, ""), outage()).await;
    let (plain, _) = client(&sim, speed);
    let id = started(&plain).await;
    match plain.pipeline_status(&id, false).await {
        Err(Error::RetriesExhausted { attempts: 12, .. }) => {}
        other => panic!("expected 12 attempts, got {other:?}"),
    }

    let sim = start(scenario(speed, ""), outage()).await;
    let (client, seen) = client(&sim, speed);
    let id = started(&client).await;
    let patient = client.patient().with_deadline(Duration::from_secs(30 * 60));
    patient
        .pipeline_status(&id, false)
        .await
        .expect("after the outage");
    let seen = seen.lock().expect("lock").clone();
    assert_eq!(seen.len(), 12, "{seen:?}");
    assert!(seen.iter().all(|s| s.2), "reported as patient: {seen:?}");
    let reads = status_reads(&sim);
    let lasted = reads[12].at - reads[0].at;
    assert!(lasted >= Duration::from_secs(180), "{lasted:?}");
    // Back-off never waits more than 30 s between two attempts (plus scheduling, magnified by the speed).
    for pair in reads.windows(2) {
        let gap = pair[1].at - pair[0].at;
        assert!(gap <= Duration::from_secs(40), "{gap:?}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_patient_read_stops_at_once_on_401_and_at_its_deadline() {
    let speed = 400.0;
    let sim = start(
        scenario(speed, ""),
        [Fault::new(
            FaultEndpoint::PipelineStatus,
            [FaultResponse::status(503), FaultResponse::status(401)],
        )],
    )
    .await;
    let (first, _) = client(&sim, speed);
    let id = started(&first).await;
    let patient = first.patient().with_deadline(Duration::from_secs(3600));
    let e = patient.pipeline_status(&id, false).await.expect_err("401");
    assert_eq!(e.status(), Some(401), "{e}");
    assert_eq!(status_reads(&sim).len(), 2);

    let sim = start(
        scenario(speed, ""),
        [Fault::new(
            FaultEndpoint::PipelineStatus,
            vec![FaultResponse::status(503); 1000],
        )],
    )
    .await;
    let clock = Clock::scaled(speed);
    let (client, _) = client(&sim, speed);
    let id = started(&client).await;
    let deadline = clock.elapsed() + Duration::from_secs(120);
    let patient = client.patient().with_deadline(deadline);
    let e = patient
        .pipeline_status(&id, false)
        .await
        .expect_err("deadline");
    assert!(matches!(e, Error::RetriesExhausted { .. }), "{e}");
    assert!(
        clock.elapsed() + Duration::from_secs(2) >= deadline,
        "gave up at {:?}, before the deadline {deadline:?}",
        clock.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_rate_cap_holds_for_every_handle() {
    // Two virtual minutes in about five real seconds.
    let speed = 25.0;
    let sim = start(scenario(speed, ""), []).await;
    let client = Client::builder(sim.base_url().parse().expect("url"), ApiKey::new(KEY))
        .clock(Clock::scaled(speed))
        .max_requests_per_minute(5)
        .build()
        .expect("client");
    let id = started(&client).await;
    let extras = client.extras();
    for i in 0..10 {
        let handle = if i % 2 == 0 { &client } else { &extras };
        handle.pipeline_status(&id, false).await.expect("status");
    }
    let times: Vec<Duration> = sim.requests().iter().map(|r| r.at).collect();
    assert_eq!(times.len(), 11);
    for (i, t) in times.iter().enumerate() {
        let within = times[i..]
            .iter()
            // Two seconds of slack for compressed-time jitter (80 ms of real time at this speed).
            .take_while(|u| **u < *t + Duration::from_secs(58))
            .count();
        assert!(
            within <= 5,
            "{within} requests in a minute from {t:?}: {times:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn usage_grows_with_what_ran() {
    let sim = start(scenario(50.0, ""), []).await;
    let (client, _) = client(&sim, 50.0);
    let before = client.usage().await.expect("usage");
    let period = before.current().expect("a billing period").clone();
    assert_eq!(period.credits_included, Some(2500.0));
    assert_eq!(period.end_date.as_deref(), Some("2026-12-31"));
    let id = started(&client).await;
    let clock = Clock::scaled(50.0);
    execution_of(&client, &id, 1, clock).await;
    let after = client.usage().await.expect("usage");
    let used = |u: &dune_api::models::Usage| u.current().and_then(|p| p.credits_used);
    assert!(
        used(&after) > used(&before),
        "{:?} then {:?}",
        used(&before),
        used(&after)
    );
}
