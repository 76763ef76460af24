//! The GitHub side channel: the sticky PR comment (`pr_comment`) and the check run (`check_run`). It never
//! changes the step's result: any failure (no token, missing permission, network, rate limit, a dead API)
//! becomes one `::warning::` per feature that names the permission to add, and every call is bounded in
//! time. It runs after the outputs and the summary are written, so it cannot hide them either.

use std::sync::Arc;
use std::time::Duration;

use octocrab::models::CheckRunId;
use tokio::task::JoinHandle;

use crate::config::{Config, Source};
use crate::github::api::{GitHubApi, GitHubError};
use crate::github::check_run::{self, CheckRunTarget};
use crate::github::identity;
use crate::github::pr_comment::{self, Links};
use crate::outcome::Outcome;
use crate::runner::console::{Console, Level};
use crate::runner::context::Context;
use crate::runner::env::Env;
use dune_api::clock::Clock;

/// How long one GitHub operation (create the check, update the comment, complete the check) may take,
/// in clock time.
pub const OPERATION_BUDGET: Duration = Duration::from_secs(20);

/// The budget when the workflow is being cancelled (the step exits at most 7 s after the first signal,
/// `app::SIGNAL_EXIT_BUDGET`, and cancelling the Dune executions comes first). At least
/// [`MIN_REAL_TIMEOUT`] of real time.
pub const CANCELLED_BUDGET: Duration = Duration::from_secs(2);

/// GitHub's time limits never go below this in real time, even on a compressed clock (tests): a busy
/// machine must not turn a healthy fake GitHub into a timeout.
pub const MIN_REAL_TIMEOUT: Duration = Duration::from_secs(2);

/// A clock-time limit in real time, at least [`MIN_REAL_TIMEOUT`].
fn real_limit(clock: &Clock, d: Duration) -> Duration {
    clock.to_real(d).max(MIN_REAL_TIMEOUT)
}

const COMMENT_PERMISSION: &str = "`pull-requests: write`";
const CHECK_PERMISSION: &str = "`checks: write`";

enum Check {
    /// Not wanted, or not possible (already warned).
    Off,
    /// Wanted; the pipeline has not started yet.
    NotStarted(CheckRunTarget),
    /// Being created (or created) for the started pipeline.
    Creating(JoinHandle<Result<CheckRunId, GitHubError>>),
}

/// Reports the run on GitHub, when asked to.
pub struct Publisher {
    console: Console,
    clock: Clock,
    api: Option<Arc<GitHubApi>>,
    /// What the pipeline is, in markdown (the root query's link, or the pipeline file).
    subject: String,
    /// The marker key of the PR comment (`pr_comment::job_key`).
    key: String,
    /// Where GraphQL is (to learn the token's identity when `GET /user` is refused).
    graphql_url: String,
    links: Links,
    /// The PR to comment on, when `pr_comment` is on and the event has one.
    pr: Option<u64>,
    check: Check,
}

/// The check run's name: `check_name`, else the default for the query or file, with ` · <comment_tag>`
/// when a tag is set.
fn check_name(config: &Config) -> String {
    if let Some(name) = &config.check_name {
        return name.clone();
    }
    let name = match &config.source {
        Source::File(file) => check_run::name_for_file(&file.path),
        Source::Query(q) => check_run::name_for_query(*q),
        Source::Execution(id) => format!("Dune pipeline · execution {id}"),
    };
    match &config.comment_tag {
        Some(tag) => format!("{name} · {tag}"),
        None => name,
    }
}

/// The pipeline in markdown: the root query's link, or the pipeline file.
fn subject(config: &Config) -> String {
    match &config.source {
        Source::File(file) => format!("pipeline file {}", crate::report::md_code(&file.path)),
        Source::Query(q) => format!("query {}", crate::report::query_link(*q)),
        Source::Execution(id) => format!("pipeline execution {}", crate::report::md_code(id)),
    }
}

