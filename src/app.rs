//! The action's main job, from inputs to exit code: validate, start the pipeline, follow it, cancel what
//! must be cancelled, and write outputs, annotations and the summary on every path.

use std::time::Duration;

use tokio::sync::watch;

use crate::cancel::stop_pipeline;
use crate::clock::Clock;
use crate::dune::{self, Client};
use crate::env::Env;
use crate::github::commands::{Console, Level, capitalize};
use crate::github::files::Sinks;
use crate::github::publish::Publisher;
use crate::inputs::{self, Config};
use crate::outcome::{Outcome, Problem, RunStatus, exit};
use crate::pipeline::{End, Follower, Tracked};
use crate::plan::{self, Plan};
use crate::poll::Schedule;
use crate::report;

/// At most this many per-node `::error::` annotations (GitHub shows 10 per type per step; the last one is
/// the run's own error).
const MAX_NODE_ANNOTATIONS: usize = 9;

/// How long cancelling may take after a signal (the runner kills the step 10 s after the first signal).
pub const SIGNAL_CANCEL_BUDGET: Duration = Duration::from_secs(4);

/// How long a start request already in flight may still take after a signal (real time; the runner kills
/// the step 10 s after the first signal, and the cancels need their own seconds).
pub const START_ANSWER_GRACE: Duration = Duration::from_secs(3);

/// How long cancelling may take after the timeout.
pub const TIMEOUT_CANCEL_BUDGET: Duration = Duration::from_secs(20);

/// What the action runs with besides its inputs.
#[derive(Clone)]
pub struct Runtime {
    pub console: Console,
    pub clock: Clock,
    /// Flips to `true` when the workflow is cancelled (SIGINT/SIGTERM).
    pub stop: watch::Receiver<bool>,
    pub schedule: Schedule,
}

impl Runtime {
    /// A runtime with a console and clock, no stop signal, and the default schedule.
    pub fn new(console: Console, clock: Clock) -> (Runtime, watch::Sender<bool>) {
        let (tx, rx) = watch::channel(false);
        (
            Runtime {
                console,
                clock,
                stop: rx,
                schedule: Schedule::default(),
            },
            tx,
        )
    }
}

/// The result of a run: the exit code, where outputs and summary went, and the outcome itself.
pub struct Report {
    pub exit_code: u8,
    pub sinks: Sinks,
    pub outcome: Outcome,
}

impl Report {
    /// The report of `outcome`, whose exit code it is.
    fn new(sinks: Sinks, outcome: Outcome) -> Report {
        Report {
            exit_code: outcome.exit_code,
            sinks,
            outcome,
        }
    }
}

fn sink_warn(console: &Console, r: Result<(), crate::github::files::FileError>) {
    if let Err(e) = r {
        console.annotate(
            Level::Warning,
            Some("Could not write a file command"),
            &e.to_string(),
        );
    }
}

/// Runs the action with the inputs in `env`.
pub async fn run(env: &Env, rt: Runtime) -> Report {
    let console = rt.console.clone();
    // The key is masked before anything else is printed, even if other inputs are invalid.
    if let Some(key) = inputs::raw_api_key(env) {
        console.mask(&key);
    }
    if let Some(token) = crate::github::api::raw_token(env) {
        console.mask(&token);
    }
    let mut sinks = Sinks::from_env(|k| env.get(k));

    let config = match Config::from_env(env) {
        Ok(c) => c,
        Err(e) => {
            let outcome = Outcome {
                query_id: env.input("query_id").parse().ok(),
                performance: None,
                tracked: Tracked::default(),
                status: RunStatus::Error,
                exit_code: exit::INPUT,
                problem: Some(Problem {
                    title: format!("Invalid input `{}`", e.input),
                    message: format!("{e}. Nothing was sent to Dune."),
                }),
                wall_time: rt.clock.elapsed(),
                cancel_reason: None,
                plan: None,
                results: Vec::new(),
            };
            finish(&console, &mut sinks, &outcome);
            return Report::new(sinks, outcome);
        }
    };

    let mut github = Publisher::new(env, &config, &console, rt.clock);
    let deadline = config.timeout;
    let debug = env.get("RUNNER_DEBUG").as_deref() == Some("1");
    let client = match Client::new(
        config.api_url.clone(),
        config.api_key.clone(),
        rt.clock,
        config.request_timeout,
    ) {
        Ok(c) => c
            .with_deadline(deadline)
            .with_stop(rt.stop.clone())
            .with_console(console.clone(), debug),
        Err(e) => {
            let outcome = api_error_outcome(&config, Tracked::default(), &rt.clock, &e, false);
            let summary = finish(&console, &mut sinks, &outcome);
            github.finish(&outcome, &summary, false).await;
            return Report::new(sinks, outcome);
        }
    };

    let mut outcome = match plan::read(&config, &client, &console).await {
        Ok(plan) => execute(&config, &client, &rt, &mut sinks, plan, &mut github).await,
        Err(e) => api_error_outcome(&config, Tracked::default(), &rt.clock, &e, false),
    };
    crate::results::attach(&config.results, &client, &rt, &mut outcome).await;
    sink_warn(
        &console,
        crate::post::remember(&config, &outcome, &mut sinks),
    );
    let summary = finish(&console, &mut sinks, &outcome);
    let cancelling = *rt.stop.borrow();
    github.finish(&outcome, &summary, cancelling).await;
    Report::new(sinks, outcome)
}

