//! The binary as a user runs it: the demo (README's first command) and the CLI flags.

use std::process::Command;

use dune_sim::Simulator;

/// The binary asked for a dry run of the pipeline file `file`, with an API address where nothing listens
/// (a dry run of a file must not need it).
pub(crate) fn dry_run_of(file: &std::path::Path) -> Command {
    let mut c = bin();
    c.args([
        "--pipeline-file",
        &file.to_string_lossy(),
        "--dry-run",
        "true",
    ])
    .args(["--api-url", "http://127.0.0.1:9"]);
    c
}

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_dune-pipeline-action"));
    // Nothing from the machine running the tests leaks into the run.
    for (k, _) in std::env::vars() {
        if k.starts_with("GITHUB_")
            || k.starts_with("INPUT_")
            || k.starts_with("RUNNER_")
            || k.starts_with("DUNE_")
            || k == "CI"
        {
            c.env_remove(k);
        }
    }
    c.env("RUST_BACKTRACE", "0");
    c
}

#[test]
fn demo_runs_end_to_end() {
    let out = bin().arg("demo").output().expect("runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("── outputs"), "{stdout}");
    assert!(stdout.contains("status: completed"), "{stdout}");
    assert!(stdout.contains("## ✅ Dune pipeline completed"), "{stdout}");
    assert!(
        !stdout.contains("::add-mask::"),
        "no workflow commands on a terminal"
    );
}

#[test]
fn failing_demo_exits_1() {
    let out = bin().args(["demo", "demo-failing"]).output().expect("runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("status: failed"), "{stdout}");
    assert!(stdout.contains("amount_usd"), "{stdout}");
}

#[test]
fn flags_are_inputs() {
    let out = bin()
        .args(["--query-id", "abc"])
        .env("DUNE_API_KEY", "k")
        .output()
        .expect("runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(2), "{stdout}");
    assert!(stdout.contains("input `query_id`"), "{stdout}");
}

#[tokio::test(flavor = "multi_thread")]
async fn cli_against_the_simulator_prints_outputs_and_summary() {
    let scenario = crate::common::keyed(dune_sim::Scenario::single_query(
        1111,
        std::time::Duration::from_secs(3),
    ));
    let sim = Simulator::start(scenario).await.expect("sim");
    let url = sim.base_url();
    let out = tokio::task::spawn_blocking(move || {
        bin()
            .args([
                "--query-id",
                "1111",
                "--performance",
                "large",
                "--api-url",
                &url,
            ])
            .env("DUNE_API_KEY", crate::common::KEY)
            .env("DUNE_ACTION_TIME_SCALE", "20")
            .output()
            .expect("runs")
    })
    .await
    .expect("joins");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("pipeline_execution_id: 01"), "{stdout}");
    assert!(stdout.contains("| Performance | large |"), "{stdout}");
    assert!(!stdout.contains(crate::common::KEY));
}

#[test]
fn a_pipeline_file_dry_run_needs_no_network() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("pipeline.yml");
    std::fs::write(
        &file,
        "pipeline:\n  nodes:\n    - {id: 1, query_execution: {query_id: 1111}}\n    - {id: 2, dependencies: [1], query_execution: {query_id: 2222}}\n",
    )
    .expect("write");
    // An API address where nothing listens: the dry run of a file must not need it.
    let out = dry_run_of(&file)
        .env("DUNE_API_KEY", "k")
        .output()
        .expect("runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("status: planned"), "{stdout}");
    assert!(stdout.contains("  n1 --> n2"), "{stdout}");
    assert!(stdout.contains("query_id: 2222"), "{stdout}");
}
