//! The command line: with no arguments the binary is the action (inputs from `INPUT_*`); flags give the
//! same inputs on a terminal and override the environment; `demo` runs against the built-in simulator.

use clap::{Parser, Subcommand};

use crate::runner::env::Env;

/// Run a Dune query pipeline, follow every node, report, and fail on failure.
#[derive(Debug, Parser)]
#[command(name = "dune-pipeline-action", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    /// The saved query at the root of the pipeline (input `query_id`).
    #[arg(long)]
    pub query_id: Option<String>,
    /// Dune API key (input `api_key`); prefer the DUNE_API_KEY environment variable.
    #[arg(long, hide_env_values = true)]
    pub api_key: Option<String>,
    /// `medium` or `large`; another tier is passed through with a warning (input `performance`).
    #[arg(long)]
    pub performance: Option<String>,
    /// How long to wait for the whole pipeline: `600`, `90s`, `15m`, `1h` (input `timeout`).
    #[arg(long)]
    pub timeout: Option<String>,
    /// Query parameters as a JSON object (input `query_parameters`).
    #[arg(long)]
    pub query_parameters: Option<String>,
    /// Base URL of the API (input `api_url`).
    #[arg(long)]
    pub api_url: Option<String>,
    /// Timeout of each HTTP request (input `request_timeout`).
    #[arg(long)]
    pub request_timeout: Option<String>,
    /// Cancel running node executions when `timeout` passes (input `cancel_on_timeout`).
    #[arg(long)]
    pub cancel_on_timeout: Option<String>,
    /// Show the plan (DAG and definition as YAML) and execute nothing: `true` or `false` (input `dry_run`).
    #[arg(long)]
    pub dry_run: Option<String>,
    /// Reuse the latest results instead of running when every sink query completed within this
    /// duration, e.g. `1h` (input `max_age`).
    #[arg(long)]
    pub max_age: Option<String>,
    /// A pipeline file (YAML or JSON) to run instead of `--query-id` (input `pipeline_file`).
    #[arg(long)]
    pub pipeline_file: Option<String>,
    /// Rows of each completed query node previewed; 0 fetches no results (input `result_rows`).
    #[arg(long)]
    pub result_rows: Option<String>,
    /// Directory for the full results, relative to the workspace (input `results_dir`).
    #[arg(long)]
    pub results_dir: Option<String>,
    /// `csv` or `jsonl` (JSON Lines) for the files in `results_dir` (input `results_format`).
    #[arg(long)]
    pub results_format: Option<String>,
    /// A sticky comment on the pull request: `true` or `false` (input `pr_comment`; token from
    /// GITHUB_TOKEN).
    #[arg(long)]
    pub pr_comment: Option<String>,
    /// A check run on the commit: `true` or `false` (input `check_run`; token from GITHUB_TOKEN).
    #[arg(long)]
    pub check_run: Option<String>,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the action end to end against the built-in Dune API simulator and print the log, the outputs
    /// and the summary (no key, no network).
    Demo {
        /// Which demo: `demo` (all nodes complete) or `demo-failing` (a node fails).
        #[arg(default_value = "demo")]
        name: String,
    },
    /// The action's post step: cancel every node execution still running in the pipeline the main step
    /// started (`STATE_pipeline_execution_id`). Also selected when the binary runs as
    /// `dune-pipeline-action-post`. Never fails.
    Post,
}

impl Cli {
    /// Layers the flags over the environment's `INPUT_*` variables.
    pub fn apply_to(&self, env: &mut Env) {
        let flags = [
            ("query_id", &self.query_id),
            ("api_key", &self.api_key),
            ("performance", &self.performance),
            ("timeout", &self.timeout),
            ("query_parameters", &self.query_parameters),
            ("api_url", &self.api_url),
            ("request_timeout", &self.request_timeout),
            ("cancel_on_timeout", &self.cancel_on_timeout),
            ("dry_run", &self.dry_run),
            ("max_age", &self.max_age),
            ("pipeline_file", &self.pipeline_file),
            ("result_rows", &self.result_rows),
            ("results_dir", &self.results_dir),
            ("results_format", &self.results_format),
            ("pr_comment", &self.pr_comment),
            ("check_run", &self.check_run),
        ];
        for (name, value) in flags {
            if let Some(v) = value {
                env.set_input(name, v.clone());
            }
        }
    }
}

/// Prints collected outputs and summary on the terminal (outside GitHub Actions).
pub fn print_collected(files: &crate::runner::files::RunnerFiles, out: &mut dyn std::io::Write) {
    if !files.collected_outputs.is_empty() {
        let _ = writeln!(
            out,
            "\n── outputs ──────────────────────────────────────────"
        );
        for (name, value) in &files.collected_outputs {
            let pretty = serde_json::from_str::<serde_json::Value>(value)
                .ok()
                .filter(|v| v.is_array() || v.is_object())
                .and_then(|v| serde_json::to_string_pretty(&v).ok())
                .unwrap_or_else(|| value.clone());
            let _ = writeln!(out, "{name}: {pretty}");
        }
    }
    if !files.collected_summary.is_empty() {
        let _ = writeln!(
            out,
            "\n── job summary (markdown) ───────────────────────────"
        );
        let _ = writeln!(out, "{}", files.collected_summary);
    }
}
