//! The action's main job, from inputs to exit code: validate, start the pipeline, follow it, cancel what
//! must be cancelled, and write outputs, annotations and the summary on every path.

use std::time::Duration;

use tokio::sync::watch;

use dune_api::{Client, Clock};

use crate::config::{self, Config};
use crate::github::publish::Publisher;
use crate::outcome::{Ending, Outcome, TimeoutCancels, exit};
use crate::pipeline::cancel::stop_pipeline;
use crate::pipeline::details::{AFTER_END, DetailReads};
use crate::pipeline::estimate::{self, Estimate};
use crate::pipeline::fresh::{self, FreshCheck};
use crate::pipeline::plan::{self, Plan};
use crate::pipeline::schedule::Schedule;
use crate::pipeline::sync::{self, Reason, SqlSync};
use crate::pipeline::usage::{self, Usage};
use crate::pipeline::{Followed, Follower, Tracked};
use crate::report;
use crate::review::Review;
use crate::runner::console::{Console, Level, Location};
use crate::runner::env::Env;
use crate::runner::files::RunnerFiles;

/// From the first signal to the exit, at most this, in the worst case (a signal during the start request,
/// with a check run or a PR comment on). GitHub's runner sends SIGINT to the `docker` CLI, SIGTERM 7.5 s
/// later, and kills the CLI alone at 10 s (the container may run on): the start's grace, the cancels and
/// the publishing together fit in it (2 + 2.5 + 2 s), the outputs, summary and state written before the
/// publishing; `main` exits at this budget whatever is still running.
pub const SIGNAL_EXIT_BUDGET: Duration = Duration::from_secs(7);

/// How long cancelling may take after a signal (real time; see [`SIGNAL_EXIT_BUDGET`]).
pub(crate) const SIGNAL_CANCEL_BUDGET: Duration = Duration::from_millis(2500);

/// How long a start request already in flight may still take after a signal (real time; see
/// [`SIGNAL_EXIT_BUDGET`]): with its answer the cancels can stop what started.
pub(crate) const START_ANSWER_GRACE: Duration = Duration::from_secs(2);

/// How long cancelling may take after the timeout.
pub(crate) const TIMEOUT_CANCEL_BUDGET: Duration = Duration::from_secs(20);

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
    pub files: RunnerFiles,
    pub(crate) outcome: Outcome,
}

impl Report {
    /// The report of `outcome`, whose exit code it is.
    fn new(files: RunnerFiles, outcome: Outcome) -> Report {
        Report {
            exit_code: outcome.exit_code(),
            files,
            outcome,
        }
    }
}

