//! `dune-sim`: serve a simulated Dune API until SIGINT/SIGTERM (for demos and container smoke tests).

use std::io::Write as _;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::Parser;
use dune_sim::{Scenario, Simulator};

/// A local simulator of the Dune Analytics API (pipelines, executions, results).
#[derive(Debug, Parser)]
#[command(name = "dune-sim", version, about)]
struct Args {
    /// Port to listen on (0 = any free port; the URL is printed).
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Address to listen on (0.0.0.0 inside a container).
    #[arg(long, default_value_t = IpAddr::V4(Ipv4Addr::LOCALHOST))]
    host: IpAddr,
    /// Scenario file (YAML or JSON).
    #[arg(long, value_name = "FILE", conflicts_with = "builtin")]
    scenario: Option<PathBuf>,
    /// Built-in scenario (see --list); default `demo`.
    #[arg(long, value_name = "NAME")]
    builtin: Option<String>,
    /// Override the scenario's time scale (virtual seconds per real second).
    #[arg(long, value_name = "X")]
    time_scale: Option<f64>,
    /// Print the built-in scenario names and exit.
    #[arg(long)]
    list: bool,
    /// On shutdown, write every request served to FILE as JSON lines (`"type": "request"`), then one
    /// `"type": "summary"` line (pipelines started, executions cancelled).
    #[arg(long, value_name = "FILE")]
    record: Option<PathBuf>,
}

fn load(args: &Args) -> anyhow::Result<Scenario> {
    let mut scenario = match (&args.scenario, &args.builtin) {
        (Some(path), _) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            Scenario::from_yaml_or_json(&text).with_context(|| format!("in {}", path.display()))?
        }
        (None, name) => {
            let name = name.as_deref().unwrap_or("demo");
            Scenario::builtin(name).with_context(|| {
                format!(
                    "unknown built-in scenario {name:?} (known: {})",
                    Scenario::builtin_names().join(", ")
                )
            })?
        }
    };
    if let Some(x) = args.time_scale {
        scenario.time_scale = x;
    }
    scenario.validate()?;
    Ok(scenario)
}

async fn run(args: Args) -> anyhow::Result<()> {
    if args.list {
        for name in Scenario::builtin_names() {
            println!("{name}");
        }
        return Ok(());
    }
    let scenario = load(&args)?;
    let sim = Simulator::start_on(scenario, SocketAddr::new(args.host, args.port)).await?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "dune-sim listening on {}", sim.base_url())?;
    out.flush()?;
    drop(out);
    wait_for_signal().await?;
    let record = args
        .record
        .as_deref()
        .map(|path| (path, record_lines(&sim)));
    sim.shutdown().await;
    if let Some((path, lines)) = record {
        std::fs::write(path, lines).with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(())
}

/// The `--record` file: one JSON object per request served, in arrival order, then a summary.
fn record_lines(sim: &Simulator) -> String {
    let mut out = String::new();
    for r in sim.requests() {
        let line = serde_json::json!({
            "type": "request",
            "method": r.method,
            "path": r.path,
            "query": r.query,
            "accept": r.accept,
            "body": r.body,
            "api_key_ok": r.api_key_ok,
            "status": r.status,
            "at_ms": r.at.as_millis() as u64,
        });
        out.push_str(&line.to_string());
        out.push('\n');
    }
    let summary = serde_json::json!({
        "type": "summary",
        "pipelines_started": sim.pipelines_started(),
        "cancelled_executions": sim.cancelled_executions(),
    });
    out.push_str(&summary.to_string());
    out.push('\n');
    out
}

#[cfg(unix)]
async fn wait_for_signal() -> anyhow::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).context("cannot listen for SIGTERM")?;
    tokio::select! {
        r = tokio::signal::ctrl_c() => r.context("cannot listen for SIGINT")?,
        _ = term.recv() => {}
    }
    Ok(())
}

#[cfg(not(unix))]
async fn wait_for_signal() -> anyhow::Result<()> {
    tokio::signal::ctrl_c()
        .await
        .context("cannot listen for Ctrl-C")
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    match run(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("dune-sim: {e:#}");
            ExitCode::FAILURE
        }
    }
}
