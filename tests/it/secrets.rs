//! The API key never leaves the process, whatever goes wrong: with `RUNNER_DEBUG=1` (every request and
//! retry logged) and each fault on each endpoint, it appears nowhere (log, outputs, summary, state, post
//! step) except in the `::add-mask::` line. Each run checks from the simulator's record that its fault was
//! really served (the endpoint was reached and answered with the fault's status), so no fault goes untested.

use std::time::Duration;

use crate::common::{ActionRun, KEY, long_running, post_step};
use dune_sim::{
    Fault, FaultEndpoint, FaultResponse, LatestResult, NodeDef, RecordedRequest, Simulator,
};

const SPEED: f64 = 200.0;

/// Each fault with the status the simulator records for it (0: the connection was dropped unanswered; a
/// body cut short, dripped, oversized or garbled goes out under a normal 200).
fn faults() -> Vec<(&'static str, FaultResponse, u16)> {
    // A server (or a proxy) that echoes the key back in its error body.
    let echo = format!(r#"{{"error": "invalid API Key {KEY}"}}"#);
    let html = format!("<html><body>key={KEY} rejected</body></html>");
    vec![
        ("500", FaultResponse::status(500), 500),
        ("429", FaultResponse::rate_limited("1"), 429),
        (
            "401 echoing the key",
            FaultResponse {
                body: Some(echo),
                ..FaultResponse::status(401)
            },
            401,
        ),
        (
            "403 HTML echoing the key",
            FaultResponse {
                body: Some(html),
                content_type: Some("text/html".into()),
                ..FaultResponse::status(403)
            },
            403,
        ),
        ("drop", FaultResponse::drop_connection(), 0),
        ("drop mid-body", FaultResponse::drop_mid_body(), 200),
        ("garbage", FaultResponse::garbage(), 200),
        ("oversized", FaultResponse::oversized(9_000_000), 200),
        (
            "slow drip",
            FaultResponse::slow_drip(Duration::from_secs_f64(2.0 * SPEED)),
            200,
        ),
    ]
}

/// Whether the simulator counts `r` as a request to `endpoint`.
fn hits(endpoint: FaultEndpoint, r: &RecordedRequest) -> bool {
    let p = r.path.as_str();
    match endpoint {
        FaultEndpoint::PipelineExecute => r.method == "POST" && p.ends_with("/pipeline/execute"),
        FaultEndpoint::PipelineStatus => p.starts_with("/api/v1/pipelines/executions/"),
        FaultEndpoint::ExecutionStatus => {
            p.starts_with("/api/v1/execution/") && p.ends_with("/status")
        }
        FaultEndpoint::ExecutionCancel => r.method == "POST" && p.ends_with("/cancel"),
        FaultEndpoint::MaterializedView => p.starts_with("/api/v1/materialized-views/"),
        other => panic!("no matcher for {other:?}"),
    }
}

async fn run_one(
    endpoint: FaultEndpoint,
    name: &'static str,
    fault: FaultResponse,
    served_as: u16,
) -> String {
    let mut scenario = long_running(SPEED, "2s");
    let views = endpoint == FaultEndpoint::MaterializedView;
    if views {
        // `max_age` reads the view before the start (the root's latest result is fresh).
        scenario.queries[0]
            .nodes
            .push(NodeDef::materialized_view(9, "dune.acme.result_base"));
        scenario
            .latest_results
            .push(LatestResult::new(500, Duration::from_secs(60)));
    }
    let sim = Simulator::start(scenario.with_fault(Fault::new(endpoint, [fault.clone(), fault])))
        .await
        .expect("simulator");
    let mut run = ActionRun::against(&sim, SPEED)
        .input("query_id", "500")
        .input("timeout", "2m")
        .input("request_timeout", "1s");
    if views {
        run = run.input("max_age", "1h");
    }
    run.env.set("RUNNER_DEBUG", "1");
    let done = run.run().await;
    let mut everything = done.everything();
    // And the post step that would follow.
    let state: Vec<(&str, &str)> = done
        .state
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    everything.push_str(&post_step(&sim.base_url(), &state, SPEED).await);
    // The fault was served: the first request to its endpoint got it.
    let first = sim.requests().into_iter().find(|r| hits(endpoint, r));
    assert_eq!(
        first.as_ref().map(|r| r.status),
        Some(served_as),
        "{endpoint:?} {name}: the fault was not served ({first:?})"
    );
    let leaked = everything
        .replace(&format!("::add-mask::{KEY}"), "")
        .contains(KEY);
    assert!(
        !leaked,
        "{endpoint:?} {name}: the key leaked:\n{everything}"
    );
    format!("{endpoint:?} {name}: exit {}", done.exit_code)
}

#[tokio::test(flavor = "multi_thread")]
async fn the_key_never_appears_whatever_the_fault() {
    let mut runs = Vec::new();
    for endpoint in [
        FaultEndpoint::PipelineExecute,
        FaultEndpoint::PipelineStatus,
        FaultEndpoint::ExecutionStatus,
        FaultEndpoint::ExecutionCancel,
        FaultEndpoint::MaterializedView,
    ] {
        for (name, fault, served_as) in faults() {
            runs.push(tokio::spawn(run_one(endpoint, name, fault, served_as)));
        }
    }
    let mut seen = Vec::new();
    for r in runs {
        seen.push(r.await.expect("no leak, and the fault was served"));
    }
    println!("{}", seen.join("\n"));
    assert_eq!(seen.len(), 45);
}