fn file_warn(console: &Console, r: Result<(), crate::runner::files::FileError>) {
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
    // Secrets are masked before anything else is printed, even if other inputs are invalid.
    config::mask_secrets(env, &console);
    let mut files = RunnerFiles::from_env(|k| env.get(k));

    let config = match Config::from_env(env) {
        Ok(c) => c,
        Err(e) => {
            let query_id = env.input("query_id").parse().ok();
            if let Some(file) = &e.file {
                file.annotate(&console);
            }
            let outcome = Outcome::invalid_input(query_id, &e, rt.clock.elapsed());
            finish(&console, &mut files, &outcome);
            return Report::new(files, outcome);
        }
    };

    let mut github = Publisher::new(env, &config, &console, rt.clock);
    let client = match config.connection().dune_client(env, rt.clock, &console) {
        Ok(c) => c.with_deadline(config.timeout).with_stop(rt.stop.clone()),
        Err(e) => {
            let outcome =
                Outcome::api_error(&config, Tracked::default(), &e, false, rt.clock.elapsed());
            let summary = finish(&console, &mut files, &outcome);
            let published = github.finish(&outcome, &summary, false).await;
            write_published(&console, &mut files, published);
            return Report::new(files, outcome);
        }
    };

    if config.preview.enabled {
        let outcome = preview(&config, &client, &rt).await;
        let summary = finish(&console, &mut files, &outcome);
        let cancelling = *rt.stop.borrow();
        github.finish(&outcome, &summary, cancelling).await;
        return Report::new(files, outcome);
    }

    // Reads made while following are patient: the pipeline runs whether or not the action sees it.
    let mut details = DetailReads::new(&client.patient());
    let read = plan::read(&config.source, config.plan_settings(), &client, &console).await;
    let mut outcome = match read {
        Ok(plan) => match sync_sql(&config, &client, &rt, plan).await {
            Ok((plan, sync)) => {
                let mut outcome = execute(
                    &config,
                    &client,
                    &rt,
                    &mut files,
                    plan,
                    &mut github,
                    &mut details,
                )
                .await;
                outcome.sync = sync;
                outcome
            }
            Err(outcome) => *outcome,
        },
        Err(e) => Outcome::api_error(&config, Tracked::default(), &e, false, rt.clock.elapsed()),
    };
    // The extras still missing (execution reads, result previews) get AFTER_END from the moment the end
    // was noticed, side by side within the one cap; result files are not cut short.
    let bound = outcome
        .tracked
        .noticed_end_at
        .unwrap_or_else(|| rt.clock.elapsed())
        + AFTER_END;
    let wants_results = (config.results.preview_rows != 0 || config.results.dir.is_some())
        && !*rt.stop.borrow()
        && !outcome.ending.is_error();
    // A fresh run executed nothing: its results are the reused executions'.
    let reused = match &outcome.fresh {
        Some(check) if outcome.ending == Ending::Fresh => check.nodes(),
        _ => Vec::new(),
    };
    let nodes = if reused.is_empty() {
        outcome.tracked.nodes.clone()
    } else {
        reused
    };
    // The account's usage after the end, on the extras' share within the same bound: only for a pipeline
    // that was followed to its end (not after an API error, whose key or service the read would only
    // meet again, nor after a signal, whose exit budget is for the cancels).
    let read_usage_after = outcome.tracked.pipeline_execution_id.is_some()
        && config.wait
        && (outcome.ending != Ending::ApiError || outcome.tracked.refused_by_limit().is_some())
        && !*rt.stop.borrow();
    let reads = details.finish(&mut outcome.tracked, &console, rt.clock, bound, &rt.stop);
    let usage_after = async {
        if !read_usage_after {
            return None;
        }
        Some(crate::pipeline::usage::read(&client.extras(), rt.clock, bound).await)
    };
    let results = async {
        if !wants_results {
            return None;
        }
        let fetched = crate::results::fetch_all(
            &config.results,
            &client,
            &console,
            rt.stop.clone(),
            crate::results::Selection {
                nodes: &nodes,
                root_query: config.source.query_id(),
                clock: rt.clock,
                bound,
            },
        )
        .await;
        Some(fetched)
    };
    let ((), results, usage_after) = tokio::join!(reads, results, usage_after);
    outcome.usage.after = usage_after;
    outcome = outcome.with_late_reads();
    if let Some(results) = results {
        outcome = outcome.with_results(results, *rt.stop.borrow());
    }
    let lowered = client.requests_per_window();
    if lowered < config.requests_per_minute {
        console.annotate(
            Level::Warning,
            Some("Dune rate-limited the action"),
            &format!(
                "Dune answered HTTP 429 (too many requests): the action lowered its cap from {} to {lowered} requests a minute for the rest of the run. Lower `requests_per_minute` to your plan's limit.",
                config.requests_per_minute
            ),
        );
    }
    file_warn(
        &console,
        crate::post::remember(&config, &outcome, &mut files),
    );
    let summary = finish(&console, &mut files, &outcome);
    let cancelling = *rt.stop.borrow();
    let published = github.finish(&outcome, &summary, cancelling).await;
    write_published(&console, &mut files, published);
    Report::new(files, outcome)
}

