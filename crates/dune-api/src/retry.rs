//! The one retry policy: which failures are retried for which kind of request, and how long to wait.

use std::time::{Duration, SystemTime};

use crate::error::Error;

/// What a request does, which decides what is safe to retry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RequestKind {
    /// A read (status, results, definition): retried on any transient failure.
    Read,
    /// A pipeline status read right after the start: a 404 is also retried (the new execution may not be
    /// visible yet).
    FreshStatus,
    /// The POST that starts a pipeline: retried only when Dune cannot have started one (a 429, or a
    /// connection that was never established). There is no idempotency key.
    Start,
    /// Cancelling an execution: harmless to repeat, retried like a read but briefly.
    Cancel,
}

/// How many attempts in all, per kind (and, for a fresh status read, per failure). Reads are also cut off
/// by the client's deadline, whichever comes first: twelve attempts ride out about three and a half
/// minutes of outage (back-off 1, 2, 4, 8, 16 s, then 30 s). A patient handle's reads
/// ([`crate::Client::patient`]) have no count: see [`gives_up`].
pub fn max_attempts(kind: RequestKind, error: &Error) -> u32 {
    match (kind, error) {
        // "Not visible yet" lasts seconds: about 15 s of back-off.
        (RequestKind::FreshStatus, Error::Api { status: 404, .. }) => 5,
        // A garbled body (a proxy's page with a 200) is worth two more looks, not a long siege.
        (_, Error::Decode { .. }) => 3,
        (RequestKind::Read | RequestKind::FreshStatus, _) => 12,
        (RequestKind::Start, _) => 4,
        (RequestKind::Cancel, _) => 3,
    }
}

/// Whether `error` may be retried for a request of `kind`.
pub fn retryable(kind: RequestKind, error: &Error) -> bool {
    match (kind, error) {
        (_, Error::Api { status: 429, .. }) => true,
        (_, Error::Connect { .. }) => true,
        (RequestKind::Start, _) => false,
        (RequestKind::FreshStatus, Error::Api { status: 404, .. }) => true,
        (_, Error::Api { status, .. }) => matches!(status, 408 | 500 | 502 | 503 | 504),
        (_, Error::Timeout { .. } | Error::Dropped { .. } | Error::Decode { .. }) => true,
        _ => false,
    }
}

/// Whether a request of `kind` gives up after `attempt` attempts ending in `error` (which [`retryable`]
/// allows to retry). `patient`: the request is a read made while following a run that goes on whether or
/// not it is seen, so only the deadline and the stop signal end it (and the fresh-status 404 its count:
/// an execution that never becomes visible is an answer, not an outage).
pub fn gives_up(kind: RequestKind, error: &Error, attempt: u32, patient: bool) -> bool {
    let fresh_404 = kind == RequestKind::FreshStatus && error.status() == Some(404);
    if patient && matches!(kind, RequestKind::Read | RequestKind::FreshStatus) && !fresh_404 {
        return false;
    }
    attempt >= max_attempts(kind, error)
}

/// Parses `Retry-After`: delay-seconds or an HTTP date.
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let v = value.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    if let Ok(secs) = v.parse::<f64>() {
        if secs.is_finite() && secs >= 0.0 {
            return Some(Duration::from_secs_f64(secs.min(86_400.0)));
        }
        return None;
    }
    let at = httpdate::parse_http_date(v).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// The longest wait between two attempts that the client accepts (a larger `Retry-After` is capped).
pub const MAX_DELAY: Duration = Duration::from_secs(120);

