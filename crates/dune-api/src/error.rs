//! What can go wrong talking to Dune, with the endpoint named in every message and no secret in any.

use std::time::Duration;

/// An error from the Dune API client.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The client could not be built (a key that is not a valid header value, a proxy that cannot be
    /// used, a TLS back-end that failed to start). Nothing was sent.
    #[error("the Dune API client could not be set up: {detail}")]
    Setup {
        /// What went wrong, never with a secret.
        detail: String,
    },
    /// A request body could not be serialised. Nothing was sent.
    #[error("{endpoint}: the request could not be encoded: {detail}")]
    Encode {
        /// The request, as `METHOD /path` (never with a secret).
        endpoint: String,
        /// What the serialiser said.
        detail: String,
    },
    /// No connection could be made (DNS, refused, TLS).
    #[error("{endpoint}: could not connect to the Dune API: {detail}")]
    Connect {
        /// The request, as `METHOD /path` (never with a secret).
        endpoint: String,
        /// What the transport said.
        detail: String,
    },
    /// The request took longer than the client's per-request timeout.
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
    /// The response body was larger than the client reads.
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
    /// The request was given up on after retries (the attempts of its kind were used up, or the deadline
    /// came before the next one).
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
}

/// A plan limit a 402 names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
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
        assert_eq!(api(402, "Not enough credits").limit(), Some(Limit::Credits));
        assert_eq!(api(400, "per request").limit(), None);
        let scope = api(403, "Not allowed to execute query");
        assert_eq!(scope.dune_message(), Some("Not allowed to execute query"));
    }
}
