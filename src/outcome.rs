//! How a run ended, in the terms the user sees: the [`Ending`] (from which the `status` output, the exit
//! code and the summary's verdict derive), the one problem to report in a single `::error::`, and
//! everything the reports are made from ([`Outcome`]). Which ending a pipeline that ended gets is the
//! run's state machine's decision ([`Tracked::verdict`]); here it is worded.

use std::time::Duration;

use dune_api::models::Tier;

use crate::config::{Config, InputError, Source};
use crate::pipeline::Tracked;
pub use crate::pipeline::ending::{Ending, exit};
use crate::pipeline::estimate::Estimate;
pub use crate::pipeline::estimate::credits_text;
use crate::pipeline::fresh::FreshCheck;
use crate::pipeline::node::NodeStatus;
use crate::pipeline::plan::{Plan, query_url};
use crate::pipeline::sql::SqlNode;
use crate::pipeline::sync::SqlSync;
use crate::pipeline::usage::Usage;
use crate::results::{Fetched, NodeResult};
use crate::runner::console::capitalize;

/// The problem reported as the step's one `::error::`.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    pub title: String,
    pub message: String,
}

impl Problem {
    fn new(title: &str, message: impl Into<String>) -> Problem {
        Problem {
            title: title.into(),
            message: message.into(),
        }
    }
}

/// Everything the reports are made from.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub query_id: Option<u64>,
    pub performance: Option<Tier>,
    pub tracked: Tracked,
    pub ending: Ending,
    pub problem: Option<Problem>,
    /// Clock time from start to the end of the run.
    pub wall_time: Duration,
    /// Why nodes were cancelled by the action, when they were (`timeout`, `workflow cancelled`).
    pub cancel_reason: Option<String>,
    /// What was planned to run, once known (the source and, when it could be read, the definition).
    pub plan: Option<Plan>,
    /// The results of completed query nodes (when `result_rows` is not 0).
    pub results: Vec<NodeResult>,
    /// What the `max_age` check found, when it ran.
    pub fresh: Option<FreshCheck>,
    /// Nodes whose preview was not read within the time allowed after the end.
    pub previews_unread: Vec<i64>,
    /// Completed query nodes left out of the previews by `result_nodes: sinks`.
    pub previews_not_selected: usize,
    /// The account's billing period, read before the start and after the end.
    pub usage: Usage,
    /// The estimate before the start (`max_credits`, or a dry run), when one was made.
    pub estimate: Option<Estimate>,
    /// `preview: true`: the previews of the changed SQL.
    pub review: Option<crate::review::Review>,
    /// What `sync_sql` did, when it ran.
    pub sync: Option<SqlSync>,
    /// The pipeline file's nodes whose SQL is in the repository (their errors are annotated there).
    pub sql_files: Vec<SqlNode>,
}

/// What cancelling achieved, for the message of a run that timed out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeoutCancels {
    /// Node executions still running when the timeout passed.
    pub running: usize,
    /// How many of them the action cancelled; `None` when `cancel_on_timeout` is false.
    pub cancelled: Option<usize>,
}

impl Outcome {
    /// The one constructor: a run that ended as `ending`, before any plan or results are added to it.
    pub(crate) fn new(
        query_id: Option<u64>,
        performance: Option<Tier>,
        tracked: Tracked,
        ending: Ending,
        problem: Option<Problem>,
        wall_time: Duration,
    ) -> Outcome {
        Outcome {
            query_id,
            performance,
            tracked,
            ending,
            problem,
            wall_time,
            cancel_reason: None,
            plan: None,
            results: Vec::new(),
            fresh: None,
            previews_unread: Vec::new(),
            previews_not_selected: 0,
            usage: Usage::default(),
            estimate: None,
            review: None,
            sync: None,
            sql_files: Vec::new(),
        }
    }

    /// A run of `config` that ended as `ending`.
    fn of(
        config: &Config,
        tracked: Tracked,
        ending: Ending,
        problem: Option<Problem>,
        wall_time: Duration,
    ) -> Outcome {
        Outcome {
            sql_files: match &config.source {
                Source::File(f) => f.sql.clone(),
                Source::Query(_) | Source::Execution(_) => Vec::new(),
            },
            ..Outcome::new(
                config.source.query_id(),
                // A pipeline started elsewhere ran on whatever tier it was started with.
                Some(config.performance.clone()).filter(|_| config.follow.is_none()),
                tracked,
                ending,
                problem,
                wall_time,
            )
        }
    }

