//! A local fake of the few GitHub REST endpoints the action uses (issue comments, check runs, `GET /user`)
//! and GraphQL's `viewer`, serving full payloads shaped like GitHub's so octocrab's models deserialize them.
//! It keeps state (comments, check runs) across runs of the action, records every request, and can answer
//! 403, rate-limit, or never. It knows identities: each token it accepts writes as an account (the token
//! given to `start` as the job's `github-actions[bot]`, an installation token; more with
//! [`FakeGitHub::add_token`]), and a comment is written by the account of the token that created it. Like
//! GitHub, `GET /user` answers a user's token and refuses an installation token with 403; GraphQL's
//! `viewer` answers both.
#![allow(dead_code)]

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{OriginalUri, Path, Query, Request, State};
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, patch, post};
use serde_json::{Value, json};

/// How the fake answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Like GitHub with a token that has the permissions.
    Normal,
    /// Reads work; writes get GitHub's 403 "Resource not accessible by integration".
    Forbidden,
    /// Every request gets GitHub's primary rate-limit 403.
    RateLimited,
    /// Requests are accepted and never answered.
    Hang,
}

/// One request the fake received.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub authorization: Option<String>,
    pub body: Value,
}

/// Who a token writes as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub login: String,
    pub id: u64,
    /// An installation token (the job's `GITHUB_TOKEN`, a GitHub App's): a `Bot` account that `GET /user`
    /// refuses; otherwise a user's token (a PAT).
    pub installation: bool,
}

impl Account {
    /// The job's `GITHUB_TOKEN`.
    pub fn github_actions() -> Account {
        Account {
            login: "github-actions[bot]".into(),
            id: 41898282,
            installation: true,
        }
    }

    /// A person's personal access token.
    pub fn user(login: &str, id: u64) -> Account {
        Account {
            login: login.into(),
            id,
            installation: false,
        }
    }

    /// A GitHub App's installation token (`<slug>[bot]`).
    pub fn app(slug: &str, id: u64) -> Account {
        Account {
            login: format!("{slug}[bot]"),
            id,
            installation: true,
        }
    }

    fn json(&self) -> Value {
        user(
            &self.login,
            self.id,
            if self.installation { "Bot" } else { "User" },
        )
    }
}

#[derive(Debug)]
struct Inner {
    mode: Mode,
    /// The tokens accepted and who each writes as.
    tokens: Vec<(String, Account)>,
    base: String,
    next_id: u64,
    comments: Vec<(u64, Value)>,
    check_runs: Vec<Value>,
    requests: Vec<Recorded>,
}

type Shared = Arc<Mutex<Inner>>;

