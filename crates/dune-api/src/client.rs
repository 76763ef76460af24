//! The client: one retry loop (`send_decoded`) with the rate cap, the retry policy, the per-request timeout and the
//! bounded body read, and one small method per endpoint on top of it.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use reqwest::header::{ACCEPT, CONTENT_TYPE, HeaderMap, HeaderValue, RETRY_AFTER, USER_AGENT};
use reqwest::{Method, Url};
use serde_json::{Map, Value};
use tokio::sync::watch;

use crate::clock::Clock;
use crate::definition::{Definition, Tier};
use crate::error::{self, Error};
use crate::models::{
    self, ExecuteQueryPipelineRequest, ExecutionStatus, LatestResult, MaterializedView,
    PipelineStatus, Usage,
};
use crate::rate::RateCap;
use crate::retry::{self, RequestKind};
use crate::secret::{ApiKey, redact};
use crate::text::truncate_chars;

/// Where the client's diagnostics go (one line per request and per retry, the key never in them); the
/// caller decides where (a debug log, or nowhere: the default).
pub type DebugHook = Arc<dyn Fn(&str) + Send + Sync>;

/// Where the client reports each retry it is about to make ([`Retry`]), so that the caller can say that
/// it is still trying (the default: nowhere).
pub type RetryHook = Arc<dyn Fn(&Retry<'_>) + Send + Sync>;

/// A failed attempt that the client is about to retry.
#[derive(Debug)]
#[non_exhaustive]
pub struct Retry<'a> {
    /// The request, as `METHOD /path` (never with a secret).
    pub endpoint: &'a str,
    /// The attempts made so far (from 1).
    pub attempt: u32,
    /// Why the attempt failed.
    pub error: &'a Error,
    /// How long the client waits before the next attempt (the rate cap may add to it).
    pub wait: Duration,
    /// Whether only the deadline and the stop signal end these retries (a [`Client::patient`] read).
    pub patient: bool,
}

/// The `User-Agent` sent unless the caller sets one ([`ClientBuilder::user_agent`]).
pub const DEFAULT_USER_AGENT: &str = concat!("dune-api-rs/", env!("CARGO_PKG_VERSION"));

/// The largest JSON body the client reads (status and definition responses are a few KiB).
pub(crate) const MAX_JSON_BODY: usize = 8 * 1024 * 1024;

/// How much of an error response's body the client reads (for the excerpt in the message).
pub(crate) const MAX_ERROR_BODY: usize = 64 * 1024;

/// A response that arrived whole.
#[derive(Debug)]
pub(crate) struct Response {
    /// The HTTP status code.
    pub status: u16,
    /// The response headers.
    pub headers: HeaderMap,
    /// The whole body (bounded by the read's limit).
    pub body: Vec<u8>,
}

/// Which share of the rate cap a client's requests draw on (see [`crate::rate`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Priority {
    /// Status polls, the start, the definition read: any free slot.
    First,
    /// Per-node execution reads and results: only slots the planned polls leave free.
    Extra,
}

/// The Dune API client.
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    base: Url,
    key: ApiKey,
    clock: Clock,
    per_request_timeout: Duration,
    cap: Arc<Mutex<RateCap>>,
    priority: Priority,
    deadline: Option<Duration>,
    stop: Option<watch::Receiver<bool>>,
    /// Whether reads retry until the deadline (see [`Client::patient`]).
    patient: bool,
    /// Where diagnostics go; `None` unless debugging.
    debug: Option<DebugHook>,
    /// Where retries are reported.
    on_retry: Option<RetryHook>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("base", &self.base.as_str())
            .field("key", &self.key)
            .finish()
    }
}