    /// `preview: true` ran (or, for a dry run, planned) the previews: `previewed`, exit 0; a preview
    /// whose SQL failed makes it `failed` (exit 1), one that could not be run or read an API error (exit 4).
    pub fn previewed(
        config: &Config,
        review: crate::review::Review,
        wall_time: Duration,
    ) -> Outcome {
        let failed: Vec<String> = review
            .failed()
            .map(|q| match &q.found {
                crate::review::Found::SqlFailed(e) => {
                    let at = match (e.line, e.column) {
                        (Some(l), Some(c)) => format!(" (line {l}, column {c})"),
                        (Some(l), None) => format!(" (line {l})"),
                        _ => String::new(),
                    };
                    format!(
                        "query {} in {}{at}: {}",
                        q.changed.query_id, q.changed.file, e.message
                    )
                }
                _ => String::new(),
            })
            .collect();
        let errors: Vec<String> = review
            .errors()
            .map(|q| match &q.found {
                crate::review::Found::Error(e) => format!("query {}: {e}", q.changed.query_id),
                _ => String::new(),
            })
            .collect();
        let (ending, problem) = if review.dry_run {
            (Ending::Planned, None)
        } else if !failed.is_empty() {
            (
                Ending::Failed,
                Some(Problem::new(
                    "The SQL of a preview failed",
                    format!("{}. Nothing saved on Dune was changed.", failed.join("; ")),
                )),
            )
        } else if !errors.is_empty() {
            (
                Ending::ApiError,
                Some(Problem::new(
                    "A preview could not be run",
                    format!("{}. Nothing saved on Dune was changed.", errors.join("; ")),
                )),
            )
        } else {
            (Ending::Previewed, None)
        };
        let mut o = Outcome::of(config, Tracked::default(), ending, problem, wall_time);
        o.review = Some(review);
        o
    }

    /// The `url` output's pages on Dune: the root query's, or, for a pipeline file, each sink query's
    /// (the nodes nothing depends on), in the pipeline's order.
    pub fn urls(&self) -> Vec<String> {
        if let Some(q) = self.query_id {
            return vec![query_url(q)];
        }
        let sinks = crate::results::sinks(&self.tracked.nodes, None);
        let mut seen = std::collections::BTreeSet::new();
        self.tracked
            .nodes
            .iter()
            .filter(|n| sinks.contains(&n.id))
            .filter_map(|n| n.query_id())
            .filter(|q| seen.insert(*q))
            .map(query_url)
            .collect()
    }

