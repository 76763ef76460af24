//! Runs a saved query's pipeline and follows it to its end, printing each node's status as it changes.
//!
//! With no arguments it starts the built-in Dune simulator (`dune-sim`, scenario `demo`, time compressed)
//! and runs against it, offline:
//!
//! ```text
//! cargo run -p dune-api --example run_pipeline
//! ```
//!
//! Against a real API: `DUNE_API_KEY=... cargo run -p dune-api --example run_pipeline -- --base-url
//! https://api.dune.com --query-id 3493826` (this starts a pipeline and spends credits).

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{Context, bail};
use dune_api::models::{ExecuteQueryPipelineRequest, Performance};
use dune_api::{ApiKey, Client, Clock};

/// The simulator's `demo` pipeline: a saved query with five nodes.
const DEMO_QUERY: u64 = 3_493_826;
/// How much faster than real time the simulator runs (a 2-minute pipeline takes about 2 s).
const SIMULATED_SPEED: f64 = 60.0;
/// How often to read the status (virtual time).
const POLL_EVERY: Duration = Duration::from_secs(5);

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let mut base_url = None;
    let mut query_id = DEMO_QUERY;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--base-url" => base_url = Some(args.next().context("--base-url needs a URL")?),
            "--query-id" => {
                query_id = args
                    .next()
                    .context("--query-id needs a number")?
                    .parse()
                    .context("--query-id must be a number")?
            }
            other => bail!("unknown argument {other:?} (expected --base-url URL, --query-id ID)"),
        }
    }

    // Either the real thing (key from the environment, real time) or a simulator started here.
    let (_simulator, base, key, clock) = match base_url {
        Some(url) => {
            let key =
                std::env::var("DUNE_API_KEY").context("set DUNE_API_KEY to your Dune API key")?;
            (None, url, key, Clock::real())
        }
        None => {
            let key = "example-key".to_string();
            let scenario = dune_sim::Scenario::builtin("demo")
                .context("the simulator's demo scenario")?
                .with_time_scale(SIMULATED_SPEED)
                .with_api_key(key.clone());
            let sim = dune_sim::Simulator::start(scenario).await?;
            let base = sim.base_url();
            println!("Started the Dune simulator at {base}");
            (Some(sim), base, key, Clock::scaled(SIMULATED_SPEED))
        }
    };

    let client = Client::builder(
        base.parse().context("--base-url is not a URL")?,
        ApiKey::new(key),
    )
    .clock(clock)
    .per_request_timeout(Duration::from_secs(30))
    .build()?;
    let request = ExecuteQueryPipelineRequest {
        performance: Performance::Medium.into(),
        query_parameters: None,
    };
    let id = client.execute_query_pipeline(query_id, &request).await?;
    println!("Started pipeline execution {id} of query {query_id}");

    let mut seen: BTreeMap<i64, String> = BTreeMap::new();
    loop {
        let status = client.pipeline_status(&id, true).await?;
        for node in &status.nodes {
            let now = node.status.clone().unwrap_or_else(|| "unknown".into());
            if seen.get(&node.id) != Some(&now) {
                let what = match (node.query_id, &node.name) {
                    (Some(q), _) => format!("query {q}"),
                    (None, Some(name)) => format!("materialized view {name}"),
                    (None, None) => "?".to_string(),
                };
                println!("  node {} ({what}): {now}", node.id);
                seen.insert(node.id, now);
            }
        }
        let pipeline = status.status.as_deref().unwrap_or("unknown");
        if ended(pipeline) {
            println!("Pipeline execution {id}: {pipeline}");
            for node in status.nodes.iter().filter(|n| n.error.is_some()) {
                if let Some(e) = &node.error {
                    println!("  node {} failed: {}", node.id, e.message);
                }
            }
            return Ok(());
        }
        clock.sleep(POLL_EVERY).await;
    }
}

/// Whether a pipeline status string (`completed`, `PIPELINE_STATE_FAILED`, ...) means it has ended.
fn ended(status: &str) -> bool {
    let s = status.to_ascii_lowercase();
    ["completed", "failed", "cancelled", "canceled", "expired"]
        .iter()
        .any(|end| s.ends_with(end))
}
