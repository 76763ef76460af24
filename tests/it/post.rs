//! The post step (the backup canceller): in-process, and as the binary under both of its names.

use std::process::Command;
use std::time::Duration;

use crate::common::{ActionRun, KEY, keyed, long_running, post_step};
use dune_sim::{Scenario, Simulator};

const SPEED: f64 = 50.0;

/// Starts a pipeline as a main step that was killed would have left it, and waits until nodes 2 and 3
/// run.
async fn orphaned_pipeline(sim: &Simulator) -> String {
    crate::common::orphaned_pipeline(sim, 500, SPEED).await
}

async fn post(sim: &Simulator, state: &[(&str, &str)]) -> String {
    post_step(&sim.base_url(), state, SPEED).await
}

#[tokio::test(flavor = "multi_thread")]
async fn cancels_what_the_main_step_left_running() {
    let sim = Simulator::start(long_running(SPEED, "1s"))
        .await
        .expect("simulator");
    let id = orphaned_pipeline(&sim).await;
    let log = post(&sim, &[("pipeline_execution_id", &id)]).await;
    assert_eq!(sim.cancelled_executions().len(), 2, "{log}");
    assert!(
        log.contains(&format!(
            "Post step: pipeline execution {id} still had 2 node executions running; cancelled 2 (nodes: 2, 3)"
        )),
        "{log}"
    );
    assert_eq!(
        log.lines().next(),
        Some(format!("::add-mask::{KEY}").as_str())
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn does_nothing_without_a_pipeline() {
    let sim = Simulator::start(long_running(SPEED, "1s"))
        .await
        .expect("simulator");
    let log = post(&sim, &[("pipeline_execution_id", "")]).await;
    assert!(
        log.contains("Post step: the main step started no pipeline; nothing to cancel"),
        "{log}"
    );
    assert!(sim.requests().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn does_nothing_after_a_run_that_ended() {
    let scenario =
        keyed(Scenario::single_query(500, Duration::from_secs(2))).with_time_scale(SPEED);
    let sim = Simulator::start(scenario).await.expect("simulator");
    let done = ActionRun::against(&sim, SPEED)
        .input("query_id", "500")
        .run()
        .await;
    assert_eq!(done.exit_code, 0, "{}", done.log);
    let id = done.state["pipeline_execution_id"].clone();
    let before = sim.requests().len();
    let log = post(&sim, &[("pipeline_execution_id", &id)]).await;
    assert!(
        log.contains("has nothing running (status completed); nothing to cancel"),
        "{log}"
    );
    assert!(!sim.requests().iter().any(|r| r.path.ends_with("/cancel")));
    // It read the status once, and that was all.
    let after: Vec<_> = sim.requests().into_iter().skip(before).collect();
    assert_eq!(after.len(), 1, "{after:?}");
    assert!(
        after[0].path.starts_with("/api/v1/pipelines/executions/") && after[0].status == 200,
        "{after:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn problems_are_warnings() {
    // The API is gone: a warning (the binary exits 0 whatever happens; see the binary's tests below).
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    drop(listener);
    let state = [("pipeline_execution_id", "01HKZJ2683PHF9Q9PHHQ8FW4Q1")];
    let log = post_step(&url, &state, SPEED).await;
    assert!(
        log.contains("::warning title=Could not read the pipeline status before cancelling::"),
        "{log}"
    );
    assert!(log.contains("nothing was cancelled"), "{log}");
    assert!(!log.contains("::error"), "{log}");
    // Invalid inputs: a warning.
    let log = post_step("not a url", &state, SPEED).await;
    assert!(!log.contains("::error"), "{log}");
    assert!(
        log.contains("::warning title=Post step could not check the pipeline::"),
        "{log}"
    );
}

fn bin(program: &std::path::Path, sim: &Simulator, id: &str) -> Command {
    let mut c = Command::new(program);
    for (k, _) in std::env::vars() {
        if ["GITHUB_", "INPUT_", "RUNNER_", "DUNE_", "STATE_"]
            .iter()
            .any(|p| k.starts_with(p))
            || k == "CI"
        {
            c.env_remove(k);
        }
    }
    c.env("GITHUB_ACTIONS", "true")
        .env("INPUT_QUERY_ID", "500")
        .env("INPUT_API_KEY", KEY)
        .env("INPUT_API_URL", sim.base_url())
        .env("STATE_pipeline_execution_id", id)
        .env("DUNE_ACTION_TIME_SCALE", SPEED.to_string());
    c
}

async fn run_binary(mut cmd: Command) -> (Option<i32>, String) {
    let out = tokio::task::spawn_blocking(move || cmd.output().expect("runs"))
        .await
        .expect("joins");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread")]
async fn the_binary_is_the_post_step_under_its_post_name() {
    let sim = Simulator::start(long_running(SPEED, "1s"))
        .await
        .expect("simulator");
    let id = orphaned_pipeline(&sim).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let link = dir.path().join("dune-pipeline-action-post");
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_dune-pipeline-action"), &link).expect("symlink");
    let (code, stdout) = run_binary(bin(&link, &sim, &id)).await;
    assert_eq!(code, Some(0), "{stdout}");
    assert!(stdout.contains("cancelled 2 (nodes: 2, 3)"), "{stdout}");
    assert_eq!(sim.cancelled_executions().len(), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_post_subcommand() {
    let sim = Simulator::start(long_running(SPEED, "1s"))
        .await
        .expect("simulator");
    let id = orphaned_pipeline(&sim).await;
    let mut cmd = bin(
        std::path::Path::new(env!("CARGO_BIN_EXE_dune-pipeline-action")),
        &sim,
        &id,
    );
    cmd.arg("post");
    let (code, stdout) = run_binary(cmd).await;
    assert_eq!(code, Some(0), "{stdout}");
    assert_eq!(sim.cancelled_executions().len(), 2, "{stdout}");
    // Nothing is left: a second run finds nothing to cancel.
    let mut again = bin(
        std::path::Path::new(env!("CARGO_BIN_EXE_dune-pipeline-action")),
        &sim,
        &id,
    );
    again.arg("post");
    let (code, stdout) = run_binary(again).await;
    assert_eq!(code, Some(0), "{stdout}");
    assert!(stdout.contains("has nothing running"), "{stdout}");
}
