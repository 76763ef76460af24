//! `dune-sim`: serve a simulated Dune API until SIGINT/SIGTERM (for demos and container smoke tests).

use std::io::Write as _;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::Parser;
use dune_sim::{
    BothStatusObjects, DatapointLimitResponse, Fault, FaultEndpoint, FaultResponse, PartialResults,
    Scenario, Simulator, ViewNames,
};

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
    /// Add a fault: ENDPOINT:PRESET, e.g. `pipeline_execute:billing_limit` (402),
    /// `any:forbidden` (403), `execution_results:request_limit` (402), `pipeline_status:503`.
    /// PRESET is billing_limit, request_limit, forbidden, rate_limited, drop, garbage or a status
    /// code. Repeatable; applies to the first matching request.
    #[arg(long, value_name = "ENDPOINT:PRESET", value_parser = parse_fault)]
    fault: Vec<Fault>,
    /// Every pipeline-status node carries both status objects, the unused one `null` or `empty`.
    #[arg(long, value_name = "null|empty|off", value_parser = parse_word::<BothStatusObjects>)]
    both_status_objects: Option<BothStatusObjects>,
    /// How the pipeline status names materialized views.
    #[arg(long, value_name = "full|short", value_parser = parse_word::<ViewNames>)]
    view_names_in_status: Option<ViewNames>,
    /// How the pipeline definition (GET /query/{id}/pipeline) names materialized views.
    #[arg(long, value_name = "full|short", value_parser = parse_word::<ViewNames>)]
    view_names_in_definition: Option<ViewNames>,
    /// Cap on datapoints (rows x columns) per results page (default Dune's 250000; 0 = off).
    #[arg(long, value_name = "N")]
    max_datapoints_per_request: Option<u64>,
    /// What a page over the datapoint cap gets.
    #[arg(long, value_name = "shorten|error", value_parser = parse_word::<DatapointLimitResponse>)]
    datapoint_limit_response: Option<DatapointLimitResponse>,
    /// What /results answers for a partial result without allow_partial_results=true.
    #[arg(long, value_name = "error|partial_state|failed_state", value_parser = parse_word::<PartialResults>)]
    partial_results_without_allow: Option<PartialResults>,
    /// Print the built-in scenario names and exit.
    #[arg(long)]
    list: bool,
    /// On shutdown, write every request served to FILE as JSON lines (`"type": "request"`), then one
    /// `"type": "summary"` line (pipelines started, executions cancelled).
    #[arg(long, value_name = "FILE")]
    record: Option<PathBuf>,
}

/// A snake_case scenario word (`short`, `failed_state`, ...) as the scenario file spells it.
fn parse_word<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, String> {
    serde_json::from_value(serde_json::Value::String(text.to_owned())).map_err(|e| e.to_string())
}

fn parse_fault(text: &str) -> Result<Fault, String> {
    let (endpoint, preset) = text
        .split_once(':')
        .ok_or_else(|| format!("expected ENDPOINT:PRESET, got {text:?}"))?;
    let endpoint: FaultEndpoint = parse_word(endpoint)?;
    let response = FaultResponse::preset(preset).ok_or_else(|| {
        format!(
            "unknown preset {preset:?} (billing_limit, request_limit, forbidden, rate_limited, drop, garbage or a status code)"
        )
    })?;
    Ok(Fault::new(endpoint, [response]))
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
    scenario.faults.extend(args.fault.iter().cloned());
    if let Some(x) = args.both_status_objects {
        scenario.both_status_objects = x;
    }
    if let Some(x) = args.view_names_in_status {
        scenario.view_names_in_status = x;
    }
    if let Some(x) = args.view_names_in_definition {
        scenario.view_names_in_definition = x;
    }
    if let Some(x) = args.max_datapoints_per_request {
        scenario.max_datapoints_per_request = x;
    }
    if let Some(x) = args.datapoint_limit_response {
        scenario.datapoint_limit_response = x;
    }
    if let Some(x) = args.partial_results_without_allow {
        scenario.partial_results_without_allow = x;
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
    // Listen for the signals before saying where it listens: a caller may stop it as soon as it reads
    // the line.
    let stop = stop_signals()?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "dune-sim listening on {}", sim.base_url())?;
    out.flush()?;
    drop(out);
    stop.await?;
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

/// Resolves on SIGINT or SIGTERM; both are listened for from the call on.
#[cfg(unix)]
fn stop_signals() -> anyhow::Result<impl Future<Output = anyhow::Result<()>>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).context("cannot listen for SIGTERM")?;
    let mut int = signal(SignalKind::interrupt()).context("cannot listen for SIGINT")?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
        Ok(())
    })
}

#[cfg(not(unix))]
fn stop_signals() -> anyhow::Result<impl Future<Output = anyhow::Result<()>>> {
    let ctrl_c = tokio::signal::ctrl_c();
    Ok(async move { ctrl_c.await.context("cannot listen for Ctrl-C") })
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
