//! Saved queries' SQL: `GET /api/v1/query/{id}` (the SQL and its version) and `PATCH /api/v1/query/{id}`
//! (a new SQL, the version incremented), refused with a 403 when the scenario's key has no write scope.
//!
//! The SQL a query has when a pipeline starts decides how its node runs: the result rows are generated
//! from a seed derived from the SQL text (a change of SQL changes the rows, deterministically), and a
//! SQL that contains [`BROKEN`] fails with an error at the line and column of the marker, as Dune's
//! `error.metadata.line/column` would point at a syntax error.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::api::Reply;
use crate::scenario::{NodeDef, Outcome};
use crate::server::Shared;
use crate::util::fnv1a;

/// A SQL containing this fails at its position: `SELECT 1 !! FROM t` fails at line 1, column 10.
pub const BROKEN: &str = "!!";

/// A saved query's SQL at the start of a scenario (`saved_queries`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SavedQuery {
    pub query_id: u64,
    /// `query_sql`.
    pub sql: String,
    /// `version` (default 1).
    #[serde(default = "first_version")]
    pub version: i64,
}

fn first_version() -> i64 {
    1
}

impl SavedQuery {
    /// Query `query_id` with this SQL, at version 1.
    pub fn new(query_id: u64, sql: impl Into<String>) -> SavedQuery {
        SavedQuery {
            query_id,
            sql: sql.into(),
            version: first_version(),
        }
    }
}

/// The saved queries' SQL as it is now: the scenario's, then updated by `PATCH`es.
#[derive(Debug, Default)]
pub(crate) struct Saved {
    queries: HashMap<u64, (String, i64)>,
}

impl Saved {
    pub(crate) fn new(initial: &[SavedQuery]) -> Saved {
        Saved {
            queries: initial
                .iter()
                .map(|q| (q.query_id, (q.sql.clone(), q.version)))
                .collect(),
        }
    }

    /// The SQL of `query_id` now, when it has some.
    pub(crate) fn sql(&self, query_id: u64) -> Option<&str> {
        self.queries.get(&query_id).map(|(s, _)| s.as_str())
    }
}

/// The position (1-based line and column, in characters) of [`BROKEN`] in `sql`.
pub fn broken_at(sql: &str) -> Option<(u64, u64)> {
    sql.lines().enumerate().find_map(|(i, line)| {
        line.find(BROKEN)
            .map(|byte| (i as u64 + 1, line[..byte].chars().count() as u64 + 1))
    })
}

/// The behaviour of a query node whose SQL is `sql`: its rows' seed, and a failure at the marker.
pub(crate) fn apply(sql: &str, behaviour: &mut NodeDef) -> u64 {
    if let Some((line, column)) = broken_at(sql) {
        behaviour.outcome = Outcome::Failed;
        behaviour.error = Some(format!(
            "line {line}:{column}: mismatched input '{BROKEN}'. Expecting: <expression>"
        ));
        behaviour.error_type = Some("FAILED_TYPE_EXECUTION_FAILED".into());
        behaviour.error_line = Some(line);
        behaviour.error_column = Some(column);
    }
    fnv1a(sql)
}

/// Whether the scenario knows `query_id` at all (saved SQL, or a node of one of its pipelines).
fn known(shared: &Shared, query_id: u64) -> bool {
    shared
        .scenario
        .queries
        .iter()
        .any(|q| q.query_id == query_id || q.nodes.iter().any(|n| n.query_id == Some(query_id)))
}

/// The SQL a query the scenario knows has before anything set it.
fn default_sql(query_id: u64) -> String {
    format!("SELECT * FROM sim.query_{query_id}")
}

/// `GET /api/v1/query/{id}` (`models.GetQueryResponse`).
pub(crate) fn get_query(shared: &Shared, query_id: u64) -> Reply {
    let state = shared.lock();
    let (sql, version) = match state.saved.queries.get(&query_id) {
        Some(q) => q.clone(),
        None if known(shared, query_id) => (default_sql(query_id), 1),
        None => return Reply::error(404, "Query not found"),
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

/// `PATCH /api/v1/query/{id}` (`models.UpdateQueryResponse`): sets `query_sql` when the body has it.
pub(crate) fn update_query(shared: &Shared, query_id: u64, body: &[u8]) -> Reply {
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
    let mut state = shared.lock();
    let current = match state.saved.queries.get(&query_id) {
        Some(q) => q.clone(),
        None if known(shared, query_id) => (default_sql(query_id), 1),
        None => return Reply::error(404, "Query not found"),
    };
    let (sql, version) = (sql.unwrap_or(current.0), current.1 + 1);
    state.saved.queries.insert(query_id, (sql, version));
    Reply::json(200, &json!({ "query_id": query_id }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broken_marker_positions() {
        assert_eq!(broken_at("SELECT 1"), None);
        assert_eq!(broken_at("SELECT 1 !! FROM t"), Some((1, 10)));
        assert_eq!(broken_at("SELECT\n  é, !!x\nFROM t"), Some((2, 6)));
    }

    #[test]
    fn the_seed_follows_the_sql() {
        let mut a = NodeDef::query(1, 5);
        let mut b = NodeDef::query(1, 5);
        assert_ne!(apply("SELECT 1", &mut a), apply("SELECT 2", &mut b));
        assert_eq!(apply("SELECT 1", &mut a), fnv1a("SELECT 1"));
        assert_eq!(a.outcome, Outcome::Completed);
        apply("SELECT\n !! 1", &mut b);
        assert_eq!(b.outcome, Outcome::Failed);
        assert_eq!((b.error_line, b.error_column), (Some(2), Some(2)));
    }
}