/// Builds a [`Client`]: `Client::builder(base, key)`, then the settings that differ from the defaults,
/// then [`ClientBuilder::build`].
#[must_use]
pub struct ClientBuilder {
    base: Url,
    key: ApiKey,
    clock: Clock,
    per_request_timeout: Duration,
    proxies: Option<crate::proxy::Proxies>,
    max_requests_per_minute: Option<usize>,
    user_agent: String,
    debug: Option<DebugHook>,
    on_retry: Option<RetryHook>,
    roots: Option<crate::tls::TrustRoots>,
}

impl std::fmt::Debug for ClientBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientBuilder")
            .field("base", &self.base.as_str())
            .field("key", &self.key)
            .field("per_request_timeout", &self.per_request_timeout)
            .field("user_agent", &self.user_agent)
            .finish_non_exhaustive()
    }
}

impl ClientBuilder {
    /// The clock that retries, the rate cap and the caller's waits run on (default: real time).
    pub fn clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// How long one request may take, connecting included (default 30 s).
    pub fn per_request_timeout(mut self, timeout: Duration) -> Self {
        self.per_request_timeout = timeout;
        self
    }

    /// The proxies to use (default: those of the process environment, [`crate::proxy::Proxies::from_process_env`]).
    pub fn proxies(mut self, proxies: crate::proxy::Proxies) -> Self {
        self.proxies = Some(proxies);
        self
    }

    /// At most `per_minute` requests a minute, counted over [`crate::rate::DEFAULT_WINDOW`] (default
    /// [`crate::rate::DEFAULT_REQUESTS_PER_MINUTE`]). Every handle derived from the client shares the cap.
    pub fn max_requests_per_minute(mut self, per_minute: usize) -> Self {
        self.max_requests_per_minute = Some(per_minute);
        self
    }

    /// The `User-Agent` of every request (default [`DEFAULT_USER_AGENT`]).
    pub fn user_agent(mut self, agent: impl Into<String>) -> Self {
        self.user_agent = agent.into();
        self
    }

    /// Hands a line about every request and every retry (key redacted) to `hook`.
    pub fn debug_hook(mut self, hook: DebugHook) -> Self {
        self.debug = Some(hook);
        self
    }

    /// The certificate authorities to trust besides the built-in roots (default: those the process
    /// environment names, [`crate::tls::TrustRoots::from_process_env`]).
    pub fn trust_roots(mut self, roots: crate::tls::TrustRoots) -> Self {
        self.roots = Some(roots);
        self
    }

    /// Reports every retry to `hook` before its wait begins.
    pub fn retry_hook(mut self, hook: RetryHook) -> Self {
        self.on_retry = Some(hook);
        self
    }

    /// The client. Fails ([`Error::Setup`]) when the key is not a valid header value, the `User-Agent`
    /// is not, a proxy cannot be used, or the HTTP stack cannot start; nothing is sent.
    pub fn build(self) -> Result<Client, Error> {
        let setup = |detail: String| Error::Setup { detail };
        let mut headers = HeaderMap::new();
        let mut key_header = HeaderValue::from_str(self.key.expose())
            .map_err(|_| setup("the API key is not a valid HTTP header value".into()))?;
        key_header.set_sensitive(true);
        headers.insert("x-dune-api-key", key_header);
        let agent = HeaderValue::from_str(&self.user_agent)
            .map_err(|_| setup("the User-Agent is not a valid HTTP header value".into()))?;
        headers.insert(USER_AGENT, agent);
        headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
        let roots = match self.roots {
            Some(roots) => roots,
            None => crate::tls::TrustRoots::from_process_env().map_err(|e| setup(e.to_string()))?,
        };
        let builder = roots.apply(
            reqwest::Client::builder()
                .default_headers(headers)
                .connect_timeout(Duration::from_secs(10).min(self.per_request_timeout))
                .timeout(self.per_request_timeout),
        );
        let proxies = self
            .proxies
            .unwrap_or_else(crate::proxy::Proxies::from_process_env);
        let builder = proxies.apply(builder).map_err(setup)?;
        let http = builder
            .build()
            .map_err(|e| setup(redact(&e.to_string(), &[self.key.expose()])))?;
        let cap = match self.max_requests_per_minute {
            Some(n) => RateCap::new(n, crate::rate::DEFAULT_WINDOW),
            None => RateCap::default(),
        };
        Ok(Client {
            http,
            base: self.base,
            key: self.key,
            clock: self.clock,
            per_request_timeout: self.per_request_timeout,
            cap: Arc::new(Mutex::new(cap)),
            priority: Priority::First,
            deadline: None,
            stop: None,
            patient: false,
            debug: self.debug,
            on_retry: self.on_retry,
        })
    }
}

