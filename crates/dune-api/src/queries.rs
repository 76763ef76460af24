//! Saved queries: read a query's SQL and version (`GET /api/v1/query/{id}`), and update its SQL
//! (`PATCH /api/v1/query/{id}`). Updates are Dune's *low-limit* (write) requests: [`QueryWriter`] keeps
//! them within their own cap ([`writes_per_minute`]) besides the client's.

use std::sync::{Arc, Mutex};

use reqwest::Method;
use serde_json::{Value, json};

use crate::client::{Client, MAX_JSON_BODY, decode_json, unreadable};
use crate::clock::Clock;
use crate::error::Error;
use crate::rate::{DEFAULT_WINDOW, RateCap};
use crate::retry::RequestKind;

/// A saved query as `GET /api/v1/query/{id}` describes it (`models.GetQueryResponse`): the fields the
/// client uses; others are ignored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SavedQuery {
    /// The query's id.
    pub query_id: u64,
    /// The query's SQL (`query_sql`), verbatim.
    pub query_sql: String,
    /// `version`: "incremented every time the query is updated"; `None` when Dune does not say.
    pub version: Option<i64>,
    /// The query's name, when Dune gives one.
    pub name: Option<String>,
}

impl SavedQuery {
    /// Reads the response tolerantly: `query_sql` must be a string; the rest is optional.
    pub fn from_value(query_id: u64, v: &Value) -> Result<SavedQuery, String> {
        let obj = v
            .as_object()
            .ok_or_else(|| "the query is not a JSON object".to_string())?;
        let query_sql = obj
            .get("query_sql")
            .and_then(Value::as_str)
            .ok_or_else(|| "the query has no `query_sql` string".to_string())?
            .to_string();
        Ok(SavedQuery {
            query_id,
            query_sql,
            version: obj.get("version").and_then(Value::as_i64),
            name: obj.get("name").and_then(Value::as_str).map(str::to_string),
        })
    }
}

/// Dune's low limit (write requests) for a plan, from its high limit (reads a minute): 15 a minute on
/// Free (40 reads), 70 on Plus (200 reads), 350 on Enterprise (1000 reads).
/// <https://docs.dune.com/api-reference/overview/rate-limits>
pub fn writes_per_minute(reads_per_minute: usize) -> usize {
    match reads_per_minute {
        0..=40 => 15,
        41..=200 => 70,
        _ => 350,
    }
}

impl Client {
    /// Reads a saved query: its SQL and version.
    /// <https://docs.dune.com/api-reference/queries/endpoint/read>
    pub async fn query(&self, query_id: u64) -> Result<SavedQuery, Error> {
        let url = self.url(&format!("/api/v1/query/{query_id}"));
        let endpoint = format!("GET {}", url.path());
        let v = self.json(RequestKind::Read, Method::GET, url, None).await?;
        SavedQuery::from_value(query_id, &v).map_err(unreadable(endpoint, &v))
    }
}

/// Updates saved queries' SQL within Dune's low limit: each update waits for a slot of its own cap
/// (`writes_per_minute` in any [`DEFAULT_WINDOW`]) before it takes one of the client's.
#[derive(Clone)]
pub struct QueryWriter {
    client: Client,
    clock: Clock,
    cap: Arc<Mutex<RateCap>>,
}

impl QueryWriter {
    /// A writer through `client` (its clock is `clock`), at most `writes_per_minute` updates a minute.
    pub fn new(client: &Client, clock: Clock, writes_per_minute: usize) -> QueryWriter {
        QueryWriter {
            client: client.clone(),
            clock,
            cap: Arc::new(Mutex::new(RateCap::new(writes_per_minute, DEFAULT_WINDOW))),
        }
    }

    /// The cap on updates (a minute's worth).
    pub fn writes_per_window(&self) -> usize {
        self.lock().max()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, RateCap> {
        match self.cap.lock() {
            Ok(c) => c,
            Err(p) => p.into_inner(),
        }
    }

    /// Replaces a saved query's SQL (`{"query_sql": ...}`; nothing else changes). The key must have the
    /// `Read/Write` scope and belong to the query's owner. Retried like a read: setting the same SQL
    /// twice is harmless.
    /// <https://docs.dune.com/api-reference/queries/endpoint/update>
    pub async fn update_sql(&self, query_id: u64, sql: &str) -> Result<(), Error> {
        loop {
            let wait = {
                let mut cap = self.lock();
                let now = self.clock.elapsed();
                let wait = cap.wait(now);
                if wait.is_zero() {
                    cap.record(now);
                }
                wait
            };
            if wait.is_zero() {
                break;
            }
            self.clock.sleep(wait).await;
        }
        let url = self.client.url(&format!("/api/v1/query/{query_id}"));
        let body = json!({ "query_sql": sql });
        self.client
            .send_decoded(
                RequestKind::Read,
                Method::PATCH,
                url,
                Some(&body),
                MAX_JSON_BODY,
                |endpoint, resp| decode_json(endpoint, &resp).map(|_| ()),
            )
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn low_limits_follow_the_plan() {
        assert_eq!(writes_per_minute(40), 15);
        assert_eq!(writes_per_minute(10), 15);
        assert_eq!(writes_per_minute(200), 70);
        assert_eq!(writes_per_minute(1000), 350);
    }

    #[test]
    fn saved_queries_read_tolerantly() {
        let q = SavedQuery::from_value(
            7,
            &json!({"query_id": 7, "query_sql": "SELECT 1", "version": 3, "name": "n", "tags": []}),
        )
        .expect("reads");
        assert_eq!(q.version, Some(3));
        assert_eq!(q.query_sql, "SELECT 1");
        assert!(SavedQuery::from_value(7, &json!({"version": 3})).is_err());
    }
}