/// `preview: true`: compares each SQL file with the query's saved SQL and previews the ones that differ
/// (for a dry run, only lists them); runs no pipeline and changes nothing saved.
async fn preview(config: &Config, client: &Client, rt: &Runtime) -> Outcome {
    use crate::review::run::{Found, Previewer, QueryReview, SqlFile, select};
    let console = &rt.console;
    let config::Source::File(file) = &config.source else {
        // Config::from_env refuses `preview` without a pipeline file.
        return Outcome::previewed(config, Review::default(), rt.clock.elapsed());
    };
    let files: Vec<SqlFile> = file
        .sql
        .iter()
        .map(|n| SqlFile {
            node_id: n.node_id,
            query_id: n.query_id,
            file: n.file.clone(),
            text: n.text.clone(),
        })
        .collect();
    // Without a key a dry run sends nothing: every SQL file is listed as one that would be compared.
    let offline = config.dry_run && config.api_key.expose().is_empty();
    let mut changed_nodes = std::collections::BTreeSet::new();
    for f in &files {
        if offline {
            changed_nodes.insert(f.node_id);
            continue;
        }
        match client.query(f.query_id.unsigned_abs()).await {
            Ok(saved) if crate::pipeline::sql::differs(&saved.query_sql, &f.text) => {
                changed_nodes.insert(f.node_id);
            }
            Ok(_) => {}
            Err(e) => {
                return Outcome::api_error(
                    config,
                    Tracked::default(),
                    &e,
                    false,
                    rt.clock.elapsed(),
                );
            }
        }
    }
    let (changed, not_previewed, unchanged) = select(
        &file.definition,
        &files,
        |f| changed_nodes.contains(&f.node_id),
        config.performance.as_str(),
    );
    console.line(&format!(
        "Preview: {} of {} SQL files differ from the saved SQL; {} downstream or parameterised nodes are not previewed",
        changed.len() + not_previewed.iter().filter(|n| n.reason == crate::review::run::Skip::Parameters).count(),
        files.len(),
        not_previewed.len()
    ));
    let mut review = Review {
        queries: Vec::new(),
        not_previewed,
        unchanged,
        dry_run: config.dry_run,
    };
    if config.dry_run {
        for c in changed {
            console.line(&format!(
                "Dry run: query {} ({}) would be previewed on {}",
                c.query_id, c.file, c.tier
            ));
            review.queries.push(QueryReview {
                changed: c,
                execution_id: None,
                credits: None,
                found: Found::Planned,
            });
        }
        return Outcome::previewed(config, review, rt.clock.elapsed());
    }
    let previewer = Previewer {
        client,
        clock: rt.clock,
        stop: rt.stop.clone(),
        deadline: config.timeout,
        settings: &config.preview,
    };
    for c in changed {
        console.line(&format!(
            "Previewing query {} ({}) with POST /v1/sql/execute on {}",
            c.query_id, c.file, c.tier
        ));
        let q = previewer.preview(&c).await;
        if let Found::SqlFailed(e) = &q.found {
            let at = e.line.map(|line| Location {
                file: c.file.clone(),
                line: usize::try_from(line).unwrap_or(1).max(1),
                column: e
                    .column
                    .and_then(|col| usize::try_from(col).ok())
                    .unwrap_or(1)
                    .max(1),
            });
            console.annotate_at(
                Level::Error,
                at.as_ref(),
                Some(&format!("Preview of query {}: the SQL failed", c.query_id)),
                &e.message,
            );
        }
        review.queries.push(q);
    }
    Outcome::previewed(config, review, rt.clock.elapsed())
}

/// `sync_sql`, before anything runs: updates the saved queries' SQL from the files and, with
/// `only_changed`, narrows the plan to the nodes whose SQL changed and everything downstream. `Err`: the
/// run ends here (an update failed, or nothing changed).
async fn sync_sql(
    config: &Config,
    client: &Client,
    rt: &Runtime,
    plan: Plan,
) -> Result<(Plan, Option<SqlSync>), Box<Outcome>> {
    let (true, config::Source::File(file)) = (config.sync_sql, &config.source) else {
        return Ok((plan, None));
    };
    if config.dry_run && config.api_key.expose().is_empty() {
        rt.console.line(
            "Dry run: `sync_sql` is not checked without an API key (nothing is sent to Dune)",
        );
        return Ok((plan, None));
    }
    if file.sql.is_empty() {
        rt.console.annotate(
            Level::Warning,
            Some("No SQL files to sync"),
            "`sync_sql` is set, but no query node of the pipeline file names its SQL file (`sql: queries/x.sql`)",
        );
    }
    let writes = dune_api::queries::writes_per_minute(config.requests_per_minute);
    let mut sync = sync::sync(file, client, rt.clock, writes, config.dry_run, &rt.console).await;
    if sync.failure.is_some() {
        let mut outcome = Outcome::sync_failed(config, sync, rt.clock.elapsed());
        outcome.plan = Some(plan);
        return Err(Box::new(outcome));
    }
    let (true, Plan::File { path, definition }) = (config.only_changed, &plan) else {
        return Ok((plan, Some(sync)));
    };
    sync.full = Some(definition.clone());
    match sync::changed_subset(definition, &sync.changed_nodes()) {
        Some((subset, reasons)) => {
            let ran: Vec<String> = reasons
                .iter()
                .filter(|(_, r)| *r != Reason::NotRun)
                .map(|(id, r)| format!("{id} ({})", r.describe()))
                .collect();
            rt.console.line(&format!(
                "only_changed: running {} of {} nodes: {}",
                subset.nodes.len(),
                definition.nodes.len(),
                ran.join(", ")
            ));
            sync.reasons = reasons;
            let path = path.clone();
            Ok((
                Plan::File {
                    path,
                    definition: subset,
                },
                Some(sync),
            ))
        }
        None => {
            sync.reasons = definition
                .nodes
                .iter()
                .map(|n| (n.id, Reason::NotRun))
                .collect();
            let mut outcome = Outcome::unchanged(config, sync, rt.clock.elapsed());
            outcome.plan = Some(plan);
            Err(Box::new(outcome))
        }
    }
}