/// Runs the plan (or, for a dry run, only shows it) and says how it ended.
async fn execute(
    config: &Config,
    client: &Client,
    rt: &Runtime,
    sinks: &mut Sinks,
    plan: Plan,
    github: &mut Publisher,
) -> Outcome {
    let mut tracked = Tracked::default();
    plan.track(&mut tracked);
    let mut outcome = if config.dry_run {
        plan::planned_outcome(config, tracked, &rt.clock)
    } else {
        let end = start_and_follow(config, &plan, client, rt, sinks, &mut tracked, github).await;
        conclude(config, client, rt, tracked, end).await
    };
    outcome.plan = Some(plan);
    outcome
}

async fn start_and_follow(
    config: &Config,
    plan: &Plan,
    client: &Client,
    rt: &Runtime,
    sinks: &mut Sinks,
    tracked: &mut Tracked,
    github: &mut Publisher,
) -> Result<End, (dune::Error, bool)> {
    let console = &rt.console;
    if *rt.stop.borrow() {
        return Ok(End::Stopped);
    }
    // A signal while the start is in flight: its answer is worth a short wait (with the id, the stop can
    // cancel what started); without it, say that a pipeline may be running.
    let start = plan::start(config, plan, client, console);
    tokio::pin!(start);
    let mut stop = rt.stop.clone();
    let answered = tokio::select! {
        r = &mut start => Some(r),
        _ = stop.wait_for(|s| *s) => None,
    };
    let started = match answered {
        Some(r) => r,
        None => match tokio::time::timeout(START_ANSWER_GRACE, &mut start).await {
            Ok(r) => r,
            Err(_) => return Ok(End::StoppedWhileStarting),
        },
    };
    let id = started.map_err(|e| (e, true))?;
    console.annotate(
        Level::Notice,
        Some("Dune pipeline started"),
        &format!("pipeline execution {id} ({})", plan.describe()),
    );
    sink_warn(console, sinks.set_output("pipeline_execution_id", &id));
    sink_warn(console, sinks.save_state(crate::post::STATE_PIPELINE, &id));
    github.pipeline_started(&id);
    tracked.pipeline_execution_id = Some(id);

    let mut follower = Follower {
        client,
        console,
        clock: rt.clock,
        schedule: rt.schedule,
        deadline: config.timeout,
        stop: rt.stop.clone(),
    };
    Ok(follower.follow(tracked).await)
}

