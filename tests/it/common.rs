//! Test harness: runs the action in-process against a simulator, with fresh temporary runner files and an
//! environment that holds nothing from the machine running the tests.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::PathBuf;

use dune_api::clock::Clock;
use dune_pipeline_action::app::{self, Runtime};
use dune_pipeline_action::runner::console::{Console, SharedBuffer};
use dune_pipeline_action::runner::env::Env;
use dune_sim::{Scenario, Simulator};

pub use test_support::file_commands::parse_file_commands;
pub use test_support::gfm::{outside_code_blocks, unescaped_pipes};
pub use test_support::workflow_commands::commands;

/// The key every test scenario expects.
pub const KEY: &str = "test-key-5f3a9c";

/// A scenario with its `api_key` set to [`KEY`].
pub fn keyed(mut s: Scenario) -> Scenario {
    s.api_key = Some(KEY.to_string());
    s
}

/// The POST requests that start something (a pipeline, a cancel): every POST but the usage reads
/// (`POST /v1/usage`, free, made before the start and after the end).
pub fn posts(sim: &Simulator) -> Vec<dune_sim::RecordedRequest> {
    sim.requests()
        .into_iter()
        .filter(|r| r.method == "POST" && r.path != USAGE_PATH)
        .collect()
}

/// The path of the usage read.
pub const USAGE_PATH: &str = "/api/v1/usage";

/// One run of the action.
pub struct ActionRun {
    pub env: Env,
    dir: tempfile::TempDir,
    speed: f64,
}

/// What a run left behind.
#[derive(Debug)]
pub struct Finished {
    pub exit_code: u8,
    pub log: String,
    pub outputs: BTreeMap<String, String>,
    pub raw_output_file: String,
    pub summary: String,
    pub state: BTreeMap<String, String>,
}

impl Finished {
    /// An output parsed as JSON.
    pub fn json(&self, name: &str) -> serde_json::Value {
        let raw = self
            .outputs
            .get(name)
            .unwrap_or_else(|| panic!("no output {name}"));
        serde_json::from_str(raw)
            .unwrap_or_else(|e| panic!("output {name} is not JSON ({e}): {raw}"))
    }

    /// Everything the action wrote anywhere.
    pub fn everything(&self) -> String {
        format!(
            "{}\n{}\n{}\n{:?}",
            self.log, self.raw_output_file, self.summary, self.state
        )
    }
}

impl ActionRun {
    /// A run inside "GitHub Actions" against `base_url`, running `speed` times faster than real time.
    pub fn new(base_url: &str, speed: f64) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut env = Env::default();
        let file = |name: &str| dir.path().join(name).to_string_lossy().into_owned();
        env.set("GITHUB_ACTIONS", "true");
        env.set("GITHUB_OUTPUT", file("output"));
        env.set("GITHUB_STEP_SUMMARY", file("summary"));
        env.set("GITHUB_STATE", file("state"));
        env.set(
            "GITHUB_WORKSPACE",
            dir.path().to_string_lossy().into_owned(),
        );
        env.set_input("api_key", KEY);
        env.set_input("api_url", base_url);
        ActionRun { env, dir, speed }
    }

    /// A run against a simulator.
    pub fn against(sim: &Simulator, speed: f64) -> Self {
        ActionRun::new(&sim.base_url(), speed)
    }

    /// Sets an input (as `INPUT_<NAME>`).
    pub fn input(mut self, name: &str, value: &str) -> Self {
        self.env.set_input(name, value);
        self
    }

    /// Removes an input.
    pub fn without(mut self, name: &str) -> Self {
        self.env.remove(&format!("INPUT_{}", name.to_uppercase()));
        self
    }

    /// The workspace directory.
    pub fn workspace(&self) -> PathBuf {
        self.dir.path().to_path_buf()
    }

    fn read(&self, name: &str) -> String {
        std::fs::read_to_string(self.dir.path().join(name)).unwrap_or_default()
    }

    /// Runs the action to the end.
    pub async fn run(self) -> Finished {
        let (console, buf) = Console::buffer(true);
        let (rt, _stop) = Runtime::new(console, Clock::scaled(self.speed));
        let report = app::run(&self.env, rt).await;
        self.collect(report.exit_code, buf.contents())
    }

    /// Runs the action and flips the stop signal after `after` of real time.
    pub async fn run_stopped_after(self, after: std::time::Duration) -> Finished {
        let (console, buf) = Console::buffer(true);
        let (rt, stop) = Runtime::new(console, Clock::scaled(self.speed));
        tokio::spawn(async move {
            tokio::time::sleep(after).await;
            let _ = stop.send(true);
        });
        let report = app::run(&self.env, rt).await;
        self.collect(report.exit_code, buf.contents())
    }

    /// Starts the action in the background: its log can be watched and its stop signal flipped while it
    /// runs.
    pub fn start(self) -> Running {
        let (console, log) = Console::buffer(true);
        let (rt, stop) = Runtime::new(console, Clock::scaled(self.speed));
        let env = self.env.clone();
        let task = tokio::spawn(async move { app::run(&env, rt).await.exit_code });
        Running {
            run: self,
            log,
            stop,
            task,
        }
    }

    fn collect(self, exit_code: u8, log: String) -> Finished {
        let raw_output_file = self.read("output");
        let outputs = parse_file_commands(&raw_output_file)
            .unwrap_or_else(|e| {
                panic!("GITHUB_OUTPUT breaks the runner's rules: {e}\n{raw_output_file}")
            })
            .into_iter()
            .collect();
        crate::schema::check_outputs(&outputs);
        let state = parse_file_commands(&self.read("state"))
            .expect("GITHUB_STATE follows the runner's rules")
            .into_iter()
            .collect();
        Finished {
            exit_code,
            log,
            outputs,
            raw_output_file,
            summary: self.read("summary"),
            state,
        }
    }
}