impl Publisher {
    /// Sets up what `config` asks for. Problems found now (no token, no repository, no PR) are reported
    /// at once, as a warning or, for an event without a PR, a notice.
    pub fn new(env: &Env, config: &Config, console: &Console, clock: Clock) -> Publisher {
        let mut p = Publisher {
            console: console.clone(),
            clock,
            api: None,
            subject: subject(config),
            key: pr_comment::job_key(
                match &config.source {
                    Source::File(file) => pr_comment::file_key(&file.path),
                    Source::Query(q) => pr_comment::query_key(*q),
                    Source::Execution(id) => format!("execution:{id}"),
                },
                config.comment_tag.as_deref(),
                config.query_parameters.as_ref(),
            ),
            graphql_url: String::new(),
            links: Links::default(),
            pr: None,
            check: Check::Off,
        };
        if !config.pr_comment && !config.check_run {
            return p;
        }
        let ctx = Context::from_env(env);
        p.graphql_url = env
            .get("GITHUB_GRAPHQL_URL")
            .filter(|u| !u.trim().is_empty())
            .unwrap_or_else(|| identity::graphql_url(&ctx.api_url));
        p.links = Links {
            run_url: ctx.run_url(),
            sha: ctx.head_sha().map(str::to_string),
        };
        let wanted = wanted_permissions(config.pr_comment, config.check_run);
        let Some(token) = &config.github_token else {
            p.warn(
                "GitHub reporting skipped",
                &format!(
                    "`github_token` is empty, so no pull-request comment or check run is written. Pass `github_token: ${{{{ github.token }}}}` (the default) and give the job {wanted}."
                ),
            );
            return p;
        };
        let Some(repo) = ctx.repo.clone() else {
            p.warn(
                "GitHub reporting skipped",
                "GITHUB_REPOSITORY is not set (not running in GitHub Actions?), so no pull-request comment or check run is written.",
            );
            return p;
        };
        let proxies = dune_api::proxy::Proxies::from_lookup(|k| env.get(k));
        if env.get("RUNNER_DEBUG").as_deref() == Some("1") {
            p.console.line(&format!(
                "::debug::{}",
                crate::runner::console::escape_data(&format!(
                    "GitHub API {}: {}",
                    ctx.api_url,
                    proxies.describe(&ctx.api_url)
                ))
            ));
        }
        match GitHubApi::new(
            &ctx.api_url,
            token,
            repo,
            |d| real_limit(&clock, d),
            &proxies,
            &config.trust,
        ) {
            Ok(api) => p.api = Some(Arc::new(api)),
            Err(e) => {
                p.warn("GitHub reporting skipped", &format!("{e}."));
                return p;
            }
        }
        if config.pr_comment {
            match &ctx.pull_request {
                Some(pr) => p.pr = Some(pr.number),
                None => {
                    let why = match (&ctx.event_problem, ctx.event_name.as_deref()) {
                        (Some(problem), _) => format!("the pull request is unknown: {problem}"),
                        (None, Some(event)) => {
                            format!("this run's event (`{event}`) has no pull request")
                        }
                        (None, None) => "GITHUB_EVENT_NAME is not set".to_string(),
                    };
                    p.console.annotate(
                        Level::Notice,
                        Some("No pull-request comment"),
                        &format!("`pr_comment` is on, but {why}; comments are written on `pull_request` and `pull_request_target` events."),
                    );
                }
            }
        }
        if config.check_run {
            match ctx.head_sha() {
                Some(sha) => {
                    p.check = Check::NotStarted(CheckRunTarget {
                        name: check_name(config),
                        head_sha: sha.to_string(),
                        details_url: ctx.run_url(),
                    })
                }
                None => p.warn(
                    "No check run",
                    "`check_run` is on, but the commit is unknown (GITHUB_SHA is not set and the event names no pull request head).",
                ),
            }
        }
        p
    }

    fn warn(&self, title: &str, message: &str) {
        self.console.annotate(Level::Warning, Some(title), message);
    }

    /// The pipeline started: creates the check run in the background (following the pipeline does not
    /// wait for GitHub).
    pub fn pipeline_started(&mut self, pipeline_id: &str) {
        let (Some(api), Check::NotStarted(target)) = (&self.api, &self.check) else {
            return;
        };
        let (api, target) = (Arc::clone(api), target.clone());
        let (subject, id) = (self.subject.clone(), pipeline_id.to_string());
        let until = Until::after(&self.clock, OPERATION_BUDGET);
        self.check = Check::Creating(tokio::spawn(async move {
            until
                .bound("creating the check run", async {
                    check_run::start(&api, &target, &subject, &id).await
                })
                .await
        }));
    }

