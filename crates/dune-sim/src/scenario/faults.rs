//! Injected faults: which endpoint, after how many requests, and what answer instead (errors, 429s,
//! dropped connections, truncated, garbage, oversized or slow bodies), plus Dune's 402/403 wordings.

use std::time::Duration;

use anyhow::bail;
use serde::{Deserialize, Serialize};

use crate::scenario::time::opt_duration_serde;

fn is_false(b: &bool) -> bool {
    !*b
}

/// Endpoint a fault applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultEndpoint {
    /// `POST /query/{id}/pipeline/execute`
    PipelineExecute,
    /// `POST /pipelines/execute`
    PipelinesExecute,
    /// `GET /query/{id}/pipeline`
    QueryPipeline,
    /// `GET /pipelines/executions/{id}/status`
    PipelineStatus,
    /// `GET /execution/{id}/status`
    ExecutionStatus,
    /// `GET /execution/{id}/results`
    ExecutionResults,
    /// `GET /execution/{id}/results/csv`
    ExecutionResultsCsv,
    /// `POST /execution/{id}/cancel`
    ExecutionCancel,
    /// `GET /query/{id}/results`
    QueryResults,
    /// `GET /query/{id}/results/csv`
    QueryResultsCsv,
    /// `GET /query/{id}`
    GetQuery,
    /// `PATCH /query/{id}`
    UpdateQuery,
    /// `GET /materialized-views/{name}`
    MaterializedView,
    /// Every request (that passed authentication), including unknown paths.
    Any,
}

/// A fault: after `after` matching requests went through normally, the next matching requests get
/// `responses`, one each, in order; then normal behaviour resumes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fault {
    pub endpoint: FaultEndpoint,
    #[serde(default)]
    pub after: usize,
    pub responses: Vec<FaultResponse>,
    /// Only requests about this node's execution (its status, results, cancel) match; `None`: all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<u64>,
}

impl Fault {
    /// A fault on `endpoint` that starts with the first matching request.
    pub fn new(
        endpoint: FaultEndpoint,
        responses: impl IntoIterator<Item = FaultResponse>,
    ) -> Self {
        Fault {
            endpoint,
            after: 0,
            responses: responses.into_iter().collect(),
            node: None,
        }
    }

    /// Matches only requests about node `id`'s execution.
    pub fn for_node(mut self, id: u64) -> Self {
        self.node = Some(id);
        self
    }

    /// Lets `n` matching requests through normally first.
    pub fn after(mut self, n: usize) -> Self {
        self.after = n;
        self
    }
}

/// One injected response. Exactly one of `status`, `drop`, `drop_mid_body`, `garbage`, `oversized`,
/// `delay`, `slow_drip`, `pass` must be set; `body`, `content_type` and `retry_after` go with `status`;
/// `apply` goes with `status`, `drop`, `garbage` and `oversized`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultResponse {
    /// Plain error response with this status code (body `{"error": "..."}` unless `body` is set).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// Body text of a `status` response.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// Message of a `status` response: the body becomes `{"error": "<message>"}` (not with `body`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Content type of a `status` response (default `application/json`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    /// `Retry-After` header value, sent verbatim.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after: Option<String>,
    /// Process the request normally (e.g. start the pipeline) but send the fault instead of the
    /// normal response: models a lost response.
    #[serde(default, skip_serializing_if = "is_false")]
    pub apply: bool,
    /// Close the connection without any response.
    #[serde(default, skip_serializing_if = "is_false")]
    pub drop: bool,
    /// Send the normal status and headers and part of the body, then abort the connection.
    #[serde(default, skip_serializing_if = "is_false")]
    pub drop_mid_body: bool,
    /// 200 `application/json` with a malformed JSON body.
    #[serde(default, skip_serializing_if = "is_false")]
    pub garbage: bool,
    /// 200 `application/json` with a body of this many bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oversized: Option<u64>,
    /// Wait this (virtual) long, then respond normally.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "opt_duration_serde"
    )]
    pub delay: Option<Duration>,
    /// Send the normal body a few bytes at a time over this (virtual) duration.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "opt_duration_serde"
    )]
    pub slow_drip: Option<Duration>,
    /// Respond normally.
    #[serde(default, skip_serializing_if = "is_false")]
    pub pass: bool,
}

/// The validated meaning of a [`FaultResponse`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum FaultKind {
    Status {
        status: u16,
        body: Option<String>,
        content_type: Option<String>,
        retry_after: Option<String>,
    },
    Drop,
    DropMidBody,
    Garbage,
    Oversized(u64),
    Delay(Duration),
    SlowDrip(Duration),
    Pass,
}

impl FaultResponse {
    /// A plain error response.
    pub fn status(status: u16) -> Self {
        FaultResponse {
            status: Some(status),
            ..Default::default()
        }
    }

    /// A status response with body `{"error": message}`.
    pub fn error(status: u16, message: impl Into<String>) -> Self {
        FaultResponse {
            status: Some(status),
            error: Some(message.into()),
            ..Default::default()
        }
    }

    /// 402 with Dune's message for an account over its configured limits per billing cycle.
    pub fn billing_limit_exceeded() -> Self {
        Self::error(402, BILLING_LIMIT_MESSAGE)
    }

    /// 402 with Dune's message for a request over the configured limits per request.
    pub fn request_limit_exceeded() -> Self {
        Self::error(402, REQUEST_LIMIT_MESSAGE)
    }

    /// 403 with the message of Dune's spec (archived/unsaved query, or a key without the scope).
    pub fn forbidden() -> Self {
        Self::error(403, FORBIDDEN_MESSAGE)
    }

