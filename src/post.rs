//! The post step: a backup canceller. The runner runs it after the job's steps (also when the workflow was
//! cancelled, or the main step was killed before it could cancel anything): it reads the pipeline execution
//! id the main step saved to `GITHUB_STATE`, and cancels every node execution of that pipeline still
//! pending or executing. It never fails the job: problems are warnings, the exit code is always 0.
//!
//! The image runs it as `/dune-pipeline-action-post` (a symlink to the binary, named in action.yml's
//! `post-entrypoint`); `dune-pipeline-action post` does the same on a terminal.

use std::ffi::OsStr;
use std::path::Path;
use std::time::Duration;

use crate::config::{self, Config, Connection};
use crate::outcome::{Ending, Outcome};
use crate::pipeline::Tracked;
use crate::pipeline::cancel::stop_pipeline;
use crate::runner::console::{Console, Level};
use crate::runner::env::Env;
use crate::runner::files::{FileError, RunnerFiles};
use dune_api::clock::Clock;

/// The program name that selects post mode (the file name of `argv[0]`).
pub(crate) const PROGRAM: &str = "dune-pipeline-action-post";

/// The state the main step saves: the pipeline execution id (`STATE_pipeline_execution_id` here).
pub(crate) const STATE_PIPELINE: &str = "pipeline_execution_id";

/// The state the main step saves when it deliberately left executions running (`cancel_on_timeout: false`).
pub(crate) const STATE_LEAVE_RUNNING: &str = "leave_running";

/// How long the post step may spend reading the status and cancelling (real time).
pub(crate) const BUDGET: Duration = Duration::from_secs(30);

/// Whether the binary was started under the post step's name.
pub fn invoked_as_post(argv0: Option<&OsStr>) -> bool {
    argv0
        .and_then(|a| Path::new(a).file_name())
        .is_some_and(|name| name == PROGRAM)
}

/// Saved by the main step at its end: tells the post step to leave the pipeline alone when the user asked
/// for running executions to be left running on timeout.
pub(crate) fn remember(
    config: &Config,
    outcome: &Outcome,
    files: &mut RunnerFiles,
) -> Result<(), FileError> {
    // A run left running on purpose: a timeout without cancels, or `wait: false`.
    if (outcome.ending == Ending::TimedOut && !config.cancel_on_timeout)
        || outcome.ending == Ending::Started
    {
        files.save_state(STATE_LEAVE_RUNNING, "true")
    } else {
        Ok(())
    }
}

fn state(env: &Env, name: &str) -> Option<String> {
    env.get(&format!("STATE_{name}"))
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

/// Runs the post step. It cannot fail: every problem is a warning on `console` (the binary exits 0).
pub async fn run(env: &Env, console: &Console, clock: Clock) {
    config::mask_secrets(env, console);
    cancel(env, console, clock).await;
    // The cancels' warnings beyond the runner's budget are in the log: say how many.
    console.annotate_held_back();
}

async fn cancel(env: &Env, console: &Console, clock: Clock) {
    let Some(id) = state(env, STATE_PIPELINE) else {
        console.line("Post step: the main step started no pipeline; nothing to cancel");
        return;
    };
    if state(env, STATE_LEAVE_RUNNING).as_deref() == Some("true") {
        console.line(&format!(
            "Post step: leaving pipeline execution {id} running (`cancel_on_timeout` is false)"
        ));
        return;
    }
    let warn = |message: &str| {
        console.annotate(
            Level::Warning,
            Some("Post step could not check the pipeline"),
            &format!("{message}. Pipeline execution {id} may still be running on Dune."),
        )
    };
    // The saved id, the key and the URL are all it needs: the other inputs (and the pipeline file) may have
    // changed since the main step, which must not stop the cancels; it only says so.
    let connection = match Connection::from_env(env) {
        Ok(c) => c,
        Err(e) => {
            warn(&e.to_string());
            return;
        }
    };
    if let Err(e) = Config::from_env(env) {
        console.line(&format!(
            "Post step: {e} (no longer valid since the main step?); cancelling with the saved pipeline execution id, the API key and the URL alone"
        ));
    }
    let client = match connection.dune_client(env, clock, console) {
        Ok(c) => c.with_deadline(clock.elapsed() + BUDGET),
        Err(e) => {
            warn(&e.to_string());
            return;
        }
    };
    let mut run = Tracked {
        pipeline_execution_id: Some(id.clone()),
        ..Tracked::default()
    };
    let stopped = stop_pipeline(&client, console, clock, &mut run, BUDGET).await;
    let status = run.raw_status.as_deref().unwrap_or("unknown");
    if run.nodes.is_empty() {
        console.line(&format!(
            "Post step: could not learn what pipeline execution {id} is running; nothing was cancelled"
        ));
        return;
    }
    if stopped.running == 0 {
        console.line(&format!(
            "Post step: pipeline execution {id} has nothing running (status {status}); nothing to cancel"
        ));
    } else {
        let ids: Vec<String> = stopped.cancelled.iter().map(i64::to_string).collect();
        console.line(&format!(
            "Post step: pipeline execution {id} still had {} node executions running; cancelled {} (nodes: {})",
            stopped.running,
            stopped.cancelled.len(),
            if ids.is_empty() {
                "none".to_string()
            } else {
                ids.join(", ")
            }
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn post_mode_by_program_name() {
        assert!(invoked_as_post(Some(OsStr::new(
            "/dune-pipeline-action-post"
        ))));
        assert!(invoked_as_post(Some(OsStr::new(PROGRAM))));
        assert!(!invoked_as_post(Some(OsStr::new(
            "/usr/bin/dune-pipeline-action"
        ))));
        assert!(!invoked_as_post(Some(OsStr::new(
            "/x/dune-pipeline-action-post/other"
        ))));
        assert!(!invoked_as_post(None));
    }
}
