//! Downloads a 1,000,000-row result through the Dune API simulator with the action's own binary, once as
//! CSV and once as JSON Lines, and prints rows/s, MB/s and the action's peak resident memory (the child
//! process's maximum RSS). For comparison it also fetches the same pages with a bare HTTP loop that only
//! counts bytes: what loopback and the simulator allow. Run: `cargo bench --bench results_download`.

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use dune_sim::{Scenario, Simulator};

use test_support::file_commands::parse_file_commands;

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
    for format in ["csv", "json"] {
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
    let file = |name: &str| ws.path().join(name);
    let rss_file = file("rss");
    let action = env!("CARGO_BIN_EXE_dune-pipeline-action");
    // GNU time reports the child's maximum RSS from wait4(2): exact, whenever the peak happened.
    let gnu_time = Path::new("/usr/bin/time").exists();
    let mut cmd = if gnu_time {
        let mut c = Command::new("/usr/bin/time");
        c.arg("-f").arg("%M").arg("-o").arg(&rss_file).arg(action);
        c
    } else {
        Command::new(action)
    };
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_OUTPUT", file("output"))
        .env("GITHUB_STEP_SUMMARY", file("summary"))
        .env("GITHUB_STATE", file("state"))
        .env("GITHUB_WORKSPACE", ws.path())
        .env("DUNE_ACTION_TIME_SCALE", "1000")
        .env("INPUT_QUERY_ID", QUERY_ID.to_string())
        .env("INPUT_API_KEY", KEY)
        .env("INPUT_API_URL", base)
        .env("INPUT_RESULTS_DIR", "out")
        .env("INPUT_RESULTS_FORMAT", format)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    let started = Instant::now();
    let mut child = cmd.spawn()?;
    let mut stdout = child.stdout.take().ok_or("no stdout")?;
    let reader = std::thread::spawn(move || {
        let mut log = String::new();
        let _ = stdout.read_to_string(&mut log);
        log
    });
    // Without GNU time: sample the child's high-water mark until it exits.
    let mut peak_kib = 0;
    let status = loop {
        if let Some(s) = child.try_wait()? {
            break s;
        }
        if !gnu_time {
            peak_kib = peak_kib.max(vm_hwm_kib(child.id()).unwrap_or(0));
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    let wall = started.elapsed();
    let log = reader.join().map_err(|_| "log reader panicked")?;
    if !status.success() {
        return Err(format!("the action failed ({status}):\n{log}").into());
    }
    if gnu_time {
        peak_kib = std::fs::read_to_string(&rss_file)?
            .lines()
            .last()
            .and_then(|l| l.trim().parse().ok())
            .ok_or("no maximum RSS from /usr/bin/time")?;
    }
    let outputs = parse_file_commands(&std::fs::read_to_string(file("output"))?)?;
    let results = outputs
        .iter()
        .find(|(k, _)| k == "results")
        .map(|(_, v)| v.clone())
        .ok_or("no results output")?;
    let results: serde_json::Value = serde_json::from_str(&results)?;
    let r = &results[0];
    let rows = r["rows"].as_u64().ok_or("no rows")?;
    if rows != ROWS {
        return Err(format!("downloaded {rows} rows, expected {ROWS}").into());
    }
    // `... wrote N rows (B bytes, P pages) to PATH in S.SSs`
    let download_secs = log
        .lines()
        .find_map(|l| {
            l.rsplit_once(" in ")?
                .1
                .strip_suffix('s')?
                .parse::<f64>()
                .ok()
        })
        .ok_or_else(|| format!("no download time in the log:\n{log}"))?;
    Ok(Run {
        rows,
        bytes: r["bytes"].as_u64().ok_or("no bytes")?,
        download_secs,
        peak_kib,
        wall,
        execution_id: r["execution_id"]
            .as_str()
            .ok_or("no execution id")?
            .to_string(),
    })
}

fn vm_hwm_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
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