/// The wait before attempt `attempt + 1` (`attempt` counts from 1): `Retry-After` when Dune sent one,
/// otherwise exponential back-off from 1 s (×2, at most 30 s) lengthened by up to half again at random.
pub fn delay(attempt: u32, retry_after: Option<Duration>, random: f64) -> Duration {
    if let Some(d) = retry_after {
        return d.min(MAX_DELAY);
    }
    let base = Duration::from_secs(1)
        .saturating_mul(1u32 << attempt.saturating_sub(1).min(5))
        .min(Duration::from_secs(30));
    let random = random.clamp(0.0, 1.0);
    // Jitter only lengthens the wait, so a retried status read never comes sooner than a second after the
    // failed one (the one-status-request-a-second rule holds for retries too).
    base.mul_f64(1.0 + 0.5 * random)
        .min(Duration::from_secs(30))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(status: u16) -> Error {
        Error::Api {
            endpoint: "x".into(),
            status,
            message: String::new(),
            retry_after: None,
        }
    }

    #[test]
    fn start_is_retried_only_when_nothing_can_have_started() {
        assert!(retryable(RequestKind::Start, &api(429)));
        assert!(retryable(
            RequestKind::Start,
            &Error::Connect {
                endpoint: "x".into(),
                detail: String::new()
            }
        ));
        for s in [500, 502, 503, 504] {
            assert!(!retryable(RequestKind::Start, &api(s)));
        }
        assert!(!retryable(
            RequestKind::Start,
            &Error::Timeout {
                endpoint: "x".into(),
                after: Duration::from_secs(1)
            }
        ));
        assert!(!retryable(
            RequestKind::Start,
            &Error::Dropped {
                endpoint: "x".into(),
                detail: String::new()
            }
        ));
    }

    #[test]
    fn reads_retry_transient_only() {
        for s in [429, 500, 502, 503, 504] {
            assert!(retryable(RequestKind::Read, &api(s)));
        }
        for s in [400, 401, 402, 403, 404] {
            assert!(!retryable(RequestKind::Read, &api(s)));
        }
        assert!(retryable(RequestKind::FreshStatus, &api(404)));
    }

    #[test]
    fn plan_limits_and_refusals_are_not_retried() {
        let dune = |status, message: &str| Error::Api {
            endpoint: "POST /api/v1/query/1/pipeline/execute".into(),
            status,
            message: message.into(),
            retry_after: None,
        };
        for e in [
            dune(
                402,
                "This api request would exceed your configured limits per billing cycle.",
            ),
            dune(
                402,
                "This api request would exceed your configured limits per request.",
            ),
            dune(403, "Not allowed to execute query"),
        ] {
            assert!(!retryable(RequestKind::Read, &e));
            assert!(!retryable(RequestKind::Start, &e));
        }
    }

    #[test]
    fn patient_reads_never_give_up_on_a_count() {
        let garbled = Error::Decode {
            endpoint: "x".into(),
            status: 200,
            content_type: "text/html".into(),
            reason: "not JSON".into(),
            excerpt: String::new(),
        };
        assert!(gives_up(RequestKind::Read, &garbled, 3, false));
        assert!(!gives_up(RequestKind::Read, &garbled, 3, true));
        assert!(!gives_up(RequestKind::Read, &api(503), 10_000, true));
        assert!(gives_up(RequestKind::Read, &api(503), 12, false));
        assert!(!gives_up(RequestKind::FreshStatus, &api(503), 100, true));
        assert!(gives_up(RequestKind::FreshStatus, &api(404), 5, true));
        assert!(gives_up(RequestKind::Start, &api(429), 4, true));
        assert!(gives_up(RequestKind::Cancel, &api(503), 3, true));
    }

    #[test]
    fn retry_after_forms() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        assert_eq!(parse_retry_after("2", now), Some(Duration::from_secs(2)));
        let later = httpdate::fmt_http_date(now + Duration::from_secs(7));
        assert_eq!(parse_retry_after(&later, now), Some(Duration::from_secs(7)));
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("-1", now), None);
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        assert_eq!(delay(1, None, 0.0), Duration::from_secs(1));
        assert_eq!(delay(1, None, 1.0), Duration::from_millis(1500));
        assert_eq!(delay(2, None, 0.0), Duration::from_secs(2));
        assert_eq!(delay(3, None, 1.0), Duration::from_secs(6));
        assert_eq!(delay(20, None, 1.0), Duration::from_secs(30));
        assert_eq!(
            delay(1, Some(Duration::from_secs(2)), 0.3),
            Duration::from_secs(2)
        );
        assert_eq!(delay(1, Some(Duration::from_secs(9999)), 0.3), MAX_DELAY);
    }
}
