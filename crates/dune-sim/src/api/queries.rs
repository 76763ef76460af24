//! Saved queries: `GET /api/v1/query/{id}` (the SQL and its version, `models.GetQueryResponse`) and
//! `PATCH /api/v1/query/{id}` (a new SQL, the version incremented, `models.UpdateQueryResponse`), refused
//! with a 403 when the scenario's key has no write scope (`key_can_write: false`).

use serde_json::{Value, json};

use crate::api::params::parse_query_id;
use crate::api::reply::Reply;
use crate::state::Shared;

/// Whether the scenario knows `query_id` at all (saved SQL, or a node of one of its pipelines).
fn known(shared: &Shared, query_id: u64) -> bool {
    shared
        .scenario
        .queries
        .iter()
        .any(|q| q.query_id == query_id || q.nodes.iter().any(|n| n.query_id == Some(query_id)))
}

/// The SQL and version of a query now: saved, or the placeholder of a query the scenario knows.
fn current(shared: &Shared, query_id: u64) -> Option<(String, i64)> {
    let state = shared.lock();
    match state.saved.get(query_id) {
        Some((sql, version)) => Some((sql.to_string(), version)),
        None if known(shared, query_id) => Some((format!("SELECT * FROM sim.query_{query_id}"), 1)),
        None => None,
    }
}

/// `GET /api/v1/query/{id}`.
pub(crate) fn get_query(shared: &Shared, raw_id: &str) -> Reply {
    let query_id = match parse_query_id(raw_id) {
        Ok(q) => q,
        Err(r) => return r,
    };
    let Some((sql, version)) = current(shared, query_id) else {
        return Reply::error(404, "Query not found");
    };
    Reply::json(
        200,
        &json!({
            "query_id": query_id,
            "name": format!("Query {query_id}"),
            "description": "",
            "owner": "sim",
            "tags": [],
            "parameters": [],
            "query_engine": "medium",
            "query_sql": sql,
            "version": version,
            "is_private": false,
            "is_archived": false,
            "is_unsaved": false,
        }),
    )
}

/// `PATCH /api/v1/query/{id}`: sets `query_sql` when the body has it; the version goes up by one.
pub(crate) fn update_query(shared: &Shared, raw_id: &str, body: &[u8]) -> Reply {
    let query_id = match parse_query_id(raw_id) {
        Ok(q) => q,
        Err(r) => return r,
    };
    if !shared.scenario.key_can_write {
        return Reply::error(
            403,
            "This API key does not have the scope required for this request (Read/Write)",
        );
    }
    let value: Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(e) => return Reply::error(400, format!("invalid request body: {e}")),
    };
    let sql = match value.get("query_sql") {
        None => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => return Reply::error(400, "invalid request body: query_sql must be a string"),
    };
    let Some((old, version)) = current(shared, query_id) else {
        return Reply::error(404, "Query not found");
    };
    shared
        .lock()
        .saved
        .set(query_id, sql.unwrap_or(old), version + 1);
    Reply::json(200, &json!({ "query_id": query_id }))
}