impl Client {
    /// A builder for a client of `base` (for example `https://api.dune.com`) authenticating with `key`.
    pub fn builder(base: Url, key: ApiKey) -> ClientBuilder {
        ClientBuilder {
            base,
            key,
            clock: Clock::real(),
            per_request_timeout: Duration::from_secs(30),
            proxies: None,
            max_requests_per_minute: None,
            user_agent: DEFAULT_USER_AGENT.to_string(),
            debug: None,
            on_retry: None,
            roots: None,
        }
    }

    /// A handle on the same cap whose requests are extras: they take only the slots that the polls
    /// planned with [`Client::plan_polls`] leave free.
    pub fn extras(&self) -> Client {
        let mut c = self.clone();
        c.priority = Priority::Extra;
        c
    }

    /// Which share of the cap this handle's requests draw on.
    pub fn priority(&self) -> Priority {
        self.priority
    }

    fn cap(&self) -> std::sync::MutexGuard<'_, RateCap> {
        match self.cap.lock() {
            Ok(c) => c,
            Err(p) => p.into_inner(),
        }
    }

    /// Reserves slots for status polls planned at `times` (clock time, ascending); an empty plan once
    /// the pipeline has ended.
    pub fn plan_polls(&self, times: Vec<Duration>) {
        self.cap().set_planned(times);
    }

    /// The cap now in force (requests per window), lowered by any 429.
    pub fn requests_per_window(&self) -> usize {
        self.cap().max()
    }

    /// A handle on the same client whose reads ([`Client::pipeline_status`], [`Client::execution_status`],
    /// result pages) are patient: made while following a run that goes on whether or not it is seen, they
    /// retry every failure that can heal (back-off up to 30 s, within the rate cap) until the deadline
    /// ([`Client::with_deadline`]) or the stop signal, with no count of attempts. Answers that cannot heal
    /// (401, 403, 404 but right after the start, 400, 402) still end them at once. Without a deadline
    /// the counts of [`retry::max_attempts`] apply. Starts and cancels are unchanged.
    pub fn patient(&self) -> Client {
        let mut c = self.clone();
        c.patient = true;
        c
    }

    /// Retries stop at this point of clock time (the overall `timeout`).
    pub fn with_deadline(mut self, deadline: Duration) -> Self {
        self.deadline = Some(deadline);
        self
    }

    /// Waits for retries are cut short when this flips to `true` (a signal).
    pub fn with_stop(mut self, stop: watch::Receiver<bool>) -> Self {
        self.stop = Some(stop);
        self
    }

    /// An absolute URL for an API path such as `/api/v1/...`.
    /// The API's base URL.
    pub(crate) fn base_url(&self) -> &Url {
        &self.base
    }

    pub(crate) fn url(&self, path: &str) -> Url {
        let mut url = self.base.clone();
        let joined = format!("{}{}", self.base.path().trim_end_matches('/'), path);
        url.set_path(&joined);
        url
    }

    /// Sleeps `d` of clock time; `false` when interrupted by the stop signal.
    async fn sleep_unless_stopped(&self, d: Duration) -> bool {
        match &self.stop {
            None => {
                self.clock.sleep(d).await;
                true
            }
            Some(stop) => self.clock.sleep_unless_stopped(d, stop).await,
        }
    }

    /// Waits until the rate cap allows a request of this handle's [`Priority`] (or only records it, when
    /// `urgent`); `false` when the stop signal came first.
    async fn wait_for_slot(&self, urgent: bool) -> bool {
        loop {
            let wait = {
                let mut cap = self.cap();
                let now = self.clock.elapsed();
                let wait = match (urgent, self.priority) {
                    (true, _) => Duration::ZERO,
                    (false, Priority::First) => cap.wait(now),
                    (false, Priority::Extra) => cap.wait_extra(now),
                };
                if wait.is_zero() {
                    cap.record(now);
                }
                wait
            };
            if wait.is_zero() {
                return true;
            }
            if !self.sleep_unless_stopped(wait).await {
                return false;
            }
        }
    }

    fn debug_line(&self, text: &str) {
        if let Some(hook) = &self.debug {
            hook(text);
        }
    }

    /// Sends one request and decodes the successful response with `decode`, retrying with the policy of
    /// `kind` (see [`retry`]): transport failures, HTTP errors and bodies that do not decode (a proxy's
    /// error page with a 200) all go through the one loop, the one rate cap and the one back-off.
    pub(crate) async fn send_decoded<T>(
        &self,
        kind: RequestKind,
        method: Method,
        url: Url,
        body: Option<&Value>,
        max_body: usize,
        decode: impl Fn(&str, Response) -> Result<T, Error>,
    ) -> Result<T, Error> {
        let endpoint = format!("{} {}", method, url.path());
        let mut attempt: u32 = 0;
        loop {
            attempt += 1;
            // Cancels are what a stop is for: they count against the cap but never wait for it.
            if !self.wait_for_slot(kind == RequestKind::Cancel).await {
                return Err(Error::Interrupted { endpoint });
            }
            let result = self
                .attempt(&method, &url, body, max_body, &endpoint)
                .await
                .and_then(|resp| decode(&endpoint, resp));
            let error = match result {
                Ok(v) => return Ok(v),
                Err(e) => e,
            };
            let retry_after = match &error {
                Error::Api { retry_after, .. } => *retry_after,
                _ => None,
            };
            if error.status() == Some(429) {
                let lowered = self.cap().lower(self.clock.elapsed());
                if let Some(max) = lowered {
                    self.debug_line(&format!(
                        "{endpoint}: HTTP 429: the request cap is now {max} per {} s for the rest of the run",
                        crate::rate::DEFAULT_WINDOW.as_secs()
                    ));
                }
            }
            if !retry::retryable(kind, &error) {
                return Err(error);
            }
            let wait = retry::delay(attempt, retry_after, rand::random::<f64>());
            let patient = self.patient && self.deadline.is_some();
            let past_deadline = self
                .deadline
                .filter(|deadline| self.clock.elapsed() + wait >= *deadline);
            if let Some(deadline) = past_deadline
                && patient
                && !retry::gives_up(kind, &error, attempt, true)
            {
                // A patient read gives up at the deadline itself, not before it: the caller then sees
                // that its time ran out rather than an outage.
                let left = deadline.saturating_sub(self.clock.elapsed());
                if !self.sleep_unless_stopped(left).await {
                    return Err(Error::Interrupted { endpoint });
                }
            }
            if retry::gives_up(kind, &error, attempt, patient) || past_deadline.is_some() {
                return Err(Error::RetriesExhausted {
                    endpoint,
                    attempts: attempt,
                    last: Box::new(error),
                });
            }
            self.debug_line(&format!(
                "{endpoint}: attempt {attempt} failed ({error}); retrying in {:.1}s",
                wait.as_secs_f64()
            ));
            if let Some(hook) = &self.on_retry {
                hook(&Retry {
                    endpoint: &endpoint,
                    attempt,
                    error: &error,
                    wait,
                    patient,
                });
            }
            if !self.sleep_unless_stopped(wait).await {
                return Err(Error::Interrupted { endpoint });
            }
        }
    }

    async fn attempt(
        &self,
        method: &Method,
        url: &Url,
        body: Option<&Value>,
        max_body: usize,
        endpoint: &str,
    ) -> Result<Response, Error> {
        let mut req = self.http.request(method.clone(), url.clone());
        if url.path().ends_with("/csv") {
            // The CSV endpoints answer `text/csv`: replaces the client's default `Accept` (a request
            // header wins over a default one).
            req = req.header(ACCEPT, HeaderValue::from_static("text/csv"));
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        let started = std::time::Instant::now();
        let mut resp = req
            .send()
            .await
            .map_err(|e| self.transport_error(endpoint, &e))?;
        let status = resp.status().as_u16();
        let success = (200..300).contains(&status);
        let headers = resp.headers().clone();
        if success
            && let Some(len) = resp.content_length()
            && len > max_body as u64
        {
            return Err(Error::TooLarge {
                endpoint: endpoint.to_string(),
                status,
                limit: max_body,
            });
        }
        // An error's body only feeds a short excerpt: read its start, and keep the status whatever follows.
        let limit = if success {
            max_body
        } else {
            max_body.min(MAX_ERROR_BODY)
        };
        let mut bytes = Vec::new();
        loop {
            match resp.chunk().await {
                Ok(Some(chunk)) => {
                    if bytes.len() + chunk.len() > limit {
                        if !success {
                            let room = limit - bytes.len();
                            bytes.extend_from_slice(&chunk[..room]);
                            break;
                        }
                        return Err(Error::TooLarge {
                            endpoint: endpoint.to_string(),
                            status,
                            limit: max_body,
                        });
                    }
                    bytes.extend_from_slice(&chunk);
                }
                Ok(None) => break,
                Err(e) if success => return Err(self.transport_error(endpoint, &e)),
                Err(_) => break,
            }
        }
        self.debug_line(&format!(
            "{endpoint} → {status} ({} bytes, {} ms)",
            bytes.len(),
            started.elapsed().as_millis()
        ));
        if success {
            return Ok(Response {
                status,
                headers,
                body: bytes,
            });
        }
        let retry_after = headers
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| retry::parse_retry_after(v, SystemTime::now()));
        let message = error_message(&headers, &bytes);
        Err(Error::Api {
            endpoint: endpoint.to_string(),
            status,
            message: redact(&message, &[self.key.expose()]),
            retry_after,
        })
    }

    fn transport_error(&self, endpoint: &str, e: &reqwest::Error) -> Error {
        // reqwest's messages include the URL (never the key: it travels in a header), but redact anyway.
        let mut detail = e.to_string();
        let mut source = std::error::Error::source(e);
        while let Some(s) = source {
            detail.push_str(": ");
            detail.push_str(&s.to_string());
            source = s.source();
        }
        let detail = redact(&detail, &[self.key.expose()]);
        if e.is_timeout() {
            Error::Timeout {
                endpoint: endpoint.to_string(),
                after: self.per_request_timeout,
            }
        } else if e.is_connect() {
            Error::Connect {
                endpoint: endpoint.to_string(),
                detail,
            }
        } else {
            Error::Dropped {
                endpoint: endpoint.to_string(),
                detail,
            }
        }
    }

    pub(crate) async fn json(
        &self,
        kind: RequestKind,
        method: Method,
        url: Url,
        body: Option<&Value>,
    ) -> Result<Value, Error> {
        self.send_decoded(kind, method, url, body, MAX_JSON_BODY, |endpoint, resp| {
            decode_json(endpoint, &resp)
        })
        .await
    }

    /// Starts the pipeline rooted at a saved query.
    /// <https://docs.dune.com/api-reference/executions/endpoint/execute-query-pipeline>
    pub async fn execute_query_pipeline(
        &self,
        query_id: u64,
        request: &ExecuteQueryPipelineRequest,
    ) -> Result<String, Error> {
        let url = self.url(&format!("/api/v1/query/{query_id}/pipeline/execute"));
        let endpoint = format!("POST {}", url.path());
        let body = serde_json::to_value(request).map_err(|e| Error::Encode {
            endpoint: endpoint.clone(),
            detail: e.to_string(),
        })?;
        let v = self
            .json(RequestKind::Start, Method::POST, url, Some(&body))
            .await?;
        models::pipeline_execution_id(&v).map_err(unreadable(endpoint, &v))
    }

    /// Reads the pipeline Dune builds for a saved query (the query and the materialized views in its
    /// lineage), for the given tier and parameters.
    /// <https://docs.dune.com/api-reference/queries/endpoint/get-query-pipeline>
    pub async fn query_pipeline(
        &self,
        query_id: u64,
        performance: &Tier,
        query_parameters: Option<&Map<String, Value>>,
    ) -> Result<Definition, Error> {
        let mut url = self.url(&format!("/api/v1/query/{query_id}/pipeline"));
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("performance", performance.as_str());
            if let Some(p) = query_parameters {
                q.append_pair("query_parameters", &Value::Object(p.clone()).to_string());
            }
        }
        let endpoint = format!("GET {}", url.path());
        let v = self.json(RequestKind::Read, Method::GET, url, None).await?;
        Definition::from_response(&v).map_err(unreadable(endpoint, &v))
    }

    /// Starts an explicit pipeline: the definition's nodes, as they are.
    /// <https://docs.dune.com/api-reference/pipelines/endpoint/execute-pipeline>
    pub async fn execute_pipeline(&self, definition: &Definition) -> Result<String, Error> {
        let url = self.url("/api/v1/pipelines/execute");
        let endpoint = format!("POST {}", url.path());
        let v = self
            .json(
                RequestKind::Start,
                Method::POST,
                url,
                Some(&definition.to_value()),
            )
            .await?;
        models::pipeline_execution_id(&v).map_err(unreadable(endpoint, &v))
    }

    /// Reads a pipeline execution's status.
    /// <https://docs.dune.com/api-reference/pipelines/endpoint/get-pipeline-status>
    pub async fn pipeline_status(&self, id: &str, fresh: bool) -> Result<PipelineStatus, Error> {
        let url = self.url(&format!(
            "/api/v1/pipelines/executions/{}/status",
            path_segment(id)
        ));
        let endpoint = format!("GET {}", url.path());
        let kind = if fresh {
            RequestKind::FreshStatus
        } else {
            RequestKind::Read
        };
        let v = self.json(kind, Method::GET, url, None).await?;
        PipelineStatus::from_value(&v).map_err(unreadable(endpoint, &v))
    }

    /// Reads one execution's status.
    /// <https://docs.dune.com/api-reference/executions/endpoint/get-execution-status>
    pub async fn execution_status(&self, execution_id: &str) -> Result<ExecutionStatus, Error> {
        let url = self.url(&format!(
            "/api/v1/execution/{}/status",
            path_segment(execution_id)
        ));
        let endpoint = format!("GET {}", url.path());
        let v = self.json(RequestKind::Read, Method::GET, url, None).await?;
        ExecutionStatus::from_value(&v).map_err(unreadable(endpoint, &v))
    }

    /// Reads the latest result of a saved query, whoever ran it: its execution, state, end time and
    /// metadata, with at most `limit` rows (which are not kept), and Dune's `Date` header. Partial results
    /// are allowed so that their state can be told apart from an error. A query that never ran is a 404.
    /// <https://docs.dune.com/api-reference/executions/endpoint/get-query-result>
    pub async fn query_latest_result(
        &self,
        query_id: u64,
        limit: u64,
    ) -> Result<LatestResult, Error> {
        let mut url = self.url(&format!("/api/v1/query/{query_id}/results"));
        url.query_pairs_mut()
            .append_pair("limit", &limit.to_string())
            .append_pair("allow_partial_results", "true");
        self.get_dated(url, |v, date| {
            let mut latest = LatestResult::from_value(v)?;
            latest.server_date = date;
            Ok(latest)
        })
        .await
    }

    /// A read of a JSON body, decoded by `read` with the response's `Date` header (Dune's clock).
    async fn get_dated<T>(
        &self,
        url: Url,
        read: impl Fn(&Value, Option<SystemTime>) -> Result<T, String>,
    ) -> Result<T, Error> {
        self.send_decoded(
            RequestKind::Read,
            Method::GET,
            url,
            None,
            MAX_JSON_BODY,
            |endpoint, resp| {
                let v = decode_json(endpoint, &resp)?;
                read(&v, server_date(&resp.headers)).map_err(unreadable(endpoint.to_string(), &v))
            },
        )
        .await
    }

    /// Reads the account's usage in the current billing period (free: it spends no credits). Account-wide:
    /// whatever else uses the key counts too.
    /// <https://docs.dune.com/api-reference/usage/endpoint/get-usage>
    pub async fn usage(&self) -> Result<Usage, Error> {
        let url = self.url("/api/v1/usage");
        let endpoint = format!("POST {}", url.path());
        let v = self
            .json(
                RequestKind::Read,
                Method::POST,
                url,
                Some(&Value::Object(Map::new())),
            )
            .await?;
        Usage::from_value(&v).map_err(unreadable(endpoint, &v))
    }

    /// Reads a materialized view by its full name (`dune.<team>.<name>`): its query, size, owner and the
    /// ids of its latest refresh executions (whose status says when each ended and what it cost), with
    /// Dune's `Date` header. An unknown view is a 404. Minimum key scope: Read.
    /// <https://docs.dune.com/api-reference/materialized-views/get>
    pub async fn materialized_view(&self, name: &str) -> Result<MaterializedView, Error> {
        let url = self.url(&format!(
            "/api/v1/materialized-views/{}",
            path_segment(name)
        ));
        self.get_dated(url, |v, date| {
            let mut view = MaterializedView::from_value(v)?;
            view.server_date = date;
            Ok(view)
        })
        .await
    }

    /// Cancels an execution; `Ok(true)` when Dune says it did.
    /// <https://docs.dune.com/api-reference/executions/endpoint/cancel-execution>
    pub async fn cancel_execution(&self, execution_id: &str) -> Result<bool, Error> {
        let url = self.url(&format!(
            "/api/v1/execution/{}/cancel",
            path_segment(execution_id)
        ));
        let v = self
            .json(RequestKind::Cancel, Method::POST, url, None)
            .await?;
        Ok(models::cancel_success(&v))
    }
}