/// Runs the plan (or, for a dry run, only shows it) and says how it ended. With `max_age`, the sink
/// queries' latest results are checked first, and a run whose results are all fresh enough executes
/// nothing.
async fn execute(
    config: &Config,
    client: &Client,
    rt: &Runtime,
    files: &mut RunnerFiles,
    plan: Plan,
    github: &mut Publisher,
    details: &mut DetailReads,
) -> Outcome {
    // Following a pipeline started elsewhere: nothing is reused, nothing started. One plain read first: an
    // id Dune does not know is an error now, not a status the patient follower would wait for (Dune answers
    // 404 for a moment after a start); and with `query_id` or `pipeline_file` beside it, the pipeline must
    // be the one they name.
    if let Some(id) = &config.follow {
        rt.console.line(&format!(
            "Following pipeline execution {id}, started elsewhere (`pipeline_execution_id`): nothing is started"
        ));
        let mut tracked = Tracked::default();
        plan.track(&mut tracked);
        let problem = match client.pipeline_status(id, false).await {
            Err(e) => Some(Outcome::api_error(config, tracked, &e, false, rt.clock.elapsed())),
            Ok(status) => plan::cross_check(&plan, id, &status).err().map(|why| {
                let e = config::err("pipeline_execution_id", why);
                let mut outcome =
                    Outcome::invalid_input(config.source.query_id(), &e, rt.clock.elapsed());
                if let Some(p) = &mut outcome.problem {
                    p.message = format!(
                        "{e}. Only the pipeline's status was read: nothing was started or cancelled."
                    );
                }
                outcome
            }),
        };
        if let Some(mut outcome) = problem {
            outcome.plan = Some(plan);
            return outcome;
        }
    }
    let fresh = match config.follow {
        Some(_) => None,
        None => check_fresh(config, client, rt, &plan).await,
    };
    if let Some(check) = fresh.clone().filter(|c| c.is_fresh() && !config.dry_run) {
        return Outcome::fresh(config, check, rt.clock.elapsed());
    }
    let mut tracked = Tracked::default();
    plan.track(&mut tracked);
    tracked.max_credits = config.max_credits;
    let refreshed = fresh.as_ref().map_or(&[][..], |c| c.views.as_slice());
    let estimate = estimate_before_start(config, client, rt, &plan, refreshed).await;
    if let (Some(e), Some(max), false) = (&estimate, config.max_credits, config.dry_run)
        && e.passes(max)
    {
        let mut outcome = Outcome::over_estimate(config, tracked, e.clone(), rt.clock.elapsed());
        outcome.plan = Some(plan);
        outcome.fresh = fresh;
        return outcome;
    }
    let mut usage = Usage::default();
    let mut outcome = if config.dry_run {
        Outcome::planned(config, tracked, rt.clock.elapsed())
    } else {
        // The billing period before the start (free; it is the one request before the start, so it delays
        // nothing the polls need). A pipeline started elsewhere ran before this step: the period is read
        // after the end only.
        if config.follow.is_none() {
            let until = rt.clock.elapsed() + usage::BEFORE_START;
            usage.before = Some(usage::read(client, rt.clock, until).await);
        }
        let end = start_and_follow(
            config,
            &plan,
            client,
            rt,
            files,
            &mut tracked,
            github,
            details,
        )
        .await;
        conclude(config, client, rt, tracked, end).await
    };
    outcome.plan = Some(plan);
    outcome.fresh = fresh;
    outcome.usage = usage;
    outcome.estimate = estimate;
    outcome
}

