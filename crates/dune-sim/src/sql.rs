//! Saved queries' SQL as it is now (the scenario's `saved_queries`, then `PATCH`es), and what the SQL
//! does to a query node when a pipeline starts: the result rows are generated from a seed derived from
//! the SQL text (a change of SQL changes the rows, deterministically), and a SQL that contains
//! [`BROKEN`] fails with an error at the line and column of the marker, as Dune's
//! `error.metadata.line/column` point at a syntax error.

use std::collections::HashMap;

use crate::scenario::{NodeDef, Outcome, SavedQuery};
use crate::util::fnv1a;

/// A SQL containing this fails at its position: `SELECT 1 !! FROM t` fails at line 1, column 10.
pub const BROKEN: &str = "!!";

/// The saved queries' SQL and versions, as the scenario set them and `PATCH`es left them.
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

    /// The SQL and version of `query_id` now, when it has some.
    pub(crate) fn get(&self, query_id: u64) -> Option<(&str, i64)> {
        self.queries.get(&query_id).map(|(s, v)| (s.as_str(), *v))
    }

    /// Sets the SQL and version of `query_id`.
    pub(crate) fn set(&mut self, query_id: u64, sql: String, version: i64) {
        self.queries.insert(query_id, (sql, version));
    }
}

/// The position (1-based line and column, in characters) of [`BROKEN`] in `sql`.
pub fn broken_at(sql: &str) -> Option<(u64, u64)> {
    sql.lines().enumerate().find_map(|(i, line)| {
        line.find(BROKEN)
            .map(|byte| (i as u64 + 1, line[..byte].chars().count() as u64 + 1))
    })
}

/// Makes `behaviour` that of a query node whose SQL is `sql` (a failure at the marker); returns the seed
/// of its result rows.
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