async fn conclude(
    config: &Config,
    client: &Client,
    rt: &Runtime,
    mut tracked: Tracked,
    end: Result<End, (dune::Error, bool)>,
) -> Outcome {
    let console = &rt.console;
    let base = |tracked, status, exit_code, problem, cancel_reason| Outcome {
        cancel_reason,
        ..Outcome::of(
            config,
            tracked,
            status,
            exit_code,
            problem,
            rt.clock.elapsed(),
        )
    };
    // The workflow was cancelled (a signal): exit 1, status `cancelled`, one "Workflow cancelled" error.
    let cancelled = |tracked, message, cancel_reason| {
        let problem = Problem {
            title: "Workflow cancelled".into(),
            message,
        };
        base(
            tracked,
            RunStatus::Cancelled,
            exit::FAILED,
            Some(problem),
            cancel_reason,
        )
    };
    match end {
        // Stopped while waiting to retry the start after a 429 or a refused connection: nothing started.
        Err((dune::Error::Interrupted { .. }, true)) => cancelled(
            tracked,
            "The step was stopped before the pipeline started; nothing runs on Dune.".into(),
            None,
        ),
        Err((e, starting)) => api_error_outcome(config, tracked, &rt.clock, &e, starting),
        Ok(End::Api(e)) => api_error_outcome(config, tracked, &rt.clock, &e, false),
        Ok(End::TimedOut) => {
            let mut reason = None;
            let mut still = tracked.cancellable().len();
            let stopped = if config.cancel_on_timeout {
                // Retries are over (the deadline passed); give each request one quick try.
                let client = client.clone().with_deadline(Duration::ZERO);
                let s = stop_pipeline(&client, console, &mut tracked, TIMEOUT_CANCEL_BUDGET).await;
                still = s.running;
                Some(s)
            } else {
                None
            };
            let message = if let Some(done) = stopped.filter(|s| s.running > 0) {
                reason = Some("timeout".to_string());
                format!(
                    "The pipeline did not finish within {}; the action cancelled {} of {} running node executions. Raise `timeout`, or look at the slow nodes in the summary.",
                    humantime::format_duration(config.timeout),
                    done.cancelled.len(),
                    still
                )
            } else if still > 0 && !config.cancel_on_timeout {
                format!(
                    "The pipeline did not finish within {}; {} node executions are still running on Dune (`cancel_on_timeout` is false). Raise `timeout` if the pipeline needs longer.",
                    humantime::format_duration(config.timeout),
                    still
                )
            } else {
                format!(
                    "The pipeline did not finish within {}. Raise `timeout` if the pipeline needs longer.",
                    humantime::format_duration(config.timeout)
                )
            };
            base(
                tracked,
                RunStatus::TimedOut,
                exit::TIMED_OUT,
                Some(Problem {
                    title: "Dune pipeline timed out".into(),
                    message,
                }),
                reason,
            )
        }
        Ok(End::Stopped) => {
            console.line("The workflow was cancelled: cancelling the running node executions");
            let client = client.clone().with_deadline(Duration::ZERO);
            let done = stop_pipeline(&client, console, &mut tracked, SIGNAL_CANCEL_BUDGET)
                .await
                .cancelled;
            cancelled(
                tracked,
                format!(
                    "The step was stopped before the pipeline ended; the action cancelled {} node executions on Dune.",
                    done.len()
                ),
                Some("workflow cancelled".into()),
            )
        }
        Ok(End::StoppedWhileStarting) => {
            let check = where_to_check(config);
            cancelled(
                tracked,
                format!(
                    "The step was stopped while Dune was starting the pipeline, and Dune's answer did not arrive in time: a pipeline may be running that the action could not cancel. Check {check}."
                ),
                Some("workflow cancelled".into()),
            )
        }
        Ok(End::Finished) => finished_outcome(config, tracked, &rt.clock),
    }
}

fn finished_outcome(config: &Config, tracked: Tracked, clock: &Clock) -> Outcome {
    use crate::node::{NodeStatus, normalize};
    let top = tracked.raw_status.as_deref().map(normalize);
    let failed: Vec<_> = tracked
        .nodes
        .iter()
        .filter(|n| n.status == NodeStatus::Failed)
        .collect();
    let cancelled: Vec<_> = tracked
        .nodes
        .iter()
        .filter(|n| n.status == NodeStatus::Cancelled)
        .collect();
    let skipped = tracked
        .nodes
        .iter()
        .filter(|n| n.status == NodeStatus::Skipped)
        .count();
    let top_bad = matches!(top, Some(NodeStatus::Failed | NodeStatus::Cancelled));
    let (status, problem) = if tracked.all_completed() && !top_bad
        || tracked.nodes.is_empty() && top == Some(NodeStatus::Completed)
    {
        (RunStatus::Completed, None)
    } else if let Some(first) = failed.first() {
        let msg = first
            .error
            .as_ref()
            .map(|e| e.message.lines().next().unwrap_or("").to_string())
            .unwrap_or_else(|| "no error message".into());
        let mut m = format!(
            "{} of {} nodes failed; first: node {} ({}): {}.",
            failed.len(),
            tracked.nodes.len(),
            first.id,
            first.label(),
            msg
        );
        if skipped > 0 {
            m.push_str(&format!(" {skipped} downstream nodes were skipped."));
        }
        if let Some(q) = first.query_id() {
            m.push_str(&format!(
                " Fix the query at https://dune.com/queries/{q} and re-run."
            ));
        }
        (
            RunStatus::Failed,
            Some(Problem {
                title: "Dune pipeline failed".into(),
                message: m,
            }),
        )
    } else if !cancelled.is_empty() || top == Some(NodeStatus::Cancelled) {
        let ids: Vec<String> = cancelled.iter().map(|n| n.id.to_string()).collect();
        (
            RunStatus::Cancelled,
            Some(Problem {
                title: "Dune pipeline cancelled".into(),
                message: format!(
                    "{} cancelled on Dune (by a user, a credit limit, or Dune's execution time limit). Re-run the workflow to try again.",
                    if ids.is_empty() {
                        "The pipeline was".to_string()
                    } else {
                        format!("Node(s) {} were", ids.join(", "))
                    }
                ),
            }),
        )
    } else {
        let odd: Vec<String> = tracked
            .nodes
            .iter()
            .filter(|n| n.status != NodeStatus::Completed)
            .map(|n| {
                format!(
                    "node {} is {:?}",
                    n.id,
                    n.raw_status.as_deref().unwrap_or(n.status.as_str())
                )
            })
            .collect();
        let message = if odd.is_empty() {
            format!(
                "Dune reported the pipeline as {:?}{}.",
                tracked.raw_status.as_deref().unwrap_or(""),
                tracked
                    .pipeline_error
                    .as_deref()
                    .map(|e| format!(": {e}"))
                    .unwrap_or_default()
            )
        } else {
            format!(
                "The pipeline ended ({:?}) but not every node completed: {}. The action counts anything but `completed` as a failure.",
                tracked.raw_status.as_deref().unwrap_or(""),
                odd.join(", ")
            )
        };
        (
            RunStatus::Failed,
            Some(Problem {
                title: "Dune pipeline did not complete".into(),
                message,
            }),
        )
    };
    let exit_code = match status {
        RunStatus::Completed => exit::OK,
        _ => exit::FAILED,
    };
    Outcome::of(config, tracked, status, exit_code, problem, clock.elapsed())
}

