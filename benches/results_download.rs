//! Downloads a 1,000,000-row result through the Dune API simulator with the action's own binary, once as
//! CSV and once as JSON Lines, and prints rows/s, MB/s and the action's peak resident memory (the child
//! process's maximum RSS). For comparison it also fetches the same pages with a bare HTTP loop that only
//! counts bytes: what loopback and the simulator allow. Run: `cargo bench --bench results_download`.

use std::time::{Duration, Instant};

use dune_sim::{Scenario, Simulator};

#[path = "support/child.rs"]
mod child;

const ROWS: u64 = 1_000_000;
const QUERY_ID: u64 = 777;
const KEY: &str = "bench-key";

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    let yaml = format!(
        "time_scale: 1000\napi_key: {KEY}\nqueries:\n  - query_id: {QUERY_ID}\n    nodes:\n      - id: 1\n        query_id: {QUERY_ID}\n        duration: 1s\n        rows: {ROWS}\n"
    );
    let sim = rt.block_on(Simulator::start(Scenario::from_yaml_or_json(&yaml)?))?;
    let base = sim.base_url();
    println!(
        "{ROWS} rows, simulator at {base} (in-process, its own thread), action binary as a child process\n"
    );
    println!(
        "| format | run | rows/s | MB/s | peak RSS | download | whole run |\n|---|---|---:|---:|---:|---:|---:|"
    );
    for format in ["csv", "jsonl"] {
        let run = run_action(&base, format)?;
        let mb = run.bytes as f64 / 1e6;
        println!(
            "| {format} | action | {:.0} | {:.1} | {:.1} MiB | {:.2} s | {:.2} s |",
            run.rows as f64 / run.download_secs,
            mb / run.download_secs,
            run.peak_kib as f64 / 1024.0,
            run.download_secs,
            run.wall.as_secs_f64()
        );
        let (bytes, secs) = rt.block_on(bare_fetch(&base, &run.execution_id, format == "csv"))?;
        println!(
            "| {format} | bare HTTP loop | {:.0} | {:.1} | – | {secs:.2} s | – |",
            ROWS as f64 / secs,
            bytes as f64 / 1e6 / secs
        );
    }
    rt.block_on(sim.shutdown());
    Ok(())
}

struct Run {
    rows: u64,
    bytes: u64,
    download_secs: f64,
    peak_kib: u64,
    wall: Duration,
    execution_id: String,
}

fn run_action(base: &str, format: &str) -> Result<Run, Box<dyn std::error::Error>> {
    let ws = tempfile::tempdir()?;
    let env = [
        ("INPUT_QUERY_ID", QUERY_ID.to_string()),
        ("INPUT_API_KEY", KEY.into()),
        ("INPUT_API_URL", base.into()),
        ("INPUT_RESULTS_DIR", "out".into()),
        ("INPUT_RESULTS_FORMAT", format.into()),
    ];
    let run = child::run_action(ws.path(), &env)?;
    let results = run.json("results")?;
    let r = &results[0];
    let rows = r["rows"].as_u64().ok_or("no rows")?;
    if rows != ROWS {
        return Err(format!("downloaded {rows} rows, expected {ROWS}").into());
    }
    // `... wrote N rows (B bytes, P pages) to PATH in S.SSs`
    let download_secs = run
        .log
        .lines()
        .find_map(|l| {
            l.rsplit_once(" in ")?
                .1
                .strip_suffix('s')?
                .parse::<f64>()
                .ok()
        })
        .ok_or_else(|| format!("no download time in the log:\n{}", run.log))?;
    Ok(Run {
        rows,
        bytes: r["bytes"].as_u64().ok_or("no bytes")?,
        download_secs,
        peak_kib: run.peak_kib,
        wall: run.wall,
        execution_id: r["execution_id"]
            .as_str()
            .ok_or("no execution id")?
            .to_string(),
    })
}

/// Fetches every page and only counts bytes: the ceiling set by loopback and the simulator.
async fn bare_fetch(
    base: &str,
    execution_id: &str,
    csv: bool,
) -> Result<(u64, f64), Box<dyn std::error::Error>> {
    let http = reqwest::Client::new();
    let suffix = if csv { "/csv" } else { "" };
    let mut url =
        format!("{base}/api/v1/execution/{execution_id}/results{suffix}?limit=32000&offset=0");
    let started = Instant::now();
    let mut bytes = 0u64;
    loop {
        let resp = http.get(&url).header("x-dune-api-key", KEY).send().await?;
        let header_next = resp
            .headers()
            .get("x-dune-next-uri")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let body = resp.bytes().await?;
        bytes += body.len() as u64;
        let next = if csv {
            header_next
        } else {
            // No parsing: find `"next_uri":"…"` in the body.
            let text = String::from_utf8_lossy(&body);
            text.find("\"next_uri\":\"").and_then(|i| {
                let rest = &text[i + 12..];
                rest.find('"').map(|j| rest[..j].to_string())
            })
        };
        match next {
            Some(n) => url = n,
            None => break,
        }
    }
    Ok((bytes, started.elapsed().as_secs_f64()))
}
