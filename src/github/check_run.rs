//! The check run on the commit: created `in_progress` with the pipeline execution id when the pipeline
//! starts, completed with a conclusion that matches the run's status and the job summary (the node table
//! and failed nodes' errors) as its output.

use octocrab::models::CheckRunId;
use octocrab::params::checks::{CheckRunConclusion, CheckRunOutput, CheckRunStatus};

use crate::github::api::{GitHubApi, GitHubError};
use crate::outcome::{Ending, Outcome};
use crate::report;
use crate::report::markdown;

/// GitHub rejects a check run output summary over 65,535 characters.
pub const MAX_SUMMARY_CHARS: usize = 65_535;

/// What a check run is about.
#[derive(Debug, Clone)]
pub struct CheckRunTarget {
    /// The check's name, shown on the commit and the PR.
    pub name: String,
    /// The commit.
    pub head_sha: String,
    /// Where the details are (the workflow run).
    pub details_url: Option<String>,
}

/// The check's name for a pipeline started from a saved query.
pub fn name_for_query(query_id: u64) -> String {
    format!("Dune pipeline · query {query_id}")
}

/// The check's name for a pipeline kept in a file of the repository.
pub fn name_for_file(path: &str) -> String {
    format!("Dune pipeline · {path}")
}

/// The conclusion for how a run ended.
pub fn conclusion(ending: Ending) -> CheckRunConclusion {
    match ending {
        // A reused result is as good as a completed run: the data is fresh.
        Ending::Completed | Ending::Fresh => CheckRunConclusion::Success,
        Ending::Failed
        | Ending::InvalidInput
        | Ending::ApiError
        | Ending::OverBudget
        | Ending::ResultsFailed { .. } => CheckRunConclusion::Failure,
        Ending::TimedOut => CheckRunConclusion::TimedOut,
        Ending::Cancelled => CheckRunConclusion::Cancelled,
        // A dry run executed nothing: neither a success nor a failure of the pipeline. A preview ran the
        // changed SQL without running the pipeline: what it found is for a reviewer to judge.
        Ending::Planned | Ending::Previewed => CheckRunConclusion::Neutral,
        // Nothing changed, so nothing needed to run: the data is as current as the SQL.
        Ending::Unchanged => CheckRunConclusion::Success,
        // Started and not followed (`wait: false`): how it ends is not known here.
        Ending::Started => CheckRunConclusion::Neutral,
    }
}

/// The completed check's output: the job `summary`, cut to GitHub's limit.
fn final_output(outcome: &Outcome, summary: &str) -> CheckRunOutput {
    let nodes = outcome.tracked.nodes.len();
    let title = match &outcome.problem {
        Some(p) => format!("{}: {}", outcome.status(), p.title),
        None if outcome.ending == Ending::Fresh => {
            "fresh: latest result reused, nothing executed".to_string()
        }
        None => format!("{}: {nodes} nodes", outcome.status()),
    };
    CheckRunOutput {
        title,
        summary: markdown::cut(
            summary,
            MAX_SUMMARY_CHARS,
            "_Cut at GitHub's limit of 65,535 characters: the job summary and the `nodes` output have everything._",
        ),
        text: None,
        annotations: Vec::new(),
        images: Vec::new(),
    }
}

/// Creates the check run, `in_progress`, for pipeline execution `pipeline_id` of `subject` (markdown:
/// the query's link, or the pipeline file).
pub async fn start(
    api: &GitHubApi,
    target: &CheckRunTarget,
    subject: &str,
    pipeline_id: &str,
) -> Result<CheckRunId, GitHubError> {
    let output = CheckRunOutput {
        title: format!("Running: pipeline execution {pipeline_id}"),
        summary: format!(
            "Dune pipeline execution {} of {subject} started.",
            report::md_code(pipeline_id)
        ),
        text: None,
        annotations: Vec::new(),
        images: Vec::new(),
    };
    create(
        api,
        target,
        CheckRunStatus::InProgress,
        None,
        output,
        Some(pipeline_id),
    )
    .await
}

/// Completes check run `id` with the outcome and its job summary.
pub async fn complete(
    api: &GitHubApi,
    id: CheckRunId,
    outcome: &Outcome,
    summary: &str,
) -> Result<(), GitHubError> {
    api.octo
        .checks(&api.repo.owner, &api.repo.name)
        .update_check_run(id)
        .status(CheckRunStatus::Completed)
        .conclusion(conclusion(outcome.ending))
        .output(final_output(outcome, summary))
        .send()
        .await
        .map_err(|e| api.error("completing the check run", e))?;
    Ok(())
}

/// Creates a check run that is already complete (the pipeline never started, so none was created).
pub async fn create_completed(
    api: &GitHubApi,
    target: &CheckRunTarget,
    outcome: &Outcome,
    summary: &str,
) -> Result<CheckRunId, GitHubError> {
    let done = Some(conclusion(outcome.ending));
    let output = final_output(outcome, summary);
    create(api, target, CheckRunStatus::Completed, done, output, None).await
}

async fn create(
    api: &GitHubApi,
    target: &CheckRunTarget,
    status: CheckRunStatus,
    conclusion: Option<CheckRunConclusion>,
    output: CheckRunOutput,
    external_id: Option<&str>,
) -> Result<CheckRunId, GitHubError> {
    let checks = api.octo.checks(&api.repo.owner, &api.repo.name);
    let mut create = checks
        .create_check_run(target.name.clone(), target.head_sha.clone())
        .status(status)
        .output(output);
    if let Some(c) = conclusion {
        create = create.conclusion(c);
    }
    if let Some(id) = external_id {
        create = create.external_id(id);
    }
    if let Some(url) = &target.details_url {
        create = create.details_url(url.clone());
    }
    let run = create
        .send()
        .await
        .map_err(|e| api.error("creating the check run", e))?;
    Ok(run.id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conclusions() {
        let s = |st| {
            serde_json::to_value(conclusion(st))
                .expect("json")
                .as_str()
                .map(str::to_string)
        };
        assert_eq!(s(Ending::Completed).as_deref(), Some("success"));
        assert_eq!(s(Ending::Failed).as_deref(), Some("failure"));
        assert_eq!(s(Ending::ApiError).as_deref(), Some("failure"));
        assert_eq!(s(Ending::TimedOut).as_deref(), Some("timed_out"));
        assert_eq!(s(Ending::Cancelled).as_deref(), Some("cancelled"));
    }
}
