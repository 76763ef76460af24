//! GitHub's REST API through octocrab, for the side channel (PR comment, check run): one client built from
//! `GITHUB_API_URL` and the token, short timeouts, no retries, and typed errors that say which permission is
//! missing and never carry the token.

use std::time::Duration;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use dune_api::proxy::Proxies;
use octocrab::service::middleware::auth_header::AuthHeaderLayer;
use octocrab::service::middleware::base_uri::BaseUriLayer;
use octocrab::service::middleware::extra_headers::ExtraHeadersLayer;
use octocrab::{AuthState, OctoBody, Octocrab, OctocrabBuilder};

use crate::runner::console::{one_line, truncate_chars};
use crate::runner::context::Repo;
use crate::runner::secret::GitHubToken;
use dune_api::redact;

/// Timeout of connecting to GitHub (clock time).
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Timeout of reading or writing one request or response (clock time).
pub const IO_TIMEOUT: Duration = Duration::from_secs(10);

/// What went wrong talking to GitHub. No variant carries the token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GitHubError {
    /// `GITHUB_API_URL` is not a usable base URL.
    #[error("GITHUB_API_URL {url:?} is not usable: {why}")]
    BadApiUrl { url: String, why: String },
    /// GitHub answered with an error status.
    #[error("GitHub answered {status} while {action}: {message}")]
    Api {
        action: &'static str,
        status: u16,
        message: String,
    },
    /// GitHub's rate limit (primary or secondary) was reached.
    #[error("GitHub's API rate limit was reached while {action} ({status}: {message})")]
    RateLimited {
        action: &'static str,
        status: u16,
        message: String,
    },
    /// The request did not get an answer (connection, TLS, timeout, unreadable body).
    #[error("no usable answer from GitHub while {action}: {detail}")]
    Transport {
        action: &'static str,
        detail: String,
    },
    /// The whole operation ran past its time budget.
    #[error("GitHub did not finish {action} within {}", humantime::format_duration(*.waited))]
    TimedOut {
        action: &'static str,
        waited: Duration,
    },
}

impl GitHubError {
    /// Whether the token was refused (401) or lacks a permission (403 that is not a rate limit, or 404:
    /// GitHub answers 404 to a token that cannot see the resource, and 403 "Resource not accessible by
    /// integration" to one that cannot write it).
    pub fn is_permission(&self) -> bool {
        matches!(
            self,
            GitHubError::Api {
                status: 401 | 403 | 404,
                ..
            }
        )
    }
}

/// A GitHub API client for one repository.
#[derive(Clone)]
pub struct GitHubApi {
    pub(crate) octo: Octocrab,
    pub(crate) repo: Repo,
    token: GitHubToken,
    /// The same HTTP client octocrab runs on, for a URL outside the REST base (GraphQL on GitHub Enterprise
    /// Server is `/api/graphql`, beside `/api/v3`, which octocrab's base-URI layer would prefix).
    http: reqwest::Client,
}

impl std::fmt::Debug for GitHubApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GitHubApi")
            .field("repo", &self.repo)
            .field("token", &self.token)
            .finish()
    }
}

impl GitHubApi {
    /// A client for `repo` at `api_url` (https, or plain http on loopback for tests). `to_real` converts
    /// the clock-time timeouts into real time (see [`dune_api::clock::Clock::to_real`]).
    ///
    /// Requests go through `proxies` (the runner's `HTTPS_PROXY`, `NO_PROXY`, …) and trust `roots` besides
    /// the built-in ones (the image's bundle, `SSL_CERT_FILE`, `SSL_CERT_DIR`): octocrab's own hyper
    /// client knows no proxies, so it runs on a reqwest client (the one HTTP stack the action already has)
    /// under octocrab's base-URI, header and auth layers.
    pub fn new(
        api_url: &str,
        token: &GitHubToken,
        repo: Repo,
        to_real: impl Fn(Duration) -> Duration,
        proxies: &Proxies,
        roots: &dune_api::tls::TrustRoots,
    ) -> Result<GitHubApi, GitHubError> {
        let bad = |why: String| GitHubError::BadApiUrl {
            url: api_url.to_string(),
            why,
        };
        let url = crate::config::parse_api_url(api_url).map_err(bad)?;
        let base = format!("{}/", url.as_str().trim_end_matches('/'));
        let base_uri: http::Uri = base
            .parse()
            .map_err(|e: http::uri::InvalidUri| bad(e.to_string()))?;
        // NOTE: no retries. A retried POST could add a second comment, and the side channel must not hold
        // the step: one attempt per request, bounded by the timeouts here and the caller's budget.
        // The same trusted roots as Dune's client: the image's bundle, SSL_CERT_FILE / SSL_CERT_DIR.
        let builder = roots.apply(
            reqwest::Client::builder()
                .connect_timeout(to_real(CONNECT_TIMEOUT))
                .read_timeout(to_real(IO_TIMEOUT))
                .timeout(to_real(IO_TIMEOUT) * 2),
        );
        let http = proxies
            .apply(builder)
            .and_then(|b| b.build().map_err(|e| e.to_string()))
            .map_err(|why| GitHubError::Transport {
                action: "setting up the GitHub client",
                detail: why,
            })?;
        let mut auth = http::HeaderValue::from_str(&format!("Bearer {}", token.expose()))
            .map_err(|_| bad("the token is not a valid HTTP header value".into()))?;
        auth.set_sensitive(true);
        let headers = vec![(
            http::header::USER_AGENT,
            http::HeaderValue::from_static("dune-pipeline-action"),
        )];
        let octo = OctocrabBuilder::new_empty()
            .with_service(ReqwestService(http.clone()))
            .with_layer(&ExtraHeadersLayer::new(Arc::new(headers)))
            .with_layer(&AuthHeaderLayer::new(
                Some(auth),
                base_uri.clone(),
                base_uri.clone(),
            ))
            .with_layer(&BaseUriLayer::new(base_uri))
            .with_auth(AuthState::None)
            .build()
            .map_err(|e| match e {})?;
        Ok(GitHubApi {
            octo,
            repo,
            token: token.clone(),
            http,
        })
    }