/// The estimate before the start, with `max_credits` or in a dry run (not when following a pipeline that
/// started elsewhere); logs it in one line.
async fn estimate_before_start(
    config: &Config,
    client: &Client,
    rt: &Runtime,
    plan: &Plan,
    refreshed: &[fresh::Refreshed],
) -> Option<Estimate> {
    if config.follow.is_some() || (config.max_credits.is_none() && !config.dry_run) {
        return None;
    }
    let e = if config.dry_run && config.api_key.expose().is_empty() {
        Estimate::not_made("a dry run without an API key sends nothing to Dune")
    } else {
        let allowed = estimate::reads_allowed(
            config.requests_per_minute,
            dune_api::rate::DEFAULT_WINDOW,
            &rt.schedule,
            config.dry_run,
        );
        estimate::estimate(plan, client, rt.clock, allowed, refreshed).await
    };
    rt.console.line(&estimate::log_line(&e, config.max_credits));
    Some(e)
}

/// The `max_age` check, when asked for; logs, in one line, why the pipeline runs (or, for a dry run,
/// whether a run would be skipped).
async fn check_fresh(
    config: &Config,
    client: &Client,
    rt: &Runtime,
    plan: &Plan,
) -> Option<FreshCheck> {
    let (console, clock) = (&rt.console, rt.clock);
    let max_age = config.max_age?;
    if config.dry_run && config.api_key.expose().is_empty() {
        console
            .line("Dry run: `max_age` is not checked without an API key (nothing is sent to Dune)");
        return None;
    }
    // The check is worth a minute of retries, not the whole `timeout`: after that the pipeline just runs.
    let deadline = (clock.elapsed() + fresh::CHECK_BUDGET).min(config.timeout);
    let check = fresh::check(plan, max_age, &client.clone().with_deadline(deadline)).await;
    match (config.dry_run, check.is_fresh()) {
        (true, true) => console.line(&format!(
            "Dry run: a run now would be skipped: {}",
            check.describe()
        )),
        (true, false) => console.line(&format!(
            "Dry run: a run now would execute the pipeline: {}",
            check.describe()
        )),
        (false, true) => {}
        (false, false) => console.line(&format!("Running the pipeline: {}", check.describe())),
    }
    Some(check)
}

// The run's parts, each borrowed once: bundling them would only move the list elsewhere.
#[allow(clippy::too_many_arguments)]
async fn start_and_follow(
    config: &Config,
    plan: &Plan,
    client: &Client,
    rt: &Runtime,
    files: &mut RunnerFiles,
    tracked: &mut Tracked,
    github: &mut Publisher,
    details: &mut DetailReads,
) -> Result<Followed, (dune_api::Error, bool)> {
    let console = &rt.console;
    if *rt.stop.borrow() {
        return Ok(Followed::Stopped);
    }
    // A signal while the start is in flight: its answer is worth a short wait (with the id, the stop can
    // cancel what started); without it, say that a pipeline may be running.
    let start = async {
        match &config.follow {
            Some(id) => Ok(id.clone()),
            None => plan::start(config.plan_settings(), plan, client, console).await,
        }
    };
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
            Err(_) => return Ok(Followed::StoppedWhileStarting),
        },
    };
    let id = started.map_err(|e| (e, true))?;
    let title = match config.follow {
        Some(_) => "Following a Dune pipeline",
        None => "Dune pipeline started",
    };
    let what = match plan {
        Plan::Followed { .. } => format!("pipeline execution {id}, started elsewhere"),
        _ => format!("pipeline execution {id} ({})", plan.describe()),
    };
    console.annotate(Level::Notice, Some(title), &what);
    file_warn(console, files.set_output("pipeline_execution_id", &id));
    file_warn(console, files.save_state(crate::post::STATE_PIPELINE, &id));
    github.pipeline_started(&id);
    tracked.pipeline_execution_id = Some(id);
    if !config.wait {
        return Ok(Followed::Detached);
    }

    let following = client.patient();
    let mut follower = Follower {
        client: &following,
        console,
        clock: rt.clock,
        schedule: rt.schedule,
        deadline: config.timeout,
        stop: rt.stop.clone(),
        details,
    };
    Ok(follower.follow(tracked).await)
}

