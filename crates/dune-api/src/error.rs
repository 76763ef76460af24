//! What can go wrong talking to Dune, with the endpoint named in every message and no secret in any.

use std::time::Duration;

/// An error from the Dune API client.
#[derive(Debug, Clone, thiserror::Error)]
pub enum Error {
    /// No connection could be made (DNS, refused, TLS).
    #[error("{endpoint}: could not connect to the Dune API: {detail}")]
    Connect {
        /// The request, as `METHOD /path` (never with a secret).
        endpoint: String,
        /// What the transport said.
        detail: String,
    },
    /// The request took longer than `request_timeout`.
    #[error("{endpoint}: no response within {}", humantime::format_duration(*.after))]
    Timeout {
        /// The request, as `METHOD /path` (never with a secret).
        endpoint: String,
        /// The per-request timeout that passed.
        after: Duration,
    },
    /// The connection broke before a whole response arrived.
    #[error("{endpoint}: the connection was dropped before the response was complete ({detail})")]
    Dropped {
        /// The request, as `METHOD /path` (never with a secret).
        endpoint: String,
        /// What the transport said.
        detail: String,
    },
    /// Dune answered with an HTTP error.
    #[error("{endpoint}: HTTP {status}: {message}")]
    Api {
        /// The request, as `METHOD /path` (never with a secret).
        endpoint: String,
        /// The HTTP status code.
        status: u16,
        /// Dune's error message (or a short excerpt of the body), on one line.
        message: String,
        /// How long Dune asked to wait (`Retry-After`), when it said.
        retry_after: Option<Duration>,
    },
    /// The response could not be read as what Dune documents.
    #[error(
        "{endpoint}: unreadable response (HTTP {status}, {content_type}): {reason}; body starts: {excerpt}"
    )]
    Decode {
        /// The request, as `METHOD /path` (never with a secret).
        endpoint: String,
        /// The HTTP status code.
        status: u16,
        /// The response's `Content-Type`.
        content_type: String,
        /// Why the body could not be read.
        reason: String,
        /// The start of the body, on one line.
        excerpt: String,
    },
    /// The response body was larger than the action reads.
    #[error(
        "{endpoint}: response body larger than {limit} bytes (HTTP {status}); refusing to read it"
    )]
    TooLarge {
        /// The request, as `METHOD /path` (never with a secret).
        endpoint: String,
        /// The HTTP status code.
        status: u16,
        /// The most bytes the client reads for this request.
        limit: usize,
    },
    /// The overall deadline passed while retrying.
    #[error("{endpoint}: gave up after {attempts} attempts: {last}")]
    RetriesExhausted {
        /// The request, as `METHOD /path` (never with a secret).
        endpoint: String,
        /// How many times the request was sent.
        attempts: u32,
        /// The last attempt's error.
        last: Box<Error>,
    },
    /// The run was stopped (timeout or cancellation) while a request was waiting to be retried.
    #[error("{endpoint}: stopped while waiting to retry")]
    Interrupted {
        /// The request, as `METHOD /path` (never with a secret).
        endpoint: String,
    },
}

