//! Diffs two 1,000,000-row results through the Dune API simulator with the action's own binary
//! (`preview: true`): the saved result of a query against the result of its changed SQL file, run as raw
//! SQL. Prints the whole run's time, rows/s over the rows read, and the action's peak resident memory (the
//! child process's maximum RSS), which must stay within 128 MiB. Three cases: a change that keeps the data
//! (only a comment), one that changes a column of every row (every whole row differs: the second look at
//! the saved result stops once the samples are full), and the same with `diff_key: id` (a million keys
//! matched). Run: `cargo bench --bench preview_diff`.

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use dune_sim::{LatestResult, Scenario, Simulator};

#[path = "../tests/it/file_commands.rs"]
mod file_commands;
use file_commands::parse_file_commands;

const ROWS: u64 = 1_000_000;
const QUERY_ID: u64 = 777;
const KEY: &str = "bench-key";
const LIMIT_MIB: f64 = 128.0;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    let saved = format!("SELECT id, day, chain, volume, fee FROM dex.trades LIMIT {ROWS}");
    let mut scenario = Scenario {
        api_key: Some(KEY.into()),
        time_scale: 1000.0,
        ..Scenario::default()
    };
    let mut latest = LatestResult::new(QUERY_ID, Duration::from_secs(3600));
    latest.sql = Some(saved.clone());
    scenario.latest_results.push(latest);
    let sim = rt.block_on(Simulator::start(scenario))?;
    let base = sim.base_url();
    println!(
        "{ROWS} rows a side (5 columns), simulator at {base} (in-process), action binary as a child process\n"
    );
    println!(
        "| case | rows read | whole run | rows/s | peak RSS | within {LIMIT_MIB:.0} MiB | diff |\n|---|---:|---:|---:|---:|---|---|"
    );
    let changed =
        format!("SELECT id, day, chain, volume * 1.01 AS volume, fee FROM dex.trades LIMIT {ROWS}");
    let cases: [(&str, String, Option<&str>); 3] = [
        (
            "same data (a comment added)",
            format!("-- reviewed\n{saved}\n"),
            None,
        ),
        ("one column changed in every row", changed.clone(), None),
        ("one column changed, `diff_key: id`", changed, Some("id")),
    ];
    let mut worst: f64 = 0.0;
    for (name, sql, key) in cases {
        let run = run_action(&base, &sql, key)?;
        let read = run.rows_before + run.rows_after;
        let mib = run.peak_kib as f64 / 1024.0;
        worst = worst.max(mib);
        println!(
            "| {name} | {read} | {:.2} s | {:.0} | {mib:.1} MiB | {} | {} |",
            run.wall.as_secs_f64(),
            read as f64 / run.wall.as_secs_f64(),
            if mib <= LIMIT_MIB { "yes" } else { "**no**" },
            run.diff
        );
    }
    rt.block_on(sim.shutdown());
    if worst > LIMIT_MIB {
        return Err(format!("peak RSS {worst:.1} MiB is above {LIMIT_MIB} MiB").into());
    }
    Ok(())
}

struct Run {
    rows_before: u64,
    rows_after: u64,
    peak_kib: u64,
    wall: Duration,
    diff: String,
}

fn run_action(base: &str, sql: &str, key: Option<&str>) -> Result<Run, Box<dyn std::error::Error>> {
    let ws = tempfile::tempdir()?;
    let file = |name: &str| ws.path().join(name);
    std::fs::create_dir_all(file("queries"))?;
    std::fs::write(
        file("pipeline.yml"),
        format!(
            "pipeline:\n  nodes:\n    - id: 1\n      query_execution: {{query_id: {QUERY_ID}}}\n      sql: queries/trades.sql\n"
        ),
    )?;
    std::fs::write(file("queries/trades.sql"), sql)?;
    let rss_file = file("rss");
    let action = env!("CARGO_BIN_EXE_dune-pipeline-action");
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
        .env("RUST_BACKTRACE", "0")
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_OUTPUT", file("output"))
        .env("GITHUB_STEP_SUMMARY", file("summary"))
        .env("GITHUB_STATE", file("state"))
        .env("GITHUB_WORKSPACE", ws.path())
        .env("DUNE_ACTION_TIME_SCALE", "1000")
        .env("INPUT_PIPELINE_FILE", "pipeline.yml")
        .env("INPUT_PREVIEW", "true")
        .env("INPUT_API_KEY", KEY)
        .env("INPUT_API_URL", base)
        .env("INPUT_REQUESTS_PER_MINUTE", "1000")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    if let Some(k) = key {
        cmd.env("INPUT_DIFF_KEY", k);
    }
    let started = Instant::now();
    let mut child = cmd.spawn()?;
    let mut stdout = child.stdout.take().ok_or("no stdout")?;
    let reader = std::thread::spawn(move || {
        let mut log = String::new();
        let _ = stdout.read_to_string(&mut log);
        log
    });
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
    let preview = outputs
        .iter()
        .find(|(k, _)| k == "preview")
        .map(|(_, v)| v.clone())
        .ok_or("no preview output")?;
    let preview: serde_json::Value = serde_json::from_str(&preview)?;
    let p = &preview[0];
    let n = |k: &str| p[k].as_u64().ok_or_else(|| format!("no {k} in {p}"));
    let (before, after) = (n("rows_before")?, n("rows_after")?);
    if before != ROWS || after != ROWS {
        return Err(format!("read {before} and {after} rows, expected {ROWS} each").into());
    }
    let mut diff = format!(
        "{}: {} removed, {} added",
        p["status"].as_str().unwrap_or("?"),
        n("rows_removed")?,
        n("rows_added")?
    );
    if let Some(changed) = p["keyed"]["changed"].as_u64() {
        diff.push_str(&format!(", {changed} keys changed"));
    }
    Ok(Run {
        rows_before: before,
        rows_after: after,
        peak_kib,
        wall,
        diff,
    })
}

fn vm_hwm_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}