    /// The `status` output.
    pub fn status(&self) -> &'static str {
        self.ending.status()
    }

    /// The step's exit code.
    pub fn exit_code(&self) -> u8 {
        self.ending.exit_code()
    }

    /// An input was invalid: exit 2, nothing sent. `query_id` is the raw input's, when it is a number.
    pub fn invalid_input(query_id: Option<u64>, e: &InputError, wall_time: Duration) -> Outcome {
        let problem = Problem::new(
            &format!("Invalid input `{}`", e.input),
            format!("{e}. Nothing was sent to Dune."),
        );
        Outcome::new(
            query_id,
            None,
            Tracked::default(),
            Ending::InvalidInput,
            Some(problem),
            wall_time,
        )
    }

    /// Every sink query's latest result is young enough (`check` is fresh): `fresh`, exit 0, nothing
    /// started, no pipeline execution.
    pub fn fresh(config: &Config, check: FreshCheck, wall_time: Duration) -> Outcome {
        Outcome {
            performance: None,
            fresh: Some(check),
            ..Outcome::of(config, Tracked::default(), Ending::Fresh, None, wall_time)
        }
    }

    /// `wait: false`: the pipeline started and was not followed; `started`, exit 0.
    pub fn started(config: &Config, tracked: Tracked, wall_time: Duration) -> Outcome {
        Outcome::of(config, tracked, Ending::Started, None, wall_time)
    }

    /// A dry run: `planned`, exit 0, nothing started.
    pub fn planned(config: &Config, mut tracked: Tracked, wall_time: Duration) -> Outcome {
        for n in &mut tracked.nodes {
            n.status = NodeStatus::Planned;
        }
        Outcome::of(config, tracked, Ending::Planned, None, wall_time)
    }

    /// Dune's API failed. `starting`: the error came from the start request, whose failure may hide a
    /// pipeline that started anyway.
    pub fn api_error(
        config: &Config,
        tracked: Tracked,
        e: &dune_api::Error,
        starting: bool,
        wall_time: Duration,
    ) -> Outcome {
        let ambiguous = starting
            && !matches!(e.status(), Some(s) if (400..500).contains(&s))
            && !matches!(e.root(), dune_api::Error::Connect { .. });
        let mut message = format!("{e}. {}.", capitalize(crate::pipeline::hint::hint(e)));
        if let (Some(id), Some(404)) = (&config.follow, e.status()) {
            message = format!(
                "{e}. Dune does not know pipeline execution {id}: check the `pipeline_execution_id` input (the id a `wait: false` step wrote, with a key of the same Dune account). Nothing was started or cancelled."
            );
        }
        if ambiguous {
            let check = where_to_check(&config.source);
            message.push_str(&format!(
                " Dune may have started a pipeline anyway (the response was lost), so the action did not retry: check {check} before re-running."
            ));
        }
        let title = match e.status() {
            Some(402) => "Dune plan limit reached",
            Some(403) => "Dune API key not allowed",
            _ => "Dune API error",
        };
        let problem = Problem::new(title, message);
        Outcome::of(config, tracked, Ending::ApiError, Some(problem), wall_time)
    }

    /// `only_changed` and the sync changed no SQL: `unchanged`, exit 0, nothing started.
    pub fn unchanged(config: &Config, sync: SqlSync, wall_time: Duration) -> Outcome {
        Outcome {
            sync: Some(sync),
            ..Outcome::of(
                config,
                Tracked::default(),
                Ending::Unchanged,
                None,
                wall_time,
            )
        }
    }

    /// `sync_sql` stopped on an error: nothing runs (exit 4); the message says which queries were
    /// updated and which were not, and for a refused update that the key needs the write scope.
    pub fn sync_failed(config: &Config, sync: SqlSync, wall_time: Duration) -> Outcome {
        let (updated, not) = sync.updated_and_not();
        let list = |qs: &[&crate::pipeline::sync::Synced]| {
            if qs.is_empty() {
                "none".to_string()
            } else {
                let ids: Vec<String> = qs.iter().map(|q| q.node.query_id.to_string()).collect();
                format!("queries {}", ids.join(", "))
            }
        };
        let state = format!(
            "SQL updated: {}; not updated: {}. Nothing was run.",
            list(&updated),
            list(&not)
        );
        let (title, message) = match &sync.failure {
            Some(f) if f.scope_refused() => (
                "Dune API key cannot update queries",
                format!(
                    "{}. Updating a query's SQL (`sync_sql`) needs a key with the Read/Write scope, created by the query's owner: create one in Dune's settings (dune.com → Settings → API) and put it in the `api_key` secret. {state}",
                    f.error
                ),
            ),
            Some(f) => (
                "Dune API error",
                format!(
                    "{} (query {}). {}. {state}",
                    f.error,
                    f.query_id,
                    capitalize(crate::pipeline::hint::hint(&f.error))
                ),
            ),
            None => ("Dune API error", state),
        };
        let problem = Problem::new(title, message);
        Outcome {
            sync: Some(sync),
            ..Outcome::of(
                config,
                Tracked::default(),
                Ending::ApiError,
                Some(problem),
                wall_time,
            )
        }
    }

    /// The workflow was cancelled (a signal): exit 1, status `cancelled`, one "Workflow cancelled" error.
    pub fn workflow_cancelled(
        config: &Config,
        tracked: Tracked,
        message: String,
        cancel_reason: Option<String>,
        wall_time: Duration,
    ) -> Outcome {
        let problem = Problem::new("Workflow cancelled", message);
        Outcome {
            cancel_reason,
            ..Outcome::of(config, tracked, Ending::Cancelled, Some(problem), wall_time)
        }
    }

    /// Stopped while waiting to retry the start after a 429 or a refused connection: nothing started.
    pub fn stopped_before_start(config: &Config, tracked: Tracked, wall_time: Duration) -> Outcome {
        Outcome::workflow_cancelled(
            config,
            tracked,
            "The step was stopped before the pipeline started; nothing runs on Dune.".into(),
            None,
            wall_time,
        )
    }

    /// Stopped while following: the action cancelled `cancelled` node executions.
    pub fn stopped_while_following(
        config: &Config,
        tracked: Tracked,
        cancelled: usize,
        wall_time: Duration,
    ) -> Outcome {
        Outcome::workflow_cancelled(
            config,
            tracked,
            format!(
                "The step was stopped before the pipeline ended; the action cancelled {cancelled} node executions on Dune."
            ),
            Some("workflow cancelled".into()),
            wall_time,
        )
    }

    /// Stopped while the start request was in flight, and its answer did not come in time.
    pub fn stopped_while_starting(
        config: &Config,
        tracked: Tracked,
        wall_time: Duration,
    ) -> Outcome {
        let check = where_to_check(&config.source);
        Outcome::workflow_cancelled(
            config,
            tracked,
            format!(
                "The step was stopped while Dune was starting the pipeline, and Dune's answer did not arrive in time: a pipeline may be running that the action could not cancel. Check {check}."
            ),
            Some("workflow cancelled".into()),
            wall_time,
        )
    }

    /// The `timeout` passed; `cancels` says what the action did about the executions still running.
    pub fn timed_out(
        config: &Config,
        tracked: Tracked,
        cancels: TimeoutCancels,
        wall_time: Duration,
    ) -> Outcome {
        let timeout = humantime::format_duration(config.timeout);
        let mut reason = None;
        let message = match cancels.cancelled {
            Some(done) if cancels.running > 0 => {
                reason = Some("timeout".to_string());
                format!(
                    "The pipeline did not finish within {timeout}; the action cancelled {done} of {} running node executions. Raise `timeout`, or look at the slow nodes in the summary.",
                    cancels.running
                )
            }
            None if cancels.running > 0 => format!(
                "The pipeline did not finish within {timeout}; {} node executions are still running on Dune (`cancel_on_timeout` is false). Raise `timeout` if the pipeline needs longer.",
                cancels.running
            ),
            _ => format!(
                "The pipeline did not finish within {timeout}. Raise `timeout` if the pipeline needs longer."
            ),
        };
        let problem = Problem::new("Dune pipeline timed out", message);
        Outcome {
            cancel_reason: reason,
            ..Outcome::of(config, tracked, Ending::TimedOut, Some(problem), wall_time)
        }
    }

    /// The known spend passed `max_credits` while the pipeline ran: the action cancelled `cancelled` node
    /// executions (what still ran; the nodes waiting behind them never start).
    pub fn over_budget(
        config: &Config,
        tracked: Tracked,
        cancelled: usize,
        wall_time: Duration,
    ) -> Outcome {
        let problem = budget_problem(&tracked, Some(cancelled));
        Outcome {
            cancel_reason: Some("max_credits".into()),
            ..Outcome::of(
                config,
                tracked,
                Ending::OverBudget,
                Some(problem),
                wall_time,
            )
        }
    }

    /// The estimate before the start already passes `max_credits`: nothing was started.
    pub fn over_estimate(
        config: &Config,
        tracked: Tracked,
        estimate: Estimate,
        wall_time: Duration,
    ) -> Outcome {
        let max = config.max_credits.unwrap_or_default();
        let mut costly: Vec<&crate::pipeline::estimate::NodeCost> = estimate
            .nodes
            .iter()
            .filter(|n| n.cost.as_ref().is_ok_and(|c| *c > 0.0))
            .collect();
        costly.sort_by(|a, b| {
            let c = |n: &crate::pipeline::estimate::NodeCost| n.cost.clone().unwrap_or_default();
            c(b).total_cmp(&c(a)).then(a.id.cmp(&b.id))
        });
        let named: Vec<String> = costly
            .iter()
            .take(5)
            .map(|n| {
                format!(
                    "node {} ({}) {}",
                    n.id,
                    n.label,
                    credits_text(n.cost.clone().unwrap_or_default())
                )
            })
            .collect();
        let unknown = estimate.nodes.len() - estimate.known();
        let rest = if unknown == 0 {
            String::new()
        } else {
            format!(
                ", and the cost of {unknown} more node{} is not known",
                if unknown == 1 { "" } else { "s" }
            )
        };
        let problem = Problem::new(
            "Dune pipeline over its credit budget before the start",
            format!(
                "Nothing was started: the estimate from each node's last known cost is {} credits for {} of {} nodes{rest}, more than `max_credits` ({}). Costliest: {}. Raise `max_credits`, or make the costly nodes cheaper.",
                credits_text(estimate.total()),
                estimate.known(),
                estimate.nodes.len(),
                credits_text(max),
                named.join(", ")
            ),
        );
        let mut tracked = tracked;
        for n in &mut tracked.nodes {
            n.status = NodeStatus::Planned;
        }
        Outcome {
            estimate: Some(estimate),
            ..Outcome::of(
                config,
                tracked,
                Ending::OverBudget,
                Some(problem),
                wall_time,
            )
        }
    }

    /// After the reads that came in once the pipeline ended: a node whose error, read only then, says
    /// Dune refused it for a configured limit makes the run an API error (exit 4); else a run whose known
    /// spend passed `max_credits` ends over budget (it had nothing left to cancel).
    pub fn with_late_reads(mut self) -> Outcome {
        let decided = matches!(
            self.ending,
            Ending::Completed | Ending::Failed | Ending::Cancelled
        );
        if decided && self.tracked.refused_by_limit().is_some() {
            self.ending = Ending::ApiError;
            self.problem = finished_problem(&self.tracked, Ending::ApiError);
        } else if decided && self.tracked.over_budget() {
            self.ending = Ending::OverBudget;
            self.problem = Some(budget_problem(&self.tracked, None));
        }
        self
    }

    /// The pipeline ended, as the state decides ([`Tracked::verdict`]): completed when every node did
    /// (and the top-level status is not a failure), else failed or cancelled, with the first failed node
    /// named.
    pub fn finished(config: &Config, tracked: Tracked, wall_time: Duration) -> Outcome {
        let ending = tracked.verdict();
        let problem = finished_problem(&tracked, ending);
        Outcome::of(config, tracked, ending, problem, wall_time)
    }

    /// Adds the results fetched after the run. A failed download makes a completed run end with exit 4;
    /// a stop during the downloads makes it cancelled (exit 1); a run that already failed or timed out
    /// keeps its own ending. Previews left out (the time bound, `result_nodes`) change nothing but the
    /// summary's note.
    pub fn with_results(mut self, fetched: Fetched, stopped: bool) -> Outcome {
        self.results = fetched.results;
        self.previews_unread = fetched.unread;
        self.previews_not_selected = fetched.not_selected;
        if self.exit_code() != exit::OK {
            return self;
        }
        let failed: Vec<&NodeResult> = self.results.iter().filter(|r| r.error.is_some()).collect();
        let what = if self.ending == Ending::Fresh {
            "A fresh enough result was reused"
        } else {
            "The pipeline completed"
        };
        if stopped {
            self.ending = Ending::Cancelled;
            self.problem = Some(Problem::new(
                "Workflow cancelled",
                format!(
                    "{what}, but the step was stopped while the results were being downloaded; the files of the nodes that finished were kept."
                ),
            ));
        } else if let Some(first) = failed.first() {
            let message = format!(
                "{what}, but the results of {} of {} query nodes could not be read; first: node {}: {} The other nodes' files and the outputs were kept.",
                failed.len(),
                self.results.len(),
                first.node_id,
                first.error.as_deref().unwrap_or_default()
            );
            self.ending = Ending::ResultsFailed {
                fresh: self.ending == Ending::Fresh,
            };
            self.problem = Some(Problem::new("Dune results download failed", message));
        }
        self
    }

    /// The root query's node execution id (the last query node whose query id is the root's; for a
    /// pipeline file, the one query node that no other node depends on).
    pub fn root_execution_id(&self) -> Option<String> {
        if let Some(check) = self.fresh.as_ref().filter(|c| c.is_fresh()) {
            // The same rule over the reused results: the root query's, else the only sink's.
            let reused = check.reused();
            let root = match self.query_id {
                Some(q) => reused.iter().find(|r| r.query_id == q),
                None if reused.len() == 1 => reused.first(),
                None => None,
            };
            return root.map(|r| r.execution_id.clone());
        }
        let nodes = &self.tracked.nodes;
        let root = match self.query_id {
            Some(q) => nodes.iter().rev().find(|n| n.query_id() == Some(q as i64)),
            // A pipeline file has no root query: its root is the one query node nothing depends on.
            None => {
                let depended_on: Vec<i64> = nodes
                    .iter()
                    .flat_map(|n| n.dependencies.iter().flatten().copied())
                    .collect();
                let mut sinks = nodes
                    .iter()
                    .filter(|n| n.dependencies.is_some() && !depended_on.contains(&n.id));
                match (sinks.next(), sinks.next()) {
                    (Some(only), None) if only.query_id().is_some() => Some(only),
                    _ => None,
                }
            }
        };
        root.and_then(|n| n.execution_id.clone())
    }

    /// Ids of nodes that failed or were cancelled.
    pub fn failed_nodes(&self) -> Vec<i64> {
        self.tracked
            .nodes
            .iter()
            .filter(|n| n.status.is_bad())
            .map(|n| n.id)
            .collect()
    }
}