/// Cancels what must be cancelled after the follower stopped, and says how the run ended.
async fn conclude(
    config: &Config,
    client: &Client,
    rt: &Runtime,
    mut tracked: Tracked,
    end: Result<Followed, (dune_api::Error, bool)>,
) -> Outcome {
    let console = &rt.console;
    let now = || rt.clock.elapsed();
    match end {
        Err((dune_api::Error::Interrupted { .. }, true)) => {
            Outcome::stopped_before_start(config, tracked, now())
        }
        Err((e, starting)) => Outcome::api_error(config, tracked, &e, starting, now()),
        Ok(Followed::Api(e)) => Outcome::api_error(config, tracked, &e, false, now()),
        Ok(Followed::TimedOut) => {
            let mut cancels = TimeoutCancels {
                running: tracked.cancellable().len(),
                cancelled: None,
            };
            if config.cancel_on_timeout {
                // Retries are over (the deadline passed); give each request one quick try.
                let client = client.clone().with_deadline(Duration::ZERO);
                let s = stop_pipeline(
                    &client,
                    console,
                    rt.clock,
                    &mut tracked,
                    TIMEOUT_CANCEL_BUDGET,
                )
                .await;
                cancels = TimeoutCancels {
                    running: s.running,
                    cancelled: Some(s.cancelled.len()),
                };
            }
            Outcome::timed_out(config, tracked, cancels, now())
        }
        Ok(Followed::Stopped) => {
            console.line("The workflow was cancelled: cancelling the running node executions");
            let client = client.clone().with_deadline(Duration::ZERO);
            let done = stop_pipeline(
                &client,
                console,
                rt.clock,
                &mut tracked,
                SIGNAL_CANCEL_BUDGET,
            )
            .await
            .cancelled;
            Outcome::stopped_while_following(config, tracked, done.len(), now())
        }
        Ok(Followed::StoppedWhileStarting) => {
            Outcome::stopped_while_starting(config, tracked, now())
        }
        Ok(Followed::OverBudget) => {
            console.line(&format!(
                "The nodes that ended spent {} credits, more than `max_credits`: cancelling what still runs",
                crate::outcome::credits_text(tracked.spent())
            ));
            let client = client.clone().with_deadline(now() + TIMEOUT_CANCEL_BUDGET);
            let s = stop_pipeline(
                &client,
                console,
                rt.clock,
                &mut tracked,
                TIMEOUT_CANCEL_BUDGET,
            )
            .await;
            Outcome::over_budget(config, tracked, s.cancelled.len(), now())
        }
        Ok(Followed::Finished) => Outcome::finished(config, tracked, now()),
        Ok(Followed::Detached) => Outcome::started(config, tracked, now()),
    }
}

/// Writes the `comment_id` and `check_run_id` outputs once GitHub answered (`finish` wrote them empty).
fn write_published(
    console: &Console,
    files: &mut RunnerFiles,
    published: crate::github::publish::Published,
) {
    for (name, value) in published.outputs() {
        if !value.is_empty() {
            file_warn(console, files.set_output(name, &value));
        }
    }
}

