//! Diffs two 1,000,000-row results through the Dune API simulator with the action's own binary
//! (`preview: true`): the saved result of a query against the result of its changed SQL file, run as raw
//! SQL. Prints the whole run's time, rows/s over the rows read, and the action's peak resident memory (the
//! child process's maximum RSS), which must stay within 128 MiB. Three cases: a change that keeps the data
//! (only a comment), one that changes a column of every row (every whole row differs: the second look at
//! the saved result stops once the samples are full), and the same with `diff_key: id` (a million keys
//! matched). Run: `cargo bench --bench preview_diff`.

use std::time::Duration;

use dune_sim::{LatestResult, Scenario, Simulator};

#[path = "support/child.rs"]
mod child;

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
    scenario
        .saved_queries
        .push(dune_sim::SavedQuery::new(QUERY_ID, saved.clone()));
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
    std::fs::create_dir_all(ws.path().join("queries"))?;
    std::fs::write(
        ws.path().join("pipeline.yml"),
        format!(
            "pipeline:\n  nodes:\n    - id: 1\n      query_execution: {{query_id: {QUERY_ID}}}\n      sql: queries/trades.sql\n"
        ),
    )?;
    std::fs::write(ws.path().join("queries/trades.sql"), sql)?;
    let mut env = vec![
        ("INPUT_PIPELINE_FILE", "pipeline.yml".to_string()),
        ("INPUT_PREVIEW", "true".into()),
        ("INPUT_API_KEY", KEY.into()),
        ("INPUT_API_URL", base.into()),
        ("INPUT_REQUESTS_PER_MINUTE", "1000".into()),
        // At 1000x, the default 30 minutes would be 1.8 s: the longest `timeout` is 86 s here.
        ("INPUT_TIMEOUT", "24h".into()),
    ];
    if let Some(k) = key {
        env.push(("INPUT_DIFF_KEY", k.into()));
    }
    let run = child::run_action(ws.path(), &env)?;
    if !run.log.contains("Previewing query") {
        return Err(format!("no preview ran:\n{}", run.log).into());
    }
    let preview = run.json("preview")?;
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
        peak_kib: run.peak_kib,
        wall: run.wall,
        diff,
    })
}
