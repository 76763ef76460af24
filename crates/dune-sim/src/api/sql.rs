//! `POST /sql/execute`: raw SQL, saved nowhere; its result is derived from the SQL text
//! ([`crate::sql`]), and the execution is read through the usual execution endpoints.

use std::sync::Arc;

use serde::Deserialize;
use serde_json::json;

use crate::api::params::performance;
use crate::api::reply::Reply;
use crate::sql::{self, SqlRun};
use crate::state::Shared;

/// `{"sql": ..., "performance": ...}`: a new execution of the SQL (its status and results report
/// `query_id` 0, as Dune's do).
pub(super) fn execute_sql(shared: &Shared, body: &[u8]) -> Reply {
    #[derive(Deserialize)]
    struct Body {
        sql: Option<String>,
        performance: Option<String>,
    }
    let req: Body = match serde_json::from_slice(body) {
        Ok(b) => b,
        Err(e) => return Reply::error(400, format!("invalid request body: {e}")),
    };
    let Some(text) = req.sql.filter(|s| !s.trim().is_empty()) else {
        return Reply::error(400, "sql is required");
    };
    if let Err(r) = performance(req.performance.as_deref()) {
        return r;
    }
    let now = shared.clock.now();
    let mut state = shared.lock();
    let id = state.new_id(shared.clock.unix_millis(now));
    state.sql_executions.insert(
        id.clone(),
        SqlRun {
            created: now,
            shape: Arc::new(sql::derive(&text)),
            cancelled: None,
        },
    );
    Reply::json(
        200,
        &json!({"execution_id": id, "state": "QUERY_STATE_PENDING"}),
    )
}
