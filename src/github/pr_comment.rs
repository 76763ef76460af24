//! The sticky pull-request comment: one comment per pipeline on the PR, found again by a hidden marker and
//! updated in place on every re-run. Its body is the job summary (status, Dune query link, node table,
//! failed nodes' errors) under a line with the workflow run's link, cut to GitHub's 65,536 characters.

use octocrab::models::issues::Comment;
use serde_json::{Map, Value, json};

use crate::github::api::{GitHubApi, GitHubError};
use crate::github::identity::Identity;
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

/// The marker key of one job's comment: `base` (the query or the pipeline file), then the `comment_tag`
/// when one is set (`query:42;tag:ethereum`), else a hash of the query parameters when there are any
/// (`query:42;params:1f0c…`), so two jobs of a matrix over one query with different parameters keep two
/// comments, and each run of one job finds its own again. Without a tag or parameters the key is `base`
/// alone, as it always was, so existing comments are still found.
pub fn job_key(base: String, tag: Option<&str>, params: Option<&Map<String, Value>>) -> String {
    match (tag, params) {
        (Some(tag), _) => format!("{base};tag:{tag}"),
        (None, Some(p)) if !p.is_empty() => format!("{base};params:{:016x}", params_hash(p)),
        _ => base,
    }
}

/// A hash of the parameters that does not depend on the order of their keys (FNV-1a over the canonical
/// JSON: keys sorted at every level), stable across runs, platforms and versions.
pub fn params_hash(params: &Map<String, Value>) -> u64 {
    fn canonical(v: &Value, out: &mut String) {
        match v {
            Value::Object(m) => {
                let mut keys: Vec<&String> = m.keys().collect();
                keys.sort();
                out.push('{');
                for (i, k) in keys.into_iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(&Value::from(k.as_str()).to_string());
                    out.push(':');
                    canonical(&m[k], out);
                }
                out.push('}');
            }
            Value::Array(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    canonical(item, out);
                }
                out.push(']');
            }
            other => out.push_str(&other.to_string()),
        }
    }
    let mut text = String::new();
    canonical(&Value::Object(params.clone()), &mut text);
    text.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
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

/// Updates the PR's comment that carries `key`'s marker and was written by `me`, or adds one. A comment by
/// anyone else is never edited, whatever it carries; with no known identity (`None`) a new comment is added.
pub async fn upsert(
    api: &GitHubApi,
    pr: u64,
    key: &str,
    body: &str,
    me: Option<&Identity>,
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
            .find(|c: &&Comment| {
                me.is_some_and(|me| me.wrote(&c.user.login, c.user.id.into_inner()))
                    && c.body.as_deref().is_some_and(|b| b.starts_with(&marker))
            })
            .map(|c| c.id);
        if found.is_some() || me.is_none() {
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
            review: None,
            sync: None,
            sql_files: Vec::new(),
        }
    }

    #[test]
    fn job_keys_keep_matrix_jobs_apart_and_runs_together() {
        let params = |text: &str| match serde_json::from_str::<Value>(text) {
            Ok(Value::Object(m)) => m,
            _ => panic!("object"),
        };
        let eth = params(r#"{"chain": "ethereum", "days": 7}"#);
        let eth_again = params(r#"{"days": 7, "chain": "ethereum"}"#);
        let base = params(r#"{"chain": "base", "days": 7}"#);
        let k = |p: Option<&Map<String, Value>>| job_key(query_key(42), None, p);
        assert_eq!(k(None), "query:42");
        assert_eq!(k(Some(&Map::new())), "query:42");
        assert_eq!(k(Some(&eth)), k(Some(&eth_again)));
        assert_ne!(k(Some(&eth)), k(Some(&base)));
        assert!(k(Some(&eth)).starts_with("query:42;params:"));
        // A stable value: a change here would orphan every comment written before it.
        // FNV-1a 64 of `{"chain":"ethereum","days":7}`, computed apart from this code.
        assert_eq!(params_hash(&eth), 0xba49_5f31_0338_08d3);
        assert_eq!(
            job_key(file_key("p.yml"), Some("eth"), Some(&eth)),
            "pipeline:p.yml;tag:eth"
        );
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