/// An action run in progress (see [`ActionRun::start`]).
pub struct Running {
    run: ActionRun,
    pub log: SharedBuffer,
    pub stop: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<u8>,
}

impl Running {
    /// Waits (real time, at most `limit`) until the log contains `text`.
    pub async fn wait_for_log(&self, text: &str, limit: std::time::Duration) {
        let start = std::time::Instant::now();
        while !self.log.contents().contains(text) {
            assert!(
                start.elapsed() < limit,
                "{text:?} not logged within {limit:?}:\n{}",
                self.log.contents()
            );
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    }

    /// Waits for the run to end.
    pub async fn finish(self) -> Finished {
        let exit_code = self.task.await.expect("the action does not panic");
        self.run.collect(exit_code, self.log.contents())
    }
}

/// Snapshot settings with the scrubbing filters.
pub fn snapshot_settings() -> insta::Settings {
    let mut settings = insta::Settings::clone_current();
    settings.add_filter(r"01[0-9A-HJKMNP-TV-Z]{24}", "[ULID]");
    settings.add_filter(r"\| Wall time \| [^|]+ \|", "| Wall time | [WALL] |");
    settings.add_filter(r"(Critical path [^:]+: \S+) of \S+", "$1 of [WALL]");
    settings.add_filter(r"127\.0\.0\.1:\d+", "127.0.0.1:[PORT]");
    settings.set_snapshot_path("snapshots");
    settings
}

/// Node 1 (query 501) runs for `first`; nodes 2 (query 502) and 3 (query 500, the root) depend on it and
/// run for an hour.
pub fn long_running(speed: f64, first: &str) -> Scenario {
    keyed(
        Scenario::from_yaml_or_json(&format!(
            r#"
time_scale: {speed}
queries:
  - query_id: 500
    nodes:
      - {{id: 1, query_id: 501, duration: {first}}}
      - {{id: 2, query_id: 502, dependencies: [1], duration: 1h}}
      - {{id: 3, query_id: 500, dependencies: [1], duration: 1h}}
"#
        ))
        .expect("scenario"),
    )
}

/// Runs the post step in-process as the runner would after a main step of query 500 that saved `state`
/// (with `RUNNER_DEBUG=1`); returns its log.
pub async fn post_step(api_url: &str, state: &[(&str, &str)], speed: f64) -> String {
    let mut env = Env::default();
    env.set("GITHUB_ACTIONS", "true");
    env.set("RUNNER_DEBUG", "1");
    env.set_input("query_id", "500");
    env.set_input("api_key", KEY);
    env.set_input("api_url", api_url);
    for (k, v) in state {
        env.set(format!("STATE_{k}"), *v);
    }
    let (console, log) = Console::buffer(true);
    dune_pipeline_action::post::run(&env, &console, Clock::scaled(speed)).await;
    log.contents()
}

/// Gives the run a workspace that outlives it (the harness's own goes away with the run).
pub fn in_workspace(mut action: ActionRun) -> (ActionRun, tempfile::TempDir) {
    let ws = tempfile::tempdir().expect("tempdir");
    action
        .env
        .set("GITHUB_WORKSPACE", ws.path().to_string_lossy().into_owned());
    (action, ws)
}

/// Starts the pipeline of saved query `root` as a main step that was killed would have left it, and waits
/// until 3 s of the simulator's time have passed; returns its id.
pub async fn orphaned_pipeline(sim: &Simulator, root: u64, speed: f64) -> String {
    let client = dune_api::Client::builder(
        sim.base_url().parse().expect("url"),
        dune_api::secret::ApiKey::new(KEY),
    )
    .clock(Clock::scaled(speed))
    .build()
    .expect("client");
    let id = client
        .execute_query_pipeline(
            root,
            &dune_api::models::ExecuteQueryPipelineRequest {
                performance: dune_api::models::Performance::Medium.into(),
                query_parameters: None,
            },
        )
        .await
        .expect("started");
    while sim.virtual_now() < std::time::Duration::from_secs(3) {
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    id
}
