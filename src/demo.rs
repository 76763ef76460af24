//! `dune-pipeline-action demo`: the action's main job end to end, against the built-in simulator.

use dune_sim::{Scenario, Simulator};

use crate::app::{self, Runtime};
use crate::runner::console::Console;
use crate::runner::env::Env;
use dune_api::clock::Clock;

/// Runs a named demo scenario and prints the log, outputs and summary. Returns the action's exit code.
pub async fn run(name: &str) -> anyhow::Result<u8> {
    let Some(scenario) = Scenario::builtin(name) else {
        anyhow::bail!(
            "unknown demo {name:?}; choose one of: {}",
            Scenario::builtin_names().join(", ")
        );
    };
    let root = scenario
        .queries
        .first()
        .map(|q| q.query_id)
        .ok_or_else(|| anyhow::anyhow!("demo {name:?} has no query"))?;
    let speed = scenario.time_scale;
    let key = scenario
        .api_key
        .clone()
        .unwrap_or_else(|| "demo-key".into());
    let sim = Simulator::start(scenario).await?;
    println!(
        "Demo {name:?}: Dune API simulator at {} (time runs {speed}× faster)\n",
        sim.base_url()
    );
    let mut env = Env::default();
    env.set_input("query_id", root.to_string());
    env.set_input("api_key", key);
    env.set_input("api_url", sim.base_url());
    env.set_input("performance", "medium");
    env.set_input("timeout", "30m");
    let console = Console::stdout(false);
    let (rt, _stop) = Runtime::new(console, Clock::scaled(speed));
    let report = app::run(&env, rt).await;
    crate::cli::print_collected(&report.files, &mut std::io::stdout());
    println!(
        "exit code: {} ({})",
        report.exit_code,
        report.outcome.status()
    );
    sim.shutdown().await;
    Ok(report.exit_code)
}