pub(crate) fn content_type(headers: &HeaderMap) -> String {
    headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| truncate_chars(v, 60))
        .unwrap_or_else(|| "no content type".into())
}

/// The `Date` header of a response, when it is an HTTP date.
fn server_date(headers: &HeaderMap) -> Option<SystemTime> {
    headers
        .get(reqwest::header::DATE)
        .and_then(|d| d.to_str().ok())
        .and_then(|d| httpdate::parse_http_date(d).ok())
}

/// A JSON body that is not what the endpoint documents.
pub(crate) fn unreadable(endpoint: String, v: &Value) -> impl FnOnce(String) -> Error + '_ {
    move |reason| Error::Decode {
        endpoint,
        status: 200,
        content_type: "application/json".into(),
        reason,
        excerpt: error::excerpt(v.to_string().as_bytes(), 120),
    }
}

/// The short, single-line message of an HTTP error response: Dune's `{"error": ...}` when the body has
/// one, else the content type and an excerpt of the body.
pub(crate) fn error_message(headers: &HeaderMap, body: &[u8]) -> String {
    serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| match v.get("error") {
            Some(Value::String(s)) => Some(s.clone()),
            Some(other) => other
                .get("message")
                .and_then(Value::as_str)
                .map(str::to_string),
            None => None,
        })
        .map(|m| error::excerpt(m.as_bytes(), 300))
        .unwrap_or_else(|| {
            let ct = content_type(headers);
            format!("{} body: {}", ct, error::excerpt(body, 120))
        })
}