fn api_error_outcome(
    config: &Config,
    tracked: Tracked,
    clock: &Clock,
    e: &dune::Error,
    starting: bool,
) -> Outcome {
    let ambiguous = starting
        && !matches!(e.status(), Some(s) if (400..500).contains(&s))
        && !matches!(e.root(), dune::Error::Connect { .. });
    let mut message = format!("{e}. {}.", capitalize(e.hint()));
    if ambiguous {
        let check = where_to_check(config);
        message.push_str(&format!(
            " Dune may have started a pipeline anyway (the response was lost), so the action did not retry: check {check} before re-running."
        ));
    }
    let problem = Problem {
        title: "Dune API error".into(),
        message,
    };
    Outcome::of(
        config,
        tracked,
        RunStatus::Error,
        exit::API,
        Some(problem),
        clock.elapsed(),
    )
}

/// Where a user can see whether a pipeline started that the action could not name.
fn where_to_check(config: &Config) -> String {
    match config.query_id {
        Some(q) => format!("the query's recent executions at https://dune.com/queries/{q}"),
        None => "the recent executions of the pipeline's queries on dune.com".into(),
    }
}

/// Writes outputs, annotations and the summary for `outcome`; returns the summary (the PR comment and the
/// check run show it too).
pub fn finish(console: &Console, sinks: &mut Sinks, outcome: &Outcome) -> String {
    let nodes = &outcome.tracked.nodes;
    let failed = outcome.failed_nodes();
    for n in nodes
        .iter()
        .filter(|n| n.status == crate::node::NodeStatus::Failed)
        .take(MAX_NODE_ANNOTATIONS)
    {
        let message = n
            .error
            .as_ref()
            .map(|e| e.message.clone())
            .unwrap_or_else(|| "Dune gave no error message".into());
        console.annotate(
            Level::Error,
            Some(&format!("Node {} ({}) failed", n.id, n.label())),
            &message,
        );
    }
    let outputs = [
        ("status", outcome.status.as_str().to_string()),
        (
            "nodes",
            report::nodes_output(nodes, report::NODES_OUTPUT_BUDGET),
        ),
        ("failed_nodes", serde_json::Value::from(failed).to_string()),
        (
            "execution_id",
            outcome.root_execution_id().unwrap_or_default(),
        ),
        ("results", crate::results::output(&outcome.results)),
    ];
    for (name, value) in outputs {
        sink_warn(console, sinks.set_output(name, &value));
    }
    if outcome.tracked.pipeline_execution_id.is_none() {
        sink_warn(console, sinks.set_output("pipeline_execution_id", ""));
    }
    let summary = report::summary(outcome);
    sink_warn(console, sinks.write_summary(&summary));

    match &outcome.problem {
        Some(p) if outcome.exit_code != exit::OK => {
            console.annotate(Level::Error, Some(&p.title), &p.message);
        }
        Some(p) => console.annotate(Level::Warning, Some(&p.title), &p.message),
        None if outcome.status == RunStatus::Planned => console.line(&format!(
            "Dry run: {} nodes planned, nothing executed",
            nodes.len()
        )),
        None => console.line(&format!(
            "Pipeline completed: {} nodes in {}",
            nodes.len(),
            report::short_duration(outcome.wall_time)
        )),
    }
    summary
}

/// A compressed clock for tests and local runs against the simulator: `DUNE_ACTION_TIME_SCALE` (a speed
/// factor), honoured only when `api_url` points at a loopback host, so it can never affect a real run.
pub fn test_clock(env: &Env) -> Option<Clock> {
    let speed: f64 = env.get("DUNE_ACTION_TIME_SCALE")?.trim().parse().ok()?;
    let url = Some(env.input("api_url"))
        .filter(|u| !u.is_empty())
        .or_else(|| env.get("DUNE_API_BASE_URL"))?;
    let url = inputs::parse_api_url(&url).ok()?;
    inputs::is_loopback(&url).then(|| Clock::scaled(speed))
}
