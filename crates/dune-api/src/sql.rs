//! Raw SQL: `POST /api/v1/sql/execute` runs SQL that is saved nowhere (a key with read scope is enough;
//! credits are usage-based), followed like any execution (`/api/v1/execution/{id}/status` and
//! `…/results`), whose status and results report `query_id` 0. The body has `sql` and `performance` only:
//! the endpoint takes no query parameters, so `{{name}}` placeholders are not filled in.
//! <https://docs.dune.com/api-reference/executions/endpoint/execute-sql>

use reqwest::Method;
use serde_json::{Value, json};

use crate::client::{Client, unreadable};
use crate::error::Error;
use crate::retry::RequestKind;

/// A non-empty string field of a JSON object.
fn text_field(v: &Value, key: &str) -> Result<String, String> {
    v.get(key)
        .and_then(Value::as_str)
        .filter(|s| !s.trim().is_empty())
        .map(str::to_owned)
        .ok_or_else(|| format!("no `{key}` in the response"))
}

impl Client {
    /// Starts an execution of `sql` on the tier `performance` (`medium`, `large`, or a tier name Dune
    /// accepts); returns its execution id. Like a pipeline start, it is retried only when Dune cannot have
    /// started it (a retry after an ambiguous failure could run the SQL, and spend its credits, twice).
    /// <https://docs.dune.com/api-reference/executions/endpoint/execute-sql>
    pub async fn execute_sql(&self, sql: &str, performance: &str) -> Result<String, Error> {
        let url = self.url("/api/v1/sql/execute");
        let endpoint = format!("POST {}", url.path());
        let body = json!({"sql": sql, "performance": performance});
        let v = self
            .json(RequestKind::Start, Method::POST, url, Some(&body))
            .await?;
        text_field(&v, "execution_id")
            .map(|id| id.trim().to_owned())
            .map_err(unreadable(endpoint, &v))
    }
}