/// The running fake.
pub struct FakeGitHub {
    state: Shared,
    api_url: String,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakeGitHub {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FakeGitHub {
    /// Starts the fake on loopback, accepting `token`, with the API under `prefix` (`""` like GitHub.com,
    /// `"/api/v3"` like GitHub Enterprise Server).
    pub async fn start(token: &str, prefix: &str, mode: Mode) -> FakeGitHub {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let api_url = format!("http://{addr}{prefix}");
        let state: Shared = Arc::new(Mutex::new(Inner {
            mode,
            tokens: vec![(token.to_string(), Account::github_actions())],
            base: api_url.clone(),
            next_id: 1000,
            comments: Vec::new(),
            check_runs: Vec::new(),
            requests: Vec::new(),
        }));
        let routes = Router::new()
            .route(
                "/repos/{owner}/{repo}/issues/{number}/comments",
                get(list_comments).post(create_comment),
            )
            .route(
                "/repos/{owner}/{repo}/issues/comments/{id}",
                patch(update_comment),
            )
            .route("/repos/{owner}/{repo}/check-runs", post(create_check_run))
            .route(
                "/repos/{owner}/{repo}/check-runs/{id}",
                patch(update_check_run),
            )
            .route("/user", get(authenticated_user))
            .fallback(not_found);
        // GraphQL sits beside the REST base: `/graphql` on GitHub.com, `/api/graphql` beside `/api/v3`.
        let graphql = match prefix.strip_suffix("/v3") {
            Some(api) => format!("{api}/graphql"),
            None => format!("{prefix}/graphql"),
        };
        let app = if prefix.is_empty() {
            routes.route(&graphql, post(graphql_viewer))
        } else {
            Router::new()
                .nest(prefix, routes)
                .route(&graphql, post(graphql_viewer))
                .fallback(not_found)
        }
        .layer(axum::middleware::from_fn_with_state(state.clone(), admit))
        .with_state(state.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        FakeGitHub {
            state,
            api_url,
            task,
        }
    }

    /// The value for `GITHUB_API_URL`.
    pub fn api_url(&self) -> &str {
        &self.api_url
    }

    fn inner(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Changes how the fake answers.
    pub fn set_mode(&self, mode: Mode) {
        self.inner().mode = mode;
    }

    /// Accepts one more token, which writes as `account`.
    pub fn add_token(&self, token: &str, account: Account) {
        self.inner().tokens.push((token.to_string(), account));
    }

    /// Adds a comment by someone else to issue `number`.
    pub fn seed_comment(&self, number: u64, body: &str) {
        self.seed_comment_by(number, body, &Account::user("octo-reviewer", 583231));
    }

    /// Adds a comment by `author` to issue `number`.
    pub fn seed_comment_by(&self, number: u64, body: &str, author: &Account) {
        let mut s = self.inner();
        let id = s.next_id;
        s.next_id += 1;
        let c = comment_json(&s.base, number, id, body, author.json());
        s.comments.push((number, c));
    }

    /// The comments on issue `number`, oldest first.
    pub fn comments(&self, number: u64) -> Vec<Value> {
        self.inner()
            .comments
            .iter()
            .filter(|(n, _)| *n == number)
            .map(|(_, c)| c.clone())
            .collect()
    }

    /// The check runs, as they stand now.
    pub fn check_runs(&self) -> Vec<Value> {
        self.inner().check_runs.clone()
    }

    /// Every request received, in order.
    pub fn requests(&self) -> Vec<Recorded> {
        self.inner().requests.clone()
    }

    /// Requests with this method whose path ends with `suffix`.
    pub fn count(&self, method: &str, suffix: &str) -> usize {
        self.requests()
            .iter()
            .filter(|r| r.method == method && r.path.ends_with(suffix))
            .count()
    }
}

fn lock(s: &Shared) -> std::sync::MutexGuard<'_, Inner> {
    s.lock().unwrap_or_else(|p| p.into_inner())
}

fn error(status: StatusCode, message: &str, doc: &str) -> Response {
    (
        status,
        [("content-type", "application/json; charset=utf-8")],
        json!({"message": message, "documentation_url": doc, "status": status.as_u16().to_string()})
            .to_string(),
    )
        .into_response()
}

fn ok(status: StatusCode, body: Value, extra: &[(&'static str, String)]) -> Response {
    let mut resp = (status, body.to_string()).into_response();
    let h = resp.headers_mut();
    h.insert(
        "content-type",
        "application/json; charset=utf-8".parse().expect("header"),
    );
    h.insert(
        "x-github-api-version-selected",
        "2022-11-28".parse().expect("header"),
    );
    h.insert("x-ratelimit-limit", "1000".parse().expect("header"));
    h.insert("x-ratelimit-remaining", "999".parse().expect("header"));
    for (k, v) in extra {
        h.insert(*k, v.parse().expect("header"));
    }
    resp
}

/// Middleware in front of every route: records the request, checks the token, and applies the mode.
async fn admit(State(s): State<Shared>, req: Request, next: Next) -> Response {
    let (parts, body) = req.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, 1 << 20).await else {
        return error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "Body too large",
            "https://docs.github.com/rest",
        );
    };
    let mode = {
        let mut st = lock(&s);
        let authorization = parts
            .headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        st.requests.push(Recorded {
            method: parts.method.to_string(),
            path: parts.uri.path().to_string(),
            authorization: authorization.clone(),
            body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        });
        if account_of(&st, authorization.as_deref()).is_none() {
            return error(
                StatusCode::UNAUTHORIZED,
                "Bad credentials",
                "https://docs.github.com/rest",
            );
        }
        st.mode
    };
    match mode {
        Mode::Normal => {}
        Mode::Forbidden if parts.method == Method::GET => {}
        Mode::Forbidden => {
            return error(
                StatusCode::FORBIDDEN,
                "Resource not accessible by integration",
                "https://docs.github.com/rest/issues/comments#create-an-issue-comment",
            );
        }
        Mode::RateLimited => {
            let mut r = error(
                StatusCode::FORBIDDEN,
                "API rate limit exceeded for installation ID 1234567.",
                "https://docs.github.com/rest/overview/resources-in-the-rest-api#rate-limiting",
            );
            r.headers_mut()
                .insert("x-ratelimit-remaining", "0".parse().expect("header"));
            return r;
        }
        Mode::Hang => std::future::pending::<()>().await,
    }
    next.run(Request::from_parts(parts, axum::body::Body::from(bytes)))
        .await
}

/// The account of the request's `Authorization: Bearer <token>`, when the fake knows the token.
fn account_of(st: &Inner, authorization: Option<&str>) -> Option<Account> {
    let token = authorization?.strip_prefix("Bearer ")?;
    st.tokens
        .iter()
        .find(|(t, _)| t == token)
        .map(|(_, a)| a.clone())
}

fn caller(st: &Inner, headers: &axum::http::HeaderMap) -> Option<Account> {
    account_of(
        st,
        headers.get("authorization").and_then(|v| v.to_str().ok()),
    )
}

/// `GET /user`: a user's token gets its account; an installation token gets GitHub's 403.
async fn authenticated_user(State(s): State<Shared>, headers: axum::http::HeaderMap) -> Response {
    let st = lock(&s);
    match caller(&st, &headers) {
        Some(a) if !a.installation => ok(StatusCode::OK, a.json(), &[]),
        _ => error(
            StatusCode::FORBIDDEN,
            "Resource not accessible by integration",
            "https://docs.github.com/rest/users/users#get-the-authenticated-user",
        ),
    }
}

/// `POST /graphql` with `viewer { login databaseId }`: every token's account.
async fn graphql_viewer(
    State(s): State<Shared>,
    headers: axum::http::HeaderMap,
    body: Bytes,
) -> Response {
    let query = body_field(&body, "query");
    let st = lock(&s);
    match caller(&st, &headers) {
        Some(a) if query.contains("viewer") => ok(
            StatusCode::OK,
            json!({"data": {"viewer": {"login": a.login, "databaseId": a.id}}}),
            &[],
        ),
        _ => ok(
            StatusCode::OK,
            json!({"errors": [{"message": "the fake knows only `viewer`"}]}),
            &[],
        ),
    }
}

fn user(login: &str, id: u64, kind: &str) -> Value {
    let u = format!(
        "https://api.github.com/users/{}",
        login.replace('[', "%5B").replace(']', "%5D")
    );
    json!({
        "login": login,
        "id": id,
        "node_id": "MDM6Qm90NDE4OTgyODI=",
        "avatar_url": "https://avatars.githubusercontent.com/in/15368?v=4",
        "gravatar_id": "",
        "url": u,
        "html_url": if kind == "Bot" { "https://github.com/apps/github-actions".to_string() } else { format!("https://github.com/{login}") },
        "followers_url": format!("{u}/followers"),
        "following_url": format!("{u}/following{{/other_user}}"),
        "gists_url": format!("{u}/gists{{/gist_id}}"),
        "starred_url": format!("{u}/starred{{/owner}}{{/repo}}"),
        "subscriptions_url": format!("{u}/subscriptions"),
        "organizations_url": format!("{u}/orgs"),
        "repos_url": format!("{u}/repos"),
        "events_url": format!("{u}/events{{/privacy}}"),
        "received_events_url": format!("{u}/received_events"),
        "type": kind,
        "user_view_type": "public",
        "site_admin": false
    })
}

fn comment_json(base: &str, number: u64, id: u64, body: &str, user: Value) -> Value {
    json!({
        "id": id,
        "node_id": format!("IC_kwDOKfake{id}"),
        "url": format!("{base}/repos/octo-org/data-models/issues/comments/{id}"),
        "html_url": format!("https://github.com/octo-org/data-models/pull/{number}#issuecomment-{id}"),
        "body": body,
        "user": user,
        "created_at": "2026-11-29T08:00:00Z",
        "updated_at": "2026-11-29T08:00:00Z",
        "issue_url": format!("{base}/repos/octo-org/data-models/issues/{number}"),
        "author_association": "NONE",
        "reactions": {
            "url": format!("{base}/repos/octo-org/data-models/issues/comments/{id}/reactions"),
            "total_count": 0, "+1": 0, "-1": 0, "laugh": 0, "hooray": 0,
            "confused": 0, "heart": 0, "rocket": 0, "eyes": 0
        },
        "performed_via_github_app": null
    })
}

#[derive(serde::Deserialize)]
struct Paging {
    per_page: Option<usize>,
    page: Option<usize>,
}

async fn list_comments(
    State(s): State<Shared>,
    Path((_owner, _repo, number)): Path<(String, String, u64)>,
    Query(paging): Query<Paging>,
    OriginalUri(uri): OriginalUri,
) -> Response {
    let st = lock(&s);
    let all: Vec<Value> = st
        .comments
        .iter()
        .filter(|(n, _)| *n == number)
        .map(|(_, c)| c.clone())
        .collect();
    let per_page = paging.per_page.unwrap_or(30).clamp(1, 100);
    let page = paging.page.unwrap_or(1).max(1);
    let items: Vec<Value> = all
        .iter()
        .skip((page - 1) * per_page)
        .take(per_page)
        .cloned()
        .collect();
    let mut extra = Vec::new();
    if page * per_page < all.len() {
        extra.push((
            "link",
            format!(
                "<{}{}?per_page={per_page}&page={}>; rel=\"next\"",
                st.base.split("/api/v3").next().unwrap_or(&st.base),
                // The full path (with any prefix), as GitHub's absolute links have it.
                uri.path(),
                page + 1
            ),
        ));
    }
    ok(StatusCode::OK, Value::Array(items), &extra)
}

async fn create_comment(
    State(s): State<Shared>,
    Path((_owner, _repo, number)): Path<(String, String, u64)>,
    headers: axum::http::HeaderMap,
    body: Bytes,
) -> Response {
    let text = body_field(&body, "body");
    let mut st = lock(&s);
    let author = caller(&st, &headers).unwrap_or_else(Account::github_actions);
    let id = st.next_id;
    st.next_id += 1;
    let c = comment_json(&st.base, number, id, &text, author.json());
    st.comments.push((number, c.clone()));
    ok(StatusCode::CREATED, c, &[])
}

async fn update_comment(
    State(s): State<Shared>,
    Path((_owner, _repo, id)): Path<(String, String, u64)>,
    body: Bytes,
) -> Response {
    let text = body_field(&body, "body");
    let mut st = lock(&s);
    match st.comments.iter_mut().find(|(_, c)| c["id"] == id) {
        Some((_, c)) => {
            c["body"] = json!(text);
            c["updated_at"] = json!("2026-11-29T09:00:00Z");
            ok(StatusCode::OK, c.clone(), &[])
        }
        None => error(
            StatusCode::NOT_FOUND,
            "Not Found",
            "https://docs.github.com/rest/issues/comments#update-an-issue-comment",
        ),
    }
}

fn body_field(body: &Bytes, name: &str) -> String {
    serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| v.get(name).and_then(|b| b.as_str()).map(str::to_string))
        .unwrap_or_default()
}

fn check_run_json(base: &str, id: u64, req: &Value) -> Value {
    let output = req.get("output").cloned().unwrap_or(json!({}));
    json!({
        "id": id,
        "name": req["name"],
        "node_id": format!("CR_kwDOKfake{id}"),
        "head_sha": req["head_sha"],
        "external_id": req.get("external_id").cloned().unwrap_or(json!("")),
        "url": format!("{base}/repos/octo-org/data-models/check-runs/{id}"),
        "html_url": format!("https://github.com/octo-org/data-models/runs/{id}"),
        "details_url": req.get("details_url").cloned().unwrap_or(Value::Null),
        "status": req.get("status").cloned().unwrap_or(json!("queued")),
        "conclusion": req.get("conclusion").cloned().unwrap_or(Value::Null),
        "started_at": "2026-11-29T08:00:00Z",
        "completed_at": if req.get("conclusion").is_some() { json!("2026-11-29T08:05:00Z") } else { Value::Null },
        "output": {
            "title": output.get("title").cloned().unwrap_or(Value::Null),
            "summary": output.get("summary").cloned().unwrap_or(Value::Null),
            "text": output.get("text").cloned().unwrap_or(Value::Null),
            "annotations_count": 0,
            "annotations_url": format!("{base}/repos/octo-org/data-models/check-runs/{id}/annotations")
        },
        "check_suite": {"id": 5},
        "app": {"id": 15368, "slug": "github-actions", "name": "GitHub Actions"},
        "pull_requests": []
    })
}

async fn create_check_run(State(s): State<Shared>, body: Bytes) -> Response {
    let req: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let mut st = lock(&s);
    let id = st.next_id;
    st.next_id += 1;
    let run = check_run_json(&st.base, id, &req);
    st.check_runs.push(run.clone());
    ok(StatusCode::CREATED, run, &[])
}

async fn update_check_run(
    State(s): State<Shared>,
    Path((_owner, _repo, id)): Path<(String, String, u64)>,
    body: Bytes,
) -> Response {
    let req: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let mut st = lock(&s);
    let base = st.base.clone();
    match st.check_runs.iter_mut().find(|r| r["id"] == id) {
        Some(run) => {
            let mut merged = json!({"name": run["name"], "head_sha": run["head_sha"],
                "external_id": run["external_id"], "details_url": run["details_url"]});
            if let (Some(m), Some(r)) = (merged.as_object_mut(), req.as_object()) {
                for (k, v) in r {
                    m.insert(k.clone(), v.clone());
                }
            }
            *run = check_run_json(&base, id, &merged);
            ok(StatusCode::OK, run.clone(), &[])
        }
        None => error(
            StatusCode::NOT_FOUND,
            "Not Found",
            "https://docs.github.com/rest/checks/runs#update-a-check-run",
        ),
    }
}

async fn not_found() -> Response {
    error(
        StatusCode::NOT_FOUND,
        "Not Found",
        "https://docs.github.com/rest",
    )
}
