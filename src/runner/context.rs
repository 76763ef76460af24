//! Where the run happens, as GitHub's runner describes it: the API address, the repository, the event and
//! its pull request (from the payload at `GITHUB_EVENT_PATH`), the commit, and the link to the workflow run.
//! Read once from the [`Env`] snapshot; nothing here talks to the network.

use crate::runner::env::Env;

/// GitHub.com's REST API, when `GITHUB_API_URL` is not set.
pub const DEFAULT_API_URL: &str = "https://api.github.com";

/// GitHub.com, when `GITHUB_SERVER_URL` is not set.
pub const DEFAULT_SERVER_URL: &str = "https://github.com";

/// `owner/name` from `GITHUB_REPOSITORY`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Repo {
    pub owner: String,
    pub name: String,
}

impl Repo {
    /// Parses `owner/name`; only the characters GitHub allows in either part.
    pub fn parse(raw: &str) -> Option<Repo> {
        let (owner, name) = raw.trim().split_once('/')?;
        let ok = |s: &str| {
            !s.is_empty()
                && s != "."
                && s != ".."
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        };
        (ok(owner) && ok(name)).then(|| Repo {
            owner: owner.to_string(),
            name: name.to_string(),
        })
    }
}

impl std::fmt::Display for Repo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.owner, self.name)
    }
}

/// The pull request the run is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullRequest {
    pub number: u64,
    /// The PR's head commit (`pull_request.head.sha`); `GITHUB_SHA` is a merge commit on PR events.
    pub head_sha: Option<String>,
}

/// The run's GitHub context.
#[derive(Debug, Clone, Default)]
pub struct Context {
    /// `GITHUB_API_URL` (GitHub Enterprise Server: `https://HOST/api/v3`).
    pub api_url: String,
    /// `GITHUB_SERVER_URL`.
    pub server_url: String,
    /// `GITHUB_REPOSITORY`, when set and well-formed.
    pub repo: Option<Repo>,
    /// `GITHUB_EVENT_NAME`.
    pub event_name: Option<String>,
    /// `GITHUB_SHA`.
    pub sha: Option<String>,
    /// `GITHUB_RUN_ID`.
    pub run_id: Option<String>,
    /// The pull request, on `pull_request*` events whose payload names one.
    pub pull_request: Option<PullRequest>,
    /// Why the event payload could not be read, when it could not.
    pub event_problem: Option<String>,
}

impl Context {
    /// Reads the context from the environment snapshot (and the event payload file it points at).
    pub fn from_env(env: &Env) -> Context {
        let get = |k: &str| {
            env.get(k)
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        let event_name = get("GITHUB_EVENT_NAME");
        let mut ctx = Context {
            api_url: get("GITHUB_API_URL").unwrap_or_else(|| DEFAULT_API_URL.into()),
            server_url: get("GITHUB_SERVER_URL").unwrap_or_else(|| DEFAULT_SERVER_URL.into()),
            repo: get("GITHUB_REPOSITORY").as_deref().and_then(Repo::parse),
            sha: get("GITHUB_SHA"),
            run_id: get("GITHUB_RUN_ID"),
            event_name: event_name.clone(),
            ..Context::default()
        };
        let is_pr_event = event_name
            .as_deref()
            .is_some_and(|e| e.starts_with("pull_request"));
        if is_pr_event {
            match get("GITHUB_EVENT_PATH") {
                Some(path) => match std::fs::read_to_string(&path) {
                    Ok(text) => match pull_request_of(&text) {
                        Ok(pr) => ctx.pull_request = Some(pr),
                        Err(why) => ctx.event_problem = Some(why),
                    },
                    Err(e) => {
                        ctx.event_problem =
                            Some(format!("could not read the event payload {path}: {e}"))
                    }
                },
                None => ctx.event_problem = Some("GITHUB_EVENT_PATH is not set".into()),
            }
        }
        ctx
    }

    /// The commit a check run belongs to: the PR's head, else `GITHUB_SHA`.
    pub fn head_sha(&self) -> Option<&str> {
        self.pull_request
            .as_ref()
            .and_then(|pr| pr.head_sha.as_deref())
            .or(self.sha.as_deref())
    }

    /// `GITHUB_SERVER_URL/GITHUB_REPOSITORY/actions/runs/GITHUB_RUN_ID`.
    pub fn run_url(&self) -> Option<String> {
        let repo = self.repo.as_ref()?;
        let run = self.run_id.as_deref()?;
        run.chars().all(|c| c.is_ascii_digit()).then(|| {
            format!(
                "{}/{repo}/actions/runs/{run}",
                self.server_url.trim_end_matches('/')
            )
        })
    }
}

/// The pull request named by an event payload (`pull_request.number`, `pull_request.head.sha`).
pub fn pull_request_of(payload: &str) -> Result<PullRequest, String> {
    let v: serde_json::Value = serde_json::from_str(payload)
        .map_err(|e| format!("the event payload is not JSON ({e})"))?;
    let pr = v
        .get("pull_request")
        .ok_or("the event payload has no `pull_request`")?;
    let number = pr
        .get("number")
        .and_then(|n| n.as_u64())
        .or_else(|| v.get("number").and_then(|n| n.as_u64()))
        .ok_or("the event payload has no pull request number")?;
    let head_sha = pr
        .pointer("/head/sha")
        .and_then(|s| s.as_str())
        .filter(|s| s.len() >= 7 && s.chars().all(|c| c.is_ascii_hexdigit()))
        .map(str::to_string);
    Ok(PullRequest { number, head_sha })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repos() {
        assert_eq!(
            Repo::parse("octo-org/data.models"),
            Some(Repo {
                owner: "octo-org".into(),
                name: "data.models".into()
            })
        );
        assert_eq!(Repo::parse("nope"), None);
        assert_eq!(Repo::parse("a/b/c"), None);
        assert_eq!(Repo::parse("a/.."), None);
        assert_eq!(Repo::parse("a/b?x"), None);
    }

    #[test]
    fn pull_request_payload() {
        let pr = pull_request_of(
            r#"{"action":"synchronize","number":7,"pull_request":{"number":7,"head":{"sha":"0123456789abcdef0123456789abcdef01234567"}}}"#,
        )
        .expect("pr");
        assert_eq!(pr.number, 7);
        assert_eq!(
            pr.head_sha.as_deref(),
            Some("0123456789abcdef0123456789abcdef01234567")
        );
        assert!(pull_request_of(r#"{"ref":"refs/heads/main"}"#).is_err());
        assert!(pull_request_of("not json").is_err());
    }

    #[test]
    fn run_link_and_head() {
        let env = Env::from_pairs([
            ("GITHUB_REPOSITORY", "o/r"),
            ("GITHUB_RUN_ID", "42"),
            ("GITHUB_SERVER_URL", "https://ghe.example/"),
            ("GITHUB_SHA", "abc1234"),
            ("GITHUB_EVENT_NAME", "push"),
        ]);
        let ctx = Context::from_env(&env);
        assert_eq!(
            ctx.run_url().as_deref(),
            Some("https://ghe.example/o/r/actions/runs/42")
        );
        assert_eq!(ctx.head_sha(), Some("abc1234"));
        assert_eq!(ctx.api_url, DEFAULT_API_URL);
        assert!(ctx.pull_request.is_none() && ctx.event_problem.is_none());
    }
}
