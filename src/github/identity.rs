//! Who the token writes as: the sticky comment is only ever looked for among the comments this identity
//! wrote, so a comment by anyone else that carries the same marker (a person quoting it, another bot) is
//! never edited.
//!
//! The rule, in order:
//! 1. `GET /user`: a personal access token (classic or fine-grained) or a user's OAuth token answers with
//!    its account.
//! 2. GitHub refuses `GET /user` to an installation token (the job's `GITHUB_TOKEN`, a GitHub App's token)
//!    with 403 "Resource not accessible by integration"; GraphQL's `viewer { login databaseId }` answers
//!    for both kinds, with the app's bot account (`github-actions[bot]` for the job's token,
//!    `<app-slug>[bot]` for an app's).
//! 3. When GraphQL answers without an account, the identity is unknown: no existing comment is edited, a
//!    new one is added. A refused token (401), a rate limit or no answer fails the comment like any other
//!    GitHub error (one warning; the run's result stands).
//!
//! Comments are compared by the account's numeric id (logins can be renamed), by login when GitHub gave
//! no id.

use serde_json::{Value, json};

use crate::github::api::{GitHubApi, GitHubError};

/// The account a token writes as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub login: String,
    /// The account's numeric id (`id` of REST, `databaseId` of GraphQL).
    pub id: Option<u64>,
}

impl Identity {
    /// Whether a comment whose author is `login` / `id` was written by this identity.
    pub fn wrote(&self, login: &str, id: u64) -> bool {
        match self.id {
            Some(mine) => mine == id,
            None => self.login.eq_ignore_ascii_case(login),
        }
    }

    /// `login` and `id` of a REST user object or a GraphQL `viewer`.
    fn from_json(v: &Value, id_key: &str) -> Option<Identity> {
        let login = v.get("login")?.as_str()?.trim();
        if login.is_empty() {
            return None;
        }
        Some(Identity {
            login: login.to_string(),
            id: v.get(id_key).and_then(Value::as_u64),
        })
    }
}

/// The GraphQL endpoint beside a REST base URL: `https://api.github.com/graphql`, or on GitHub Enterprise
/// Server (`https://HOST/api/v3`) `https://HOST/api/graphql`. The runner's `GITHUB_GRAPHQL_URL` wins.
pub fn graphql_url(api_url: &str) -> String {
    let base = api_url.trim_end_matches('/');
    match base.strip_suffix("/v3") {
        Some(api) => format!("{api}/graphql"),
        None => format!("{base}/graphql"),
    }
}

/// Finds out who the token writes as (see the module's rule). `Ok(None)`: unknown.
pub async fn whoami(api: &GitHubApi, graphql_url: &str) -> Result<Option<Identity>, GitHubError> {
    let user = api
        .octo
        .get::<Value, _, _>("/user", None::<&()>)
        .await
        .map_err(|e| api.error("reading the token's account", e));
    match user {
        Ok(v) => return Ok(Identity::from_json(&v, "id")),
        // 403/404: an installation token; GraphQL's viewer knows it.
        Err(GitHubError::Api {
            status: 403 | 404, ..
        }) => {}
        // Refused (401), rate-limited, no answer: nothing else would answer either.
        Err(e) => return Err(e),
    }
    let answer = api
        .post_json(
            graphql_url,
            &json!({ "query": "query { viewer { login databaseId } }" }),
            "reading the token's account (GraphQL viewer)",
        )
        .await?;
    Ok(answer
        .pointer("/data/viewer")
        .and_then(|v| Identity::from_json(v, "databaseId")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn graphql_beside_rest() {
        assert_eq!(
            graphql_url("https://api.github.com"),
            "https://api.github.com/graphql"
        );
        assert_eq!(
            graphql_url("https://ghe.example/api/v3/"),
            "https://ghe.example/api/graphql"
        );
    }

    #[test]
    fn compared_by_id_else_login() {
        let by_id = Identity {
            login: "octo".into(),
            id: Some(7),
        };
        assert!(by_id.wrote("renamed", 7));
        assert!(!by_id.wrote("octo", 8));
        let by_login = Identity {
            login: "github-actions[bot]".into(),
            id: None,
        };
        assert!(by_login.wrote("GitHub-Actions[bot]", 1));
        assert!(!by_login.wrote("octo-reviewer", 41898282));
    }

    #[test]
    fn reads_rest_and_graphql_shapes() {
        let rest = json!({"login": "octo", "id": 5, "type": "User"});
        assert_eq!(
            Identity::from_json(&rest, "id"),
            Some(Identity {
                login: "octo".into(),
                id: Some(5)
            })
        );
        let viewer = json!({"login": "github-actions[bot]", "databaseId": 41898282});
        assert_eq!(
            Identity::from_json(&viewer, "databaseId").and_then(|i| i.id),
            Some(41898282)
        );
        assert_eq!(Identity::from_json(&json!({"login": ""}), "id"), None);
    }
}
