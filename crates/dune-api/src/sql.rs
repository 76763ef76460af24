//! Raw SQL: `POST /api/v1/sql/execute` runs SQL that is saved nowhere (a key with read scope is enough;
//! credits are usage-based), followed like any execution (`/api/v1/execution/{id}/status` and
//! `…/results`), whose status and results report `query_id` 0. The body has `sql` and `performance` only:
//! the endpoint takes no query parameters, so `{{name}}` placeholders are not filled in.
//! <https://docs.dune.com/api-reference/executions/endpoint/execute-sql>

use reqwest::{Method, Url};
use serde_json::{Value, json};

use crate::client::{Client, MAX_JSON_BODY, decode_json};
use crate::error::Error;
use crate::retry::Kind;

impl Client {
    /// Starts an execution of `sql` on the tier `performance` (`medium`, `large`, or a tier name Dune
    /// accepts); returns its execution id. Like a pipeline start, it
    /// is retried only when Dune cannot have started it (a retry after an ambiguous failure could run the
    /// SQL, and spend its credits, twice).
    /// <https://docs.dune.com/api-reference/executions/endpoint/execute-sql>
    pub async fn execute_sql(&self, sql: &str, performance: &str) -> Result<String, Error> {
        let url = self.url("/api/v1/sql/execute");
        let body = json!({"sql": sql, "performance": performance});
        self.send_decoded(
            Kind::Start,
            Method::POST,
            url,
            Some(&body),
            MAX_JSON_BODY,
            |endpoint, resp| {
                let v = decode_json(endpoint, &resp)?;
                execution_id(&v).ok_or_else(|| Error::Decode {
                    endpoint: endpoint.to_string(),
                    status: resp.status,
                    content_type: "application/json".into(),
                    reason: "no `execution_id` in the response".into(),
                    excerpt: crate::text::excerpt(v.to_string().as_bytes(), 120),
                })
            },
        )
        .await
    }

    /// The URL of the first page of a saved query's latest result (`GET /api/v1/query/{id}/results`),
    /// `limit` rows from offset 0, partial results allowed. Its `execution_id` names the execution whose
    /// later pages [`Client::execution_results_url`] reads (the latest result may change meanwhile).
    /// <https://docs.dune.com/api-reference/executions/endpoint/get-query-result>
    pub fn query_results_url(&self, query_id: u64, limit: u64) -> Url {
        let mut url = self.url(&format!("/api/v1/query/{query_id}/results"));
        url.query_pairs_mut()
            .append_pair("limit", &limit.to_string())
            .append_pair("offset", "0")
            .append_pair("allow_partial_results", "true");
        url
    }
}

fn execution_id(v: &Value) -> Option<String> {
    v.get("execution_id")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

impl Client {
    /// The SQL saved for a query (`query_sql` of `GET /api/v1/query/{id}`).
    /// <https://docs.dune.com/api-reference/queries/endpoint/read>
    pub async fn query_sql(&self, query_id: u64) -> Result<String, Error> {
        let url = self.url(&format!("/api/v1/query/{query_id}"));
        self.send_decoded(
            Kind::Read,
            Method::GET,
            url,
            None,
            MAX_JSON_BODY,
            |endpoint, resp| {
                let v = decode_json(endpoint, &resp)?;
                v.get("query_sql")
                    .and_then(Value::as_str)
                    .map(str::to_owned)
                    .ok_or_else(|| Error::Decode {
                        endpoint: endpoint.to_string(),
                        status: resp.status,
                        content_type: "application/json".into(),
                        reason: "no `query_sql` in the response".into(),
                        excerpt: crate::text::excerpt(v.to_string().as_bytes(), 120),
                    })
            },
        )
        .await
    }
}