/// Writes outputs, annotations and the summary for `outcome`; returns the summary (the PR comment and the
/// check run show it too).
pub(crate) fn finish(console: &Console, files: &mut RunnerFiles, outcome: &Outcome) -> String {
    let nodes = &outcome.tracked.nodes;
    let failed = outcome.failed_nodes();
    let credits = report::Credits::of(nodes);
    for n in nodes
        .iter()
        .filter(|n| n.status == crate::pipeline::node::NodeStatus::Failed)
    {
        let message = n
            .error
            .as_ref()
            .map(|e| e.message.clone())
            .unwrap_or_else(|| "Dune gave no error message".into());
        // A node whose SQL is in the repository: the error goes on its line and column of the file.
        let at = n.error.as_ref().and_then(|e| {
            let file = outcome.sql_files.iter().find(|s| s.node_id == n.id)?;
            Some(Location {
                file: file.file.clone(),
                line: usize::try_from(e.line?).ok().filter(|l| *l > 0)?,
                column: usize::try_from(e.column.unwrap_or(1)).ok()?.max(1),
            })
        });
        console.annotate_at(
            Level::Error,
            at.as_ref(),
            Some(&format!("Node {} ({}) failed", n.id, n.label())),
            &message,
        );
    }
    // `nodes` fits in one environment variable; the file has every node.
    let all_nodes = report::nodes_file(nodes);
    let nodes_file = files
        .write_workspace_file("nodes", &all_nodes)
        .unwrap_or_else(|e| {
            file_warn(console, Err(e));
            None
        });
    if all_nodes.len() > report::NODES_OUTPUT_BUDGET {
        console.line(&format!(
            "The `nodes` output is cut to {} KiB (it goes into environment variables, limited to 128 KiB): {}",
            report::NODES_OUTPUT_BUDGET / 1024,
            nodes_file.as_deref().map_or_else(
                || "every node is in the summary".to_string(),
                |f| format!("every node is in the `nodes_file` output's file, {f}")
            )
        ));
    }
    let outputs = [
        ("status", outcome.status().to_string()),
        (
            "nodes",
            report::nodes_output(nodes, report::NODES_OUTPUT_BUDGET),
        ),
        ("nodes_file", nodes_file.unwrap_or_default()),
        ("failed_nodes", serde_json::Value::from(failed).to_string()),
        (
            "execution_id",
            outcome.root_execution_id().unwrap_or_default(),
        ),
        (
            "results",
            crate::results::output(&outcome.results, crate::results::RESULTS_OUTPUT_BUDGET),
        ),
        ("credits", credits.output()),
        ("url", outcome.urls().join(" ")),
        ("duration_seconds", outcome.wall_time.as_secs().to_string()),
        // Empty until GitHub answered (`write_published`).
        ("comment_id", String::new()),
        ("check_run_id", String::new()),
        ("credits_unknown_nodes", credits.unknown_nodes.to_string()),
        (
            "preview",
            outcome
                .review
                .as_ref()
                .map_or_else(|| "[]".to_string(), report::review::output),
        ),
    ];
    for (name, value) in outputs {
        file_warn(console, files.set_output(name, &value));
    }
    if outcome.tracked.pipeline_execution_id.is_none() {
        file_warn(console, files.set_output("pipeline_execution_id", ""));
    }
    let summary = report::summary(outcome);
    file_warn(console, files.write_summary(&summary));

    // The console's annotation budget keeps a slot of each kind for the step's own annotation.
    console.annotate_held_back();
    match &outcome.problem {
        Some(p) if outcome.exit_code() != exit::OK => {
            console.annotate_final(Level::Error, Some(&p.title), &p.message);
        }
        Some(p) => console.annotate_final(Level::Warning, Some(&p.title), &p.message),
        None if outcome.ending == Ending::Fresh => console.annotate_final(
            Level::Notice,
            Some("Fresh Dune result reused"),
            &format!(
                "Nothing executed, no credits spent: {}",
                outcome
                    .fresh
                    .as_ref()
                    .map(FreshCheck::describe)
                    .unwrap_or_default()
            ),
        ),
        None if outcome.ending == Ending::Started => console.line(&format!(
            "Pipeline started and not followed (`wait: false`): {} nodes; follow it later with the `pipeline_execution_id` output",
            nodes.len()
        )),
        None if outcome.review.is_some() => console.line(&format!(
            "Preview: {} queries previewed, nothing saved on Dune changed",
            outcome.review.as_ref().map_or(0, |r| r.queries.len())
        )),
        None if outcome.ending == Ending::Unchanged => console.annotate(
            Level::Notice,
            Some("No SQL changed"),
            "only_changed: no query's SQL differs from its file, so nothing was run and no credits were spent",
        ),
        None if outcome.ending == Ending::Planned => console.line(&format!(
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
    let url = config::parse_api_url(&url).ok()?;
    config::is_loopback(&url).then(|| Clock::scaled(speed))
}
