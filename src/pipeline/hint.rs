//! What the user of the action should do about a Dune API error: the hints name the action's inputs and
//! the job, which the client crate knows nothing of.

/// What the user should do about `e`.
pub fn hint(e: &dune_api::Error) -> &'static str {
    match e.status() {
        Some(401) => {
            "check that the `api_key` input (e.g. secrets.DUNE_API_KEY) holds a valid, unrevoked Dune API key"
        }
        Some(402) => match e.limit() {
            Some(dune_api::error::Limit::PerRequest) => {
                "Dune refused the request (HTTP 402, not retried) because it would exceed the per-request limit configured for the key's plan: raise that limit in your Dune settings (dune.com → Settings → API), or make the pipeline cheaper"
            }
            Some(dune_api::error::Limit::BillingCycle) => {
                "Dune refused the request (HTTP 402, not retried) because it would exceed the limit per billing cycle configured for the key's plan: raise that limit in your Dune settings (dune.com → Settings → API) or wait for the next billing cycle"
            }
            _ => {
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
        assert!(hint(&cycle).contains("limit per billing cycle"));
        let request = api(
            402,
            "This api request would exceed your configured limits per request.",
        );
        assert!(hint(&request).contains("per-request limit"));
        assert!(hint(&api(403, "Not allowed to execute query")).contains("scope"));
        assert!(hint(&api(503, "")).contains("re-run the job later"));
        let setup = dune_api::Error::Setup {
            detail: String::new(),
        };
        assert!(hint(&setup).contains("proxy"));
    }
}
