//! The sticky pull-request comment: one comment per pipeline on the PR, found again by a hidden marker and
//! updated in place on every re-run. Its body is the job summary (status, Dune query link, node table,
//! failed nodes' errors) under a line with the workflow run's link, cut to GitHub's 65,536 characters.

use octocrab::models::issues::Comment;
use serde_json::json;

use crate::github::api::{GitHubApi, GitHubError};
use crate::outcome::Outcome;
use crate::report;
use crate::report::markdown;

/// GitHub rejects comment bodies over 65,536 characters.
pub const MAX_BODY_CHARS: usize = 65_536;

/// At most this many pages of 100 comments are searched for the marker.
const MAX_PAGES: u32 = 30;

/// The marker key of a pipeline started from a saved query. Other kinds of pipeline (a pipeline file) get
/// their own key (`pipeline:PATH`), so each keeps its own comment.
pub fn query_key(query_id: u64) -> String {
    format!("query:{query_id}")
}

/// The marker key of a pipeline kept in a file of the repository.
pub fn file_key(path: &str) -> String {
    format!("pipeline:{path}")
}

/// The hidden marker that identifies this pipeline's comment (an HTML comment: invisible when rendered).
pub fn marker(key: &str) -> String {
    // Percent-encoding keeps distinct keys distinct and the comment unclosable (`--`, `>`).
    let mut safe = String::with_capacity(key.len());
    for c in key.chars() {
        match c {
            '%' | '-' | '<' | '>' | '!' => safe.push_str(&format!("%{:02X}", c as u32)),
            c if c.is_control() || c.is_whitespace() => {
                safe.push_str(&format!("%u{:04X}", c as u32))
            }
            c => safe.push(c),
        }
    }
    format!("<!-- dune-pipeline-action {safe} -->")
}

/// Links shown above the report.
#[derive(Debug, Clone, Default)]
pub struct Links {
    /// The workflow run.
    pub run_url: Option<String>,
    /// The commit the run is for.
    pub sha: Option<String>,
}

/// The comment body for `outcome`, whose job summary is `summary`.
pub fn render(key: &str, outcome: &Outcome, summary: &str, links: &Links) -> String {
    let mut head = marker(key);
    head.push('\n');
    let mut facts = Vec::new();
    if let Some(q) = outcome.query_id {
        facts.push(format!("Dune query [{q}](https://dune.com/queries/{q})"));
    }
    if let Some(url) = &links.run_url {
        facts.push(format!("[workflow run]({url})"));
    }
    if let Some(sha) = &links.sha {
        facts.push(format!(
            "commit {}",
            report::md_code(&sha.chars().take(12).collect::<String>())
        ));
    }
    if !facts.is_empty() {
        head.push_str(&format!("<sub>{}</sub>\n\n", facts.join(" · ")));
    }
    let note = match &links.run_url {
        Some(url) => format!(
            "_The comment is cut at GitHub's limit of 65,536 characters: the [workflow run]({url})'s summary and the `nodes` output have everything._"
        ),
        None => "_The comment is cut at GitHub's limit of 65,536 characters: the job summary and the `nodes` output have everything._".to_string(),
    };
    let room = MAX_BODY_CHARS - head.chars().count();
    head + &markdown::cut(summary, room, &note)
}

/// What [`upsert`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Upserted {
    Created(u64),
    Updated(u64),
}

/// Updates the PR's comment that carries `key`'s marker, or adds one.
pub async fn upsert(
    api: &GitHubApi,
    pr: u64,
    key: &str,
    body: &str,
) -> Result<Upserted, GitHubError> {
    let marker = marker(key);
    let (owner, name) = (&api.repo.owner, &api.repo.name);
    let issues = api.octo.issues(owner, name);
    let listing = "listing the pull request's comments";
    let mut page = issues
        .list_comments(pr)
        .per_page(100)
        .send()
        .await
        .map_err(|e| api.error(listing, e))?;
    let mut found = None;
    for _ in 0..MAX_PAGES {
        found = page
            .items
            .iter()
            .find(|c: &&Comment| c.body.as_deref().is_some_and(|b| b.starts_with(&marker)))
            .map(|c| c.id);
        if found.is_some() {
            break;
        }
        match api
            .octo
            .get_page::<Comment>(&page.next)
            .await
            .map_err(|e| api.error(listing, e))?
        {
            Some(next) => page = next,
            None => break,
        }
    }
    match found {
        Some(id) => {
            let route = format!("/repos/{owner}/{name}/issues/comments/{id}");
            let c: Comment = api
                .octo
                .patch(route, Some(&json!({ "body": body })))
                .await
                .map_err(|e| api.error("updating the pull request comment", e))?;
            Ok(Upserted::Updated(c.id.into_inner()))
        }
        None => {
            let c = issues
                .create_comment(pr, body)
                .await
                .map_err(|e| api.error("adding the pull request comment", e))?;
            Ok(Upserted::Created(c.id.into_inner()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outcome::Ending;
    use crate::pipeline::Tracked;

    fn outcome(error_len: usize) -> Outcome {
        use crate::pipeline::node::{Node, NodeKind, NodeStatus};
        let mut tracked = Tracked::default();
        for i in 0..40 {
            let mut n = Node::new(i, NodeKind::Query { query_id: Some(i) });
            n.status = NodeStatus::Failed;
            let mut error = dune_api::models::DuneError::default();
            error.message = "e".repeat(error_len);
            n.error = Some(error);
            tracked.nodes.push(n);
        }
        Outcome {
            query_id: Some(3493826),
            performance: None,
            tracked,
            ending: Ending::Failed,
            problem: None,
            wall_time: std::time::Duration::from_secs(3),
            cancel_reason: None,
            plan: None,
            results: Vec::new(),
            fresh: None,
            previews_unread: Vec::new(),
            previews_not_selected: 0,
            usage: Default::default(),
            estimate: None,
            review: None,
            sync: None,
            sql_files: Vec::new(),
        }
    }

    #[test]
    fn marker_is_hidden_and_cannot_be_closed_early() {
        assert_eq!(marker("query:42"), "<!-- dune-pipeline-action query:42 -->");
        assert_eq!(
            marker("pipeline:a-->b"),
            "<!-- dune-pipeline-action pipeline:a%2D%2D%3Eb -->"
        );
    }

    #[test]
    fn body_starts_with_marker_and_links() {
        let links = Links {
            run_url: Some("https://github.com/o/r/actions/runs/9".into()),
            sha: Some("0123456789abcdef".into()),
        };
        let o = outcome(10);
        let body = render(&query_key(3493826), &o, &report::summary(&o), &links);
        assert!(body.starts_with("<!-- dune-pipeline-action query:3493826 -->\n"));
        assert!(body.contains("[workflow run](https://github.com/o/r/actions/runs/9)"));
        assert!(body.contains("https://dune.com/queries/3493826"));
        assert!(body.contains("### Errors"));
    }

    #[test]
    fn long_bodies_are_cut_with_a_note() {
        let o = outcome(6000);
        let body = render(&query_key(1), &o, &report::summary(&o), &Links::default());
        assert!(body.chars().count() <= MAX_BODY_CHARS);
        assert!(
            body.contains("cut at GitHub's limit"),
            "{}",
            &body[body.len() - 300..]
        );
    }
}