    /// POSTs `body` to the absolute `url` (on the same host as the REST API, with the same token) and reads
    /// the JSON answer. Errors as [`GitHubApi::error`] words them, the token redacted.
    pub async fn post_json(
        &self,
        url: &str,
        body: &serde_json::Value,
        action: &'static str,
    ) -> Result<serde_json::Value, GitHubError> {
        let clean = |text: &str| self.clean(text);
        let mut auth = http::HeaderValue::from_str(&format!("Bearer {}", self.token.expose()))
            .map_err(|_| GitHubError::Transport {
                action,
                detail: "the token is not a valid HTTP header value".into(),
            })?;
        auth.set_sensitive(true);
        let transport = |e: reqwest::Error| {
            let detail = clean(&error_chain(&e));
            if e.is_timeout() {
                GitHubError::TimedOut {
                    action,
                    waited: IO_TIMEOUT,
                }
            } else {
                GitHubError::Transport { action, detail }
            }
        };
        let response = self
            .http
            .post(url)
            .header(http::header::AUTHORIZATION, auth)
            .header(http::header::USER_AGENT, "dune-pipeline-action")
            .json(body)
            .send()
            .await
            .map_err(transport)?;
        let status = response.status().as_u16();
        let text = response.text().await.map_err(transport)?;
        let value: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
        if status >= 400 {
            let message = clean(
                value
                    .get("message")
                    .and_then(serde_json::Value::as_str)
                    .unwrap_or(&text),
            );
            return Err(classify(action, status, message, false));
        }
        Ok(value)
    }

    /// Remote or error text for a message: the token redacted, on one line, at most 300 characters.
    fn clean(&self, text: &str) -> String {
        truncate_chars(&one_line(&redact(text, &[self.token.expose()])), 300)
    }

    /// Turns an octocrab error into a [`GitHubError`], with the token redacted from any text.
    pub fn error(&self, action: &'static str, e: octocrab::Error) -> GitHubError {
        let clean = |text: &str| self.clean(text);
        match e {
            octocrab::Error::GitHub { source, .. } => {
                let status = source.status_code.as_u16();
                let message = clean(&source.message);
                let exhausted = source
                    .headers
                    .as_ref()
                    .and_then(|h| h.get("x-ratelimit-remaining"))
                    .and_then(|v| v.to_str().ok())
                    == Some("0");
                classify(action, status, message, exhausted)
            }
            other => {
                let detail = clean(&error_chain(&other));
                if detail.contains("timed out") {
                    GitHubError::TimedOut {
                        action,
                        waited: IO_TIMEOUT,
                    }
                } else {
                    GitHubError::Transport { action, detail }
                }
            }
        }
    }
}

/// An error answer: a rate limit (429, or 403 with the limit exhausted or a message that says so), else an
/// API error.
fn classify(action: &'static str, status: u16, message: String, exhausted: bool) -> GitHubError {
    if status == 429
        || (status == 403 && (exhausted || message.to_ascii_lowercase().contains("rate limit")))
    {
        GitHubError::RateLimited {
            action,
            status,
            message,
        }
    } else {
        GitHubError::Api {
            action,
            status,
            message,
        }
    }
}

/// Sends octocrab's requests with a reqwest client (which honours the proxies it was built with).
#[derive(Clone)]
struct ReqwestService(reqwest::Client);

impl tower_service::Service<http::Request<OctoBody>> for ReqwestService {
    type Response = http::Response<reqwest::Body>;
    type Error = reqwest::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<OctoBody>) -> Self::Future {
        let client = self.0.clone();
        Box::pin(async move {
            let (parts, body) = req.into_parts();
            let req = reqwest::Request::try_from(http::Request::from_parts(
                parts,
                reqwest::Body::wrap(body),
            ))?;
            let res = client.execute(req).await?;
            Ok(http::Response::from(res))
        })
    }
}

/// An error and its sources on one line.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let s_text = s.to_string();
        if !text.contains(&s_text) {
            text.push_str(": ");
            text.push_str(&s_text);
        }
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn plain_http_only_on_loopback() {
        let token = GitHubToken::new("ghs_secret");
        let repo = Repo::parse("o/r").expect("repo");
        let err = GitHubApi::new(
            "http://github.example",
            &token,
            repo.clone(),
            |d| d,
            &Proxies::default(),
            &dune_api::tls::TrustRoots::default(),
        )
        .expect_err("plain http");
        assert!(matches!(err, GitHubError::BadApiUrl { .. }));
        let api = GitHubApi::new(
            "http://127.0.0.1:1/api/v3",
            &token,
            repo,
            |d| d,
            &Proxies::default(),
            &dune_api::tls::TrustRoots::default(),
        )
        .expect("ok");
        assert!(!format!("{api:?}").contains("ghs_secret"));
    }
}