    /// The run is over: completes the check run and writes the PR comment (side by side, within one time
    /// budget), both showing the job `summary`, warning about whatever fails. `cancelling` shortens the
    /// budget.
    pub async fn finish(
        &mut self,
        outcome: &Outcome,
        summary: &str,
        cancelling: bool,
    ) -> Published {
        let mut published = Published::default();
        let Some(api) = self.api.clone() else {
            return published;
        };
        let (check_id, comment_id) = (&mut published.check_run_id, &mut published.comment_id);
        let budget = if cancelling {
            CANCELLED_BUDGET
        } else {
            OPERATION_BUDGET
        };
        let until = Until::after(&self.clock, budget);
        let check = std::mem::replace(&mut self.check, Check::Off);
        let check = async {
            let result = match check {
                Check::Off => return,
                Check::NotStarted(target) => until
                    .bound("creating the check run", async {
                        check_run::create_completed(&api, &target, outcome, summary).await
                    })
                    .await
                    .map(|id| *check_id = Some(id.into_inner())),
                Check::Creating(mut handle) => {
                    let waited = tokio::time::timeout_at(until.at, &mut handle).await;
                    handle.abort();
                    let created = match waited {
                        Ok(Ok(created)) => created,
                        Ok(Err(join)) => Err(GitHubError::Transport {
                            action: "creating the check run",
                            detail: join.to_string(),
                        }),
                        Err(_) => Err(GitHubError::TimedOut {
                            action: "creating the check run",
                            waited: budget,
                        }),
                    };
                    match created {
                        Ok(id) => {
                            *check_id = Some(id.into_inner());
                            until
                                .bound("completing the check run", async {
                                    check_run::complete(&api, id, outcome, summary).await
                                })
                                .await
                        }
                        Err(e) => Err(e),
                    }
                }
            };
            if let Err(e) = result {
                self.warn("Check run not written", &advice(&e, CHECK_PERMISSION));
            }
        };
        let comment = async {
            let Some(pr) = self.pr else { return };
            let body = pr_comment::render(&self.key, outcome, summary, &self.links);
            let result = until
                .bound("writing the pull request comment", async {
                    let me = identity::whoami(&api, &self.graphql_url).await?;
                    if me.is_none() {
                        self.console.line(
                            "GitHub did not say which account the token writes as: adding a new pull-request comment rather than editing one that may be someone else's",
                        );
                    }
                    pr_comment::upsert(&api, pr, &self.key, &body, me.as_ref()).await
                })
                .await;
            match result {
                Ok(pr_comment::Upserted::Created(id)) => {
                    *comment_id = Some(id);
                    self.console.line(&format!(
                        "Added the pipeline's comment to pull request #{pr}"
                    ))
                }
                Ok(pr_comment::Upserted::Updated(id)) => {
                    *comment_id = Some(id);
                    self.console.line(&format!(
                        "Updated the pipeline's comment on pull request #{pr}"
                    ))
                }
                Err(e) => self.warn(
                    "Pull-request comment not written",
                    &advice(&e, COMMENT_PERMISSION),
                ),
            }
        };
        tokio::join!(check, comment);
        published
    }
}

/// What [`Publisher::finish`] wrote: the ids of the `comment_id` and `check_run_id` outputs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Published {
    pub comment_id: Option<u64>,
    pub check_run_id: Option<u64>,
}

impl Published {
    /// The two outputs (empty when not written).
    pub fn outputs(&self) -> [(&'static str, String); 2] {
        let s = |v: Option<u64>| v.map(|v| v.to_string()).unwrap_or_default();
        [
            ("comment_id", s(self.comment_id)),
            ("check_run_id", s(self.check_run_id)),
        ]
    }
}

/// A deadline for GitHub calls, in real time, and the clock-time budget it stands for (for messages).
#[derive(Clone, Copy)]
struct Until {
    at: tokio::time::Instant,
    budget: Duration,
}

impl Until {
    fn after(clock: &Clock, budget: Duration) -> Until {
        Until {
            at: tokio::time::Instant::now() + real_limit(clock, budget),
            budget,
        }
    }

    /// Runs `op` until the deadline.
    async fn bound<T>(
        self,
        action: &'static str,
        op: impl Future<Output = Result<T, GitHubError>>,
    ) -> Result<T, GitHubError> {
        tokio::time::timeout_at(self.at, op)
            .await
            .unwrap_or(Err(GitHubError::TimedOut {
                action,
                waited: self.budget,
            }))
    }
}

fn wanted_permissions(comment: bool, check: bool) -> String {
    match (comment, check) {
        (true, true) => format!("{COMMENT_PERMISSION} and {CHECK_PERMISSION}"),
        (true, false) => COMMENT_PERMISSION.to_string(),
        _ => CHECK_PERMISSION.to_string(),
    }
}

/// The warning's text: what failed, that the pipeline's result stands, and the permission to add.
fn advice(e: &GitHubError, permission: &str) -> String {
    let fix = if e.is_permission() {
        format!(
            "The token was refused or lacks a permission: add {permission} to the job's `permissions:` (on pull requests from forks the token is read-only; use `pull_request_target` with care, or skip this feature there)."
        )
    } else {
        format!(
            "The feature needs {permission} in the job's `permissions:`; this failure looks temporary (re-run the job to retry)."
        )
    };
    format!("{e}. The Dune pipeline's result and outputs are unaffected. {fix}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advice_names_the_permission() {
        let forbidden = GitHubError::Api {
            action: "creating the check run",
            status: 403,
            message: "Resource not accessible by integration".into(),
        };
        let a = advice(&forbidden, CHECK_PERMISSION);
        assert!(
            a.contains("`checks: write`") && a.contains("lacks a permission"),
            "{a}"
        );
        let limited = GitHubError::RateLimited {
            action: "adding the pull request comment",
            status: 403,
            message: "API rate limit exceeded".into(),
        };
        let a = advice(&limited, COMMENT_PERMISSION);
        assert!(
            a.contains("`pull-requests: write`") && a.contains("temporary"),
            "{a}"
        );
    }
}