/// The problem of a run whose known spend passed `max_credits`: the nodes that spent it, and what was
/// cancelled (`None`: the pipeline had already ended).
fn budget_problem(tracked: &Tracked, cancelled: Option<usize>) -> Problem {
    let max = tracked.max_credits.unwrap_or_default();
    let spenders: Vec<String> = tracked
        .spenders()
        .iter()
        .map(|(id, c)| {
            let label = tracked
                .nodes
                .iter()
                .find(|n| n.id == *id)
                .map(|n| n.label())
                .unwrap_or_default();
            format!("node {id} ({label}) {}", credits_text(*c))
        })
        .collect();
    let then = match cancelled {
        Some(n) => format!(
            "; the action cancelled {n} node execution{} still running, and the nodes waiting behind them did not start",
            if n == 1 { "" } else { "s" }
        ),
        None => "; the pipeline had already ended".into(),
    };
    Problem::new(
        "Dune pipeline over its credit budget",
        format!(
            "The nodes that ended spent {} credits, more than `max_credits` ({}){then}. Spent by: {}. Raise `max_credits`, or make the costly nodes cheaper.",
            credits_text(tracked.spent()),
            credits_text(max),
            spenders.join(", ")
        ),
    )
}

/// The problem to report for a pipeline that ended as `ending` ([`Tracked::verdict`]); none when it
/// completed.
fn finished_problem(tracked: &Tracked, ending: Ending) -> Option<Problem> {
    let with = |status| tracked.nodes.iter().filter(move |n| n.status == status);
    let failed: Vec<_> = with(NodeStatus::Failed).collect();
    let cancelled: Vec<_> = with(NodeStatus::Cancelled).collect();
    let skipped = with(NodeStatus::Skipped).count();
    if ending == Ending::Completed {
        return None;
    }
    if let Some((node, limit)) = tracked.refused_by_limit() {
        let said = node.error.as_ref().map_or("", |e| e.message.as_str());
        return Some(Problem::new(
            "Dune limit reached",
            format!(
                "Dune refused node {} ({}): {}. {}.",
                node.id,
                node.label(),
                said.lines().next().unwrap_or("").trim_end_matches('.'),
                capitalize(limit.advice())
            ),
        ));
    }
    if let Some(first) = failed.first() {
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
            m.push_str(&format!(" Fix the query at {} and re-run.", query_url(q)));
        }
        return Some(Problem::new("Dune pipeline failed", m));
    }
    if ending == Ending::Cancelled {
        let ids: Vec<String> = cancelled.iter().map(|n| n.id.to_string()).collect();
        let who = if ids.is_empty() {
            "The pipeline was".to_string()
        } else {
            format!("Node(s) {} were", ids.join(", "))
        };
        return Some(Problem::new(
            "Dune pipeline cancelled",
            format!(
                "{who} cancelled on Dune (by a user, a credit limit, or Dune's execution time limit). Re-run the workflow to try again."
            ),
        ));
    }
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
    Some(Problem::new("Dune pipeline did not complete", message))
}

/// Where a user can see whether a pipeline started that the action could not name.
pub fn where_to_check(source: &Source) -> String {
    match source {
        Source::Query(q) => format!("the query's recent executions at {}", query_url(q)),
        Source::File(_) | Source::Execution(_) => {
            "the recent executions of the pipeline's queries on dune.com".into()
        }
    }
}
