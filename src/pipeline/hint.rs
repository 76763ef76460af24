//! What the user of the action should do about a Dune API error: the hints name the action's inputs and
//! the job, which the client crate knows nothing of.

/// A limit a team sets on dune.com that Dune answers "would exceed your configured limits" for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfiguredLimit {
    /// "... configured limits per request": the cap on what one execution may cost.
    PerExecution,
    /// "... configured limits per billing cycle": the monthly credit limit.
    Monthly,
}

impl ConfiguredLimit {
    /// Which limit Dune's `message` names, when it is the "would exceed your configured limits" answer
    /// (to a request, or as a node's error).
    pub fn of_message(message: &str) -> Option<ConfiguredLimit> {
        let m = message.to_ascii_lowercase();
        if !m.contains("configured limit") {
            return None;
        }
        if m.contains("billing") || m.contains("month") {
            Some(ConfiguredLimit::Monthly)
        } else {
            Some(ConfiguredLimit::PerExecution)
        }
    }

    /// Which knob on dune.com it is, what to do, and that no retry helps.
    pub fn advice(self) -> &'static str {
        match self {
            ConfiguredLimit::PerExecution => {
                "this is the cap per execution your team set on dune.com (your settings on dune.com, usage limits): raise the per-execution cap there, or make the query cheaper (a shorter time range, fewer rows scanned, the medium tier). No retry helps, since the same work meets the same cap: it is not retried, and the step fails with exit 4"
            }
            ConfiguredLimit::Monthly => {
                "this is the monthly credit limit your team set on dune.com (your settings on dune.com, usage limits): raise the monthly limit there, or wait for the next billing period. No retry helps until then: it is not retried, and the step fails with exit 4"
            }
        }
    }
}

/// What the user should do about `e`.
pub fn hint(e: &dune_api::Error) -> &'static str {
    match e.status() {
        Some(401) => {
            "check that the `api_key` input (e.g. secrets.DUNE_API_KEY) holds a valid, unrevoked Dune API key"
        }
        Some(402) => match e.dune_message().and_then(ConfiguredLimit::of_message) {
            Some(limit) => limit.advice(),
            None => {
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
        _ => match e.root() {
            dune_api::Error::Connect { .. } => {
                "check `api_url` and the runner's network (proxies: HTTPS_PROXY is honoured)"
            }
            dune_api::Error::Timeout { .. } | dune_api::Error::Dropped { .. } => {
                "the network or Dune's API is slow or unstable: re-run the job, or raise `request_timeout`"
            }
            dune_api::Error::Setup { .. } => {
                "check `api_key` (it must be a plain Dune API key) and the runner's proxy settings (HTTPS_PROXY, NO_PROXY)"
            }
            _ => "re-run the job; if it persists, report it with the log of this step",
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(status: u16, message: &str) -> dune_api::Error {
        dune_api::Error::Api {
            endpoint: "POST /api/v1/query/1/pipeline/execute".into(),
            status,
            message: message.into(),
            retry_after: None,
        }
    }

    #[test]
    fn hints_name_the_inputs_and_plan_limits() {
        assert!(hint(&api(401, "")).contains("`api_key` input"));
        assert!(hint(&api(404, "")).contains("`query_id`"));
        let cycle = api(
            402,
            "This api request would exceed your configured limits per billing cycle.",
        );
        assert!(hint(&cycle).contains("monthly credit limit"));
        assert!(hint(&cycle).contains("No retry helps"));
        let request = api(
            402,
            "This api request would exceed your configured limits per request.",
        );
        assert!(hint(&request).contains("cap per execution"));
        assert!(hint(&request).contains("exit 4"));
        assert!(hint(&api(402, "Not enough credits")).contains("out of credits"));
        assert!(hint(&api(403, "Not allowed to execute query")).contains("scope"));
        assert!(hint(&api(503, "")).contains("re-run the job later"));
        let setup = dune_api::Error::Setup {
            detail: String::new(),
        };
        assert!(hint(&setup).contains("proxy"));
    }
}