/// Reads a successful response's body as JSON; anything else is a [`Error::Decode`] with an excerpt.
pub(crate) fn decode_json(endpoint: &str, resp: &Response) -> Result<Value, Error> {
    serde_json::from_slice::<Value>(&resp.body).map_err(|e| Error::Decode {
        endpoint: endpoint.to_string(),
        status: resp.status,
        content_type: content_type(&resp.headers),
        reason: format!("not JSON ({e})"),
        excerpt: error::excerpt(&resp.body, 120),
    })
}

/// Percent-encodes an id taken from a response before it goes into a URL path, so a hostile id cannot
/// change the path (`../`, `?`, `#`).
pub(crate) fn path_segment(id: &str) -> String {
    let mut out = String::with_capacity(id.len());
    for b in id.bytes() {
        if b.is_ascii_alphanumeric()
            || matches!(b, b'-' | b'_' | b'.' | b'~') && !id.starts_with('.')
        {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The largest page of results the client reads. Pages are bounded by the `limit` the caller asks for
/// (sized from the result's own metadata to a few MiB) and by Dune's own page cap; a page larger than this
/// is an error ([`Error::TooLarge`]) that the pager ([`crate::results`]) answers by asking again for fewer
/// rows.
pub(crate) const MAX_RESULT_PAGE: usize = 24 * 1024 * 1024;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_cannot_escape_the_path() {
        assert_eq!(
            path_segment("01HKZJ2683PHF9Q9PHHQ8FW4Q1"),
            "01HKZJ2683PHF9Q9PHHQ8FW4Q1"
        );
        assert_eq!(path_segment("../x?y#z"), "%2E%2E%2Fx%3Fy%23z");
    }

    mod properties {
        use super::*;
        use crate::models::{cancel_success, pipeline_execution_id};
        use crate::testing::{hostile, json};
        use proptest::prelude::*;

        fn headers(content_type: &str) -> HeaderMap {
            let mut h = HeaderMap::new();
            if let Ok(v) = HeaderValue::from_str(content_type) {
                h.insert(CONTENT_TYPE, v);
            }
            h
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(256))]

            #[test]
            fn parsing_any_json_never_panics(v in json()) {
                let _ = PipelineStatus::from_value(&v);
                let _ = ExecutionStatus::from_value(&v);
                let _ = pipeline_execution_id(&v);
                let _ = cancel_success(&v);
                if let Value::Object(o) = &v {
                    prop_assert!(PipelineStatus::from_value(&v).is_ok(), "{o:?}");
                }
            }

            #[test]
            fn parsing_any_bytes_never_panics_and_errors_stay_short(
                body in prop_oneof![
                    prop::collection::vec(any::<u8>(), 0..2048),
                    json().prop_map(|v| v.to_string().into_bytes()),
                    hostile().prop_map(String::into_bytes),
                ],
                status in 100u16..600,
                content_type in hostile(),
            ) {
                let resp = Response { status, headers: headers(&content_type), body: body.clone() };
                match decode_json("GET /api/v1/x", &resp) {
                    Ok(v) => {
                        let _ = PipelineStatus::from_value(&v);
                        let _ = ExecutionStatus::from_value(&v);
                    }
                    Err(e) => {
                        let text = e.to_string();
                        prop_assert!(!text.contains(['\n', '\r']), "{text:?}");
                        prop_assert!(text.chars().count() < 600, "{text:?}");
                    }
                }
                let message = error_message(&resp.headers, &body);
                prop_assert!(!message.contains(['\n', '\r']), "{message:?}");
                prop_assert!(message.chars().count() <= 300, "{message:?}");
            }
        }
    }
}
