//! The API key never leaves the process, whatever goes wrong: with `RUNNER_DEBUG=1` (every request and
//! retry logged) and each fault on each endpoint, it appears nowhere (log, outputs, summary, state, post
//! step) except in the `::add-mask::` line.

use std::time::Duration;

use crate::common::{ActionRun, KEY, long_running, post_step};
use dune_sim::{Fault, FaultEndpoint, FaultResponse, Simulator};

const SPEED: f64 = 200.0;

fn faults() -> Vec<(&'static str, FaultResponse)> {
    // A server (or a proxy) that echoes the key back in its error body.
    let echo = format!(r#"{{"error": "invalid API Key {KEY}"}}"#);
    let html = format!("<html><body>key={KEY} rejected</body></html>");
    vec![
        ("500", FaultResponse::status(500)),
        ("429", FaultResponse::rate_limited("1")),
        (
            "401 echoing the key",
            FaultResponse {
                body: Some(echo),
                ..FaultResponse::status(401)
            },
        ),
        (
            "403 HTML echoing the key",
            FaultResponse {
                body: Some(html),
                content_type: Some("text/html".into()),
                ..FaultResponse::status(403)
            },
        ),
        ("drop", FaultResponse::drop_connection()),
        ("drop mid-body", FaultResponse::drop_mid_body()),
        ("garbage", FaultResponse::garbage()),
        ("oversized", FaultResponse::oversized(9_000_000)),
        (
            "slow drip",
            FaultResponse::slow_drip(Duration::from_secs_f64(2.0 * SPEED)),
        ),
    ]
}

async fn run_one(endpoint: FaultEndpoint, name: &'static str, fault: FaultResponse) -> String {
    let sim = Simulator::start(
        long_running(SPEED, "2s").with_fault(Fault::new(endpoint, [fault.clone(), fault])),
    )
    .await
    .expect("simulator");
    let mut run = ActionRun::against(&sim, SPEED)
        .input("query_id", "500")
        .input("timeout", "2m")
        .input("request_timeout", "1s");
    run.env.set("RUNNER_DEBUG", "1");
    let done = run.run().await;
    let mut everything = done.everything();
    // And the post step that would follow.
    let state: Vec<(&str, &str)> = done
        .state
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let (_, log) = post_step(&sim.base_url(), &state, SPEED).await;
    everything.push_str(&log);
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
    ] {
        for (name, fault) in faults() {
            runs.push(tokio::spawn(run_one(endpoint, name, fault)));
        }
    }
    let mut seen = Vec::new();
    for r in runs {
        seen.push(r.await.expect("no leak"));
    }
    println!("{}", seen.join("\n"));
    assert_eq!(seen.len(), 36);
}