impl Error {
    /// The HTTP status, when Dune answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            Error::Api { status, .. }
            | Error::Decode { status, .. }
            | Error::TooLarge { status, .. } => Some(*status),
            Error::RetriesExhausted { last, .. } => last.status(),
            _ => None,
        }
    }

    /// The error behind retries: the last attempt's error for [`Error::RetriesExhausted`], else itself.
    pub fn root(&self) -> &Error {
        match self {
            Error::RetriesExhausted { last, .. } => last.root(),
            e => e,
        }
    }

    /// Dune's own message, for an HTTP error.
    pub fn dune_message(&self) -> Option<&str> {
        match self.root() {
            Error::Api { message, .. } => Some(message),
            _ => None,
        }
    }

    /// Which plan limit a 402 names, from Dune's words.
    pub fn limit(&self) -> Option<Limit> {
        if self.status() != Some(402) {
            return None;
        }
        let m = self.dune_message()?.to_ascii_lowercase();
        if m.contains("per request") {
            Some(Limit::PerRequest)
        } else if m.contains("billing") {
            Some(Limit::BillingCycle)
        } else if m.contains("credit") {
            Some(Limit::Credits)
        } else {
            None
        }
    }

    /// What the user should do about it.
    pub fn hint(&self) -> &'static str {
        match self.status() {
            Some(401) => {
                "check that the `api_key` input (e.g. secrets.DUNE_API_KEY) holds a valid, unrevoked Dune API key"
            }
            Some(402) => match self.limit() {
                Some(Limit::PerRequest) => {
                    "Dune refused the request (HTTP 402, not retried) because it would exceed the per-request limit configured for the key's plan: raise that limit in your Dune settings (dune.com → Settings → API), or make the pipeline cheaper"
                }
                Some(Limit::BillingCycle) => {
                    "Dune refused the request (HTTP 402, not retried) because it would exceed the limit per billing cycle configured for the key's plan: raise that limit in your Dune settings (dune.com → Settings → API) or wait for the next billing cycle"
                }
                Some(Limit::Credits) | None => {
                    "Dune refused the request (HTTP 402, not retried): the key's plan is out of credits or over a configured limit; check the credits and limits in your Dune settings (dune.com → Settings → API)"
                }
            },
            Some(403) => {
                "Dune refused the request (HTTP 403, not retried): the key's scope does not allow it; use a key whose scope covers executing this query (and its views), and check that the query is saved, not archived, and visible to the key's owner or team"
            }
            Some(404) => {
                "check `query_id`: the query may not exist, may be private to another account, or may have no pipeline"
            }
            Some(400) => "Dune rejected the request: check `performance` and `query_parameters`",
            Some(429) => {
                "Dune kept rate-limiting the requests: run fewer pipelines at once or use a plan with higher limits"
            }
            Some(s) if s >= 500 => "Dune's API had a server error: re-run the job later",
            _ => match self.root() {
                Error::Connect { .. } => {
                    "check `api_url` and the runner's network (proxies: HTTPS_PROXY is honoured)"
                }
                Error::Timeout { .. } | Error::Dropped { .. } => {
                    "the network or Dune's API is slow or unstable: re-run the job, or raise `request_timeout`"
                }
                _ => "re-run the job; if it persists, report it with the log of this step",
            },
        }
    }
}

/// A plan limit a 402 names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    /// "...configured limits per request..."
    PerRequest,
    /// "...configured limits per billing cycle..."
    BillingCycle,
    /// Out of credits.
    Credits,
}

pub use crate::text::excerpt;

#[cfg(test)]
mod tests {
    use super::*;

    fn api(status: u16, message: &str) -> Error {
        Error::Api {
            endpoint: "POST /api/v1/query/1/pipeline/execute".into(),
            status,
            message: message.into(),
            retry_after: None,
        }
    }

    #[test]
    fn plan_limits_are_named() {
        let cycle = api(
            402,
            "This api request would exceed your configured limits per billing cycle.",
        );
        assert_eq!(cycle.limit(), Some(Limit::BillingCycle));
        assert!(cycle.hint().contains("limit per billing cycle"));
        assert!(
            cycle
                .to_string()
                .contains("HTTP 402: This api request would exceed")
        );
        let request = api(
            402,
            "This api request would exceed your configured limits per request.",
        );
        assert_eq!(request.limit(), Some(Limit::PerRequest));
        assert!(request.hint().contains("per-request limit"));
        assert_eq!(api(402, "Not enough credits").limit(), Some(Limit::Credits));
        assert_eq!(api(400, "per request").limit(), None);
        let scope = api(403, "Not allowed to execute query");
        assert!(scope.hint().contains("scope"));
        assert_eq!(scope.dune_message(), Some("Not allowed to execute query"));
        for e in [cycle, request, scope] {
            assert!(!crate::retry::retryable(crate::retry::Kind::Read, &e));
            assert!(!crate::retry::retryable(crate::retry::Kind::Start, &e));
        }
    }
}