    /// A preset by name, as accepted by the binary's `--fault ENDPOINT:PRESET`:
    /// `billing_limit` (402), `request_limit` (402), `forbidden` (403), `rate_limited` (429,
    /// `Retry-After: 1`), `drop`, `garbage`, or an HTTP status code (`503`).
    pub fn preset(name: &str) -> Option<Self> {
        Some(match name {
            "billing_limit" => Self::billing_limit_exceeded(),
            "request_limit" => Self::request_limit_exceeded(),
            "forbidden" => Self::forbidden(),
            "rate_limited" => Self::rate_limited("1"),
            "drop" => Self::drop_connection(),
            "garbage" => Self::garbage(),
            code => Self::status(code.parse().ok()?),
        })
    }

    /// A 429 with a `Retry-After` header.
    pub fn rate_limited(retry_after: impl Into<String>) -> Self {
        FaultResponse {
            status: Some(429),
            retry_after: Some(retry_after.into()),
            ..Default::default()
        }
    }

    /// Close the connection without a response.
    pub fn drop_connection() -> Self {
        FaultResponse {
            drop: true,
            ..Default::default()
        }
    }

    /// Abort the connection in the middle of the body.
    pub fn drop_mid_body() -> Self {
        FaultResponse {
            drop_mid_body: true,
            ..Default::default()
        }
    }

    /// 200 with malformed JSON.
    pub fn garbage() -> Self {
        FaultResponse {
            garbage: true,
            ..Default::default()
        }
    }

    /// 200 with a body of `bytes` bytes.
    pub fn oversized(bytes: u64) -> Self {
        FaultResponse {
            oversized: Some(bytes),
            ..Default::default()
        }
    }

    /// Normal response after a (virtual) delay.
    pub fn delay(delay: Duration) -> Self {
        FaultResponse {
            delay: Some(delay),
            ..Default::default()
        }
    }

    /// Normal response, body dripped over a (virtual) duration.
    pub fn slow_drip(over: Duration) -> Self {
        FaultResponse {
            slow_drip: Some(over),
            ..Default::default()
        }
    }

    /// Normal response.
    pub fn pass() -> Self {
        FaultResponse {
            pass: true,
            ..Default::default()
        }
    }

    /// Process the request normally but send this fault instead (a lost response).
    pub fn applied(mut self) -> Self {
        self.apply = true;
        self
    }

    pub(crate) fn kind(&self) -> anyhow::Result<FaultKind> {
        let mut kinds = Vec::new();
        if let Some(status) = self.status {
            kinds.push((
                "status",
                FaultKind::Status {
                    status,
                    body: match &self.error {
                        Some(m) => Some(serde_json::json!({ "error": m }).to_string()),
                        None => self.body.clone(),
                    },
                    content_type: self.content_type.clone(),
                    retry_after: self.retry_after.clone(),
                },
            ));
        }
        if self.drop {
            kinds.push(("drop", FaultKind::Drop));
        }
        if self.drop_mid_body {
            kinds.push(("drop_mid_body", FaultKind::DropMidBody));
        }
        if self.garbage {
            kinds.push(("garbage", FaultKind::Garbage));
        }
        if let Some(n) = self.oversized {
            kinds.push(("oversized", FaultKind::Oversized(n)));
        }
        if let Some(d) = self.delay {
            kinds.push(("delay", FaultKind::Delay(d)));
        }
        if let Some(d) = self.slow_drip {
            kinds.push(("slow_drip", FaultKind::SlowDrip(d)));
        }
        if self.pass {
            kinds.push(("pass", FaultKind::Pass));
        }
        let names: Vec<&str> = kinds.iter().map(|(n, _)| *n).collect();
        let Some((name, kind)) = kinds.pop() else {
            bail!(
                "a fault response needs exactly one of: status, drop, drop_mid_body, garbage, oversized, delay, slow_drip, pass"
            );
        };
        if !kinds.is_empty() {
            bail!(
                "a fault response needs exactly one kind, found: {}",
                names.join(", ")
            );
        }
        if self.status.is_none() {
            for (field, set) in [
                ("body", self.body.is_some()),
                ("error", self.error.is_some()),
                ("content_type", self.content_type.is_some()),
                ("retry_after", self.retry_after.is_some()),
            ] {
                if set {
                    bail!("`{field}` only goes with `status` (found with `{name}`)");
                }
            }
        }
        if self.body.is_some() && self.error.is_some() {
            bail!("set at most one of `body` and `error`");
        }
        if self.apply && !matches!(name, "status" | "drop" | "garbage" | "oversized") {
            bail!(
                "`apply` only goes with status, drop, garbage or oversized (`{name}` responds normally anyway)"
            );
        }
        if let Some(status) = self.status
            && !(100..=999).contains(&status)
        {
            bail!("status {status} is not a valid HTTP status code");
        }
        if let Some(ct) = &self.content_type
            && ct.is_empty()
        {
            bail!("content_type must not be empty");
        }
        Ok(kind)
    }
}

/// 402 body text for an account over its limits per billing cycle (Dune's troubleshooting page).
pub const BILLING_LIMIT_MESSAGE: &str = "This api request would exceed your configured limits per billing cycle. Please visit your settings on dune.com and adjust your limits to continue usage.";
/// 402 body text for a request over the limits per request (dune-docs issue 486).
pub const REQUEST_LIMIT_MESSAGE: &str = "This api request would exceed your configured limits per request. Please visit your settings on dune.com and adjust your limits to continue usage.";
/// 403 body text (the example of `models.Error403` in Dune's OpenAPI spec).
pub const FORBIDDEN_MESSAGE: &str =
    "Not allowed to execute query. Query is archived, unsaved or not enough permissions";
