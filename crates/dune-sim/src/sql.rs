//! What SQL text decides in the simulator, in one place:
//!
//! - **A saved query's SQL** (the scenario's `saved_queries`, then `PATCH`es: [`Saved`]) decides what a
//!   pipeline node of that query does when a pipeline starts ([`apply`]): its result rows are generated
//!   (`rows.rs`, the node's own row and column counts) from a seed derived from the SQL text, so a change
//!   of SQL changes the rows, deterministically.
//! - **Raw SQL** (`POST /api/v1/sql/execute`), and a scenario's `latest_results` entry with `sql` (served
//!   as a query's saved result), get the result the text stands for ([`derive`], a [`Shape`]): the
//!   columns are the `SELECT` list, the row count is the `LIMIT` ([`DEFAULT_ROWS`], 10, without one), and
//!   each column's values depend on its own expression only. Comments, whitespace and letter case do not
//!   change the result.
//!   - A column is named by its alias (`expr AS name`), else by the identifier it reads (`t.volume` →
//!     `volume`), else `_col<N>` as Trino names it.
//!   - Its type is the one of a `CAST(... AS type)`, else guessed from the name: `day`/`date`/`time` →
//!     `varchar` dates, `chain`/`name`/`symbol` → `varchar`, `id`/`count`/`number` → `bigint`, else
//!     `double`.
//!   - A plain identifier named `id` or ending in `_id` counts rows (1, 2, …): a stable key. Other values
//!     are a hash of (the expression's text, the row index), so editing one expression changes that
//!     column only.
//!   - A `SELECT` list with an empty item (`a, , b` or a trailing comma before `FROM`) or a text without
//!     `SELECT` fails with Trino's kind of message at the line and column of the offending token.
//! - **Both fail at the marker** [`BROKEN`] the same way: Trino's kind of message at its line and column,
//!   as Dune's `error.metadata.line/column` point at a syntax error.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::time::Duration;

use crate::scenario::{NodeDef, Outcome, SavedQuery};
use crate::util::{civil_from_days, days_from_civil, fnv1a, mix};

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
    if let Some(e) = marker_failure(sql) {
        behaviour.outcome = Outcome::Failed;
        behaviour.error = Some(e.message);
        behaviour.error_type = Some("FAILED_TYPE_EXECUTION_FAILED".into());
        behaviour.error_line = Some(e.line);
        behaviour.error_column = Some(e.column);
    }
    fnv1a(sql)
}

/// How SQL with the marker fails, saved or raw: Trino's kind of message at the marker's line and column.
fn marker_failure(sql: &str) -> Option<SqlError> {
    let (line, column) = broken_at(sql)?;
    Some(SqlError {
        message: format!(
            "line {line}:{column}: mismatched input '{BROKEN}'. Expecting: <expression>"
        ),
        line,
        column,
    })
}

/// Rows without a `LIMIT`.
pub(crate) const DEFAULT_ROWS: u64 = 10;

/// How long a raw-SQL execution runs in virtual time.
pub(crate) const RUN_TIME: Duration = Duration::from_secs(2);

const CHAINS: [&str; 5] = ["ethereum", "arbitrum", "base", "optimism", "polygon"];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Bigint,
    Double,
    Varchar,
    Date,
    Boolean,
}

impl Kind {
    fn name(self, declared: &Option<String>) -> String {
        if let Some(d) = declared {
            return d.clone();
        }
        match self {
            Kind::Bigint => "bigint",
            Kind::Double => "double",
            Kind::Varchar | Kind::Date => "varchar",
            Kind::Boolean => "boolean",
        }
        .to_owned()
    }
}

/// One column of a derived result.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Column {
    pub(crate) name: String,
    kind: Kind,
    declared: Option<String>,
    /// Counts rows (`id`, `*_id`).
    key: bool,
    seed: u64,
}

/// Why the SQL cannot run, at a 1-based line and column.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SqlError {
    pub(crate) message: String,
    pub(crate) line: u64,
    pub(crate) column: u64,
}

/// The result SQL text stands for.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Shape {
    pub(crate) columns: Vec<Column>,
    pub(crate) rows: u64,
    pub(crate) error: Option<SqlError>,
}

impl Shape {
    pub(crate) fn column_names(&self) -> Vec<String> {
        self.columns.iter().map(|c| c.name.clone()).collect()
    }

    pub(crate) fn column_types(&self) -> Vec<String> {
        self.columns
            .iter()
            .map(|c| c.kind.name(&c.declared))
            .collect()
    }

    /// Estimated bytes of the whole result (about 9 a value).
    pub(crate) fn total_bytes(&self) -> u64 {
        let header: u64 = self.columns.iter().map(|c| c.name.len() as u64).sum();
        header.saturating_add(
            self.rows
                .saturating_mul(9)
                .saturating_mul(self.columns.len() as u64),
        )
    }

    /// The value of column `c` in row `i`, as JSON text (or CSV text when `json` is false), and its raw
    /// byte count.
    fn value(&self, c: &Column, i: u64, json: bool) -> (String, u64) {
        let h = mix(c.seed ^ mix(i.wrapping_add(1)));
        let quoted = |s: String| {
            let len = s.len() as u64;
            (if json { format!("\"{s}\"") } else { s }, len)
        };
        match c.kind {
            Kind::Bigint if c.key => {
                let s = (i + 1).to_string();
                let len = s.len() as u64;
                (s, len)
            }
            Kind::Bigint => {
                let s = (h % 100_000).to_string();
                let len = s.len() as u64;
                (s, len)
            }
            Kind::Double => {
                let cents = h % 10_000_000_000;
                let s = format!("{}.{:02}", cents / 100, cents % 100);
                let len = s.len() as u64;
                (s, len)
            }
            Kind::Boolean => {
                let s = if h & 1 == 1 { "true" } else { "false" }.to_owned();
                let len = s.len() as u64;
                (s, len)
            }
            Kind::Date => {
                let base = days_from_civil(2025, 12, 31);
                let (y, m, d) = civil_from_days(base - (h % 3650) as i64);
                quoted(format!("{y:04}-{m:02}-{d:02}"))
            }
            Kind::Varchar if c.name.contains("chain") => {
                quoted(CHAINS[(h % CHAINS.len() as u64) as usize].to_owned())
            }
            Kind::Varchar if c.key => quoted(format!("k{}", i + 1)),
            Kind::Varchar => quoted(format!("v{}", h % 100_000)),
        }
    }

    /// Appends rows `start..end` as comma-separated JSON objects; returns their value bytes.
    pub(crate) fn write_json_rows(&self, out: &mut String, start: u64, end: u64) -> u64 {
        let mut bytes = 0;
        for i in start..end {
            if i > start {
                out.push(',');
            }
            out.push('{');
            for (n, c) in self.columns.iter().enumerate() {
                if n > 0 {
                    out.push(',');
                }
                let (v, b) = self.value(c, i, true);
                bytes += b;
                let _ = write!(out, "\"{}\":{v}", c.name);
            }
            out.push('}');
        }
        bytes
    }

    /// Appends a header line and rows `start..end` as CSV.
    pub(crate) fn write_csv(&self, out: &mut String, start: u64, end: u64) {
        out.push_str(&self.column_names().join(","));
        out.push('\n');
        for i in start..end {
            for (n, c) in self.columns.iter().enumerate() {
                if n > 0 {
                    out.push(',');
                }
                out.push_str(&self.value(c, i, false).0);
            }
            out.push('\n');
        }
    }
}

/// One `POST /sql/execute`.
pub(crate) struct SqlRun {
    /// Virtual time of the request.
    pub(crate) created: Duration,
    pub(crate) shape: std::sync::Arc<Shape>,
    /// When it was cancelled (since `created`).
    pub(crate) cancelled: Option<Duration>,
}

/// How long a raw-SQL execution is pending before it executes.
pub(crate) const QUEUE: Duration = Duration::from_millis(200);

/// Credits a raw-SQL execution costs: 1 plus 1 a million values.
pub(crate) fn credits(shape: &Shape) -> f64 {
    1.0 + (shape.rows as f64) * (shape.columns.len() as f64) / 1e6
}

/// The text with comments blanked out (same length, line breaks kept) and string literals kept.
fn blank_comments(sql: &str) -> Vec<char> {
    let chars: Vec<char> = sql.chars().collect();
    let mut out = chars.clone();
    let mut i = 0;
    let mut quote: Option<char> = None;
    while i < chars.len() {
        let c = chars[i];
        if let Some(q) = quote {
            if c == q {
                quote = None;
            }
            i += 1;
            continue;
        }
        match c {
            '\'' | '"' => quote = Some(c),
            '-' if chars.get(i + 1) == Some(&'-') => {
                while i < chars.len() && chars[i] != '\n' {
                    out[i] = ' ';
                    i += 1;
                }
                continue;
            }
            '/' if chars.get(i + 1) == Some(&'*') => {
                let mut j = i;
                while j < chars.len() && !(chars[j] == '*' && chars.get(j + 1) == Some(&'/')) {
                    if chars[j] != '\n' {
                        out[j] = ' ';
                    }
                    j += 1;
                }
                for c in out.iter_mut().skip(j).take(2) {
                    *c = ' ';
                }
                i = j + 2;
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    out
}

/// A word of the text: its start (char index) and its text.
fn words(text: &[char]) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < text.len() {
        if text[i].is_alphanumeric() || text[i] == '_' {
            let start = i;
            while i < text.len() && (text[i].is_alphanumeric() || text[i] == '_') {
                i += 1;
            }
            out.push((start, text[start..i].iter().collect()));
        } else {
            i += 1;
        }
    }
    out
}

fn line_column(text: &[char], at: usize) -> (u64, u64) {
    let mut line = 1;
    let mut column = 1;
    for c in &text[..at.min(text.len())] {
        if *c == '\n' {
            line += 1;
            column = 1;
        } else {
            column += 1;
        }
    }
    (line, column)
}

/// Paren depth and whether inside a string literal, at every char.
fn depths(text: &[char]) -> Vec<(i32, bool)> {
    let mut out = Vec::with_capacity(text.len());
    let mut depth = 0;
    let mut quote: Option<char> = None;
    for c in text {
        let inside = quote.is_some();
        out.push((depth, inside));
        match (quote, *c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '\'' | '"') => quote = Some(*c),
            (None, '(') => depth += 1,
            (None, ')') => depth -= 1,
            _ => {}
        }
    }
    out
}

fn normalized(text: &[char]) -> String {
    let s: String = text.iter().collect();
    s.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

fn error_at(text: &[char], at: usize, message: String) -> Shape {
    let (line, column) = line_column(text, at);
    Shape {
        columns: Vec::new(),
        rows: 0,
        error: Some(SqlError {
            message: format!("line {line}:{column}: {message}"),
            line,
            column,
        }),
    }
}

/// The result `sql` stands for.
pub(crate) fn derive(sql: &str) -> Shape {
    // The marker a saved query's SQL fails at fails raw SQL the same way.
    if let Some(error) = marker_failure(sql) {
        return Shape {
            columns: Vec::new(),
            rows: 0,
            error: Some(error),
        };
    }
    let text = blank_comments(sql);
    let depth = depths(&text);
    let top = |i: usize| depth.get(i).is_some_and(|(d, q)| *d == 0 && !*q);
    let ws = words(&text);
    let keyword = |w: &str, k: &str| w.eq_ignore_ascii_case(k);
    let Some(select) = ws
        .iter()
        .find(|(i, w)| top(*i) && keyword(w, "select"))
        .map(|(i, _)| *i)
    else {
        let at = text.iter().position(|c| !c.is_whitespace()).unwrap_or(0);
        let token = ws.first().map_or("<EOF>".to_owned(), |(_, w)| w.clone());
        return error_at(
            &text,
            at,
            format!("mismatched input '{token}'. Expecting: 'SELECT', 'WITH'"),
        );
    };
    let list_start = select + "select".len();
    let from = ws
        .iter()
        .find(|(i, w)| *i > select && top(*i) && (keyword(w, "from") || keyword(w, "limit")))
        .map(|(i, _)| *i);
    let list_end = from.unwrap_or(text.len());
    // Split the SELECT list at top-level commas.
    let mut items: Vec<(usize, usize)> = Vec::new();
    let mut s = list_start;
    for (i, c) in text.iter().enumerate().take(list_end).skip(list_start) {
        if *c == ',' && top(i) {
            items.push((s, i));
            s = i + 1;
        }
    }
    items.push((s, list_end));
    let mut columns = Vec::new();
    for (n, (a, b)) in items.iter().enumerate() {
        let item = &text[*a..*b];
        if item.iter().all(|c| c.is_whitespace()) {
            let at = (*b..text.len())
                .find(|i| !text[*i].is_whitespace())
                .unwrap_or(text.len());
            let token = ws.iter().find(|(i, _)| *i == at).map_or_else(
                || text.get(at).map_or("<EOF>".to_owned(), |c| c.to_string()),
                |(_, w)| w.clone(),
            );
            return error_at(
                &text,
                at,
                format!("mismatched input '{token}'. Expecting: <expression>"),
            );
        }
        columns.push(column(&text[*a..*b], &depth[*a..*b], n));
    }
    let rows = ws
        .iter()
        .rev()
        .find(|(i, w)| top(*i) && keyword(w, "limit"))
        .and_then(|(i, _)| ws.iter().find(|(j, _)| *j > *i))
        .and_then(|(_, w)| w.parse().ok())
        .unwrap_or(DEFAULT_ROWS);
    Shape {
        columns,
        rows,
        error: None,
    }
}

fn column(item: &[char], depth: &[(i32, bool)], n: usize) -> Column {
    let ws = words(item);
    let top = |i: usize| depth.get(i).is_some_and(|(d, q)| *d == 0 && !*q);
    let alias_at = ws
        .iter()
        .rev()
        .find(|(i, w)| top(*i) && w.eq_ignore_ascii_case("as"))
        .map(|(i, _)| *i);
    let (expr, name) = match alias_at {
        Some(i) => {
            let alias: String = item[i + 2..].iter().collect();
            let alias = alias.trim().trim_matches('"').to_lowercase();
            (&item[..i], alias)
        }
        None => {
            let e: String = item.iter().collect();
            let e = e.trim();
            let plain = !e.is_empty()
                && e.chars()
                    .all(|c| c.is_alphanumeric() || c == '_' || c == '.' || c == '"');
            let name = if plain {
                e.rsplit('.')
                    .next()
                    .unwrap_or(e)
                    .trim_matches('"')
                    .to_lowercase()
            } else {
                format!("_col{n}")
            };
            (item, name)
        }
    };
    let expr_text = normalized(expr);
    let plain = expr_text
        .chars()
        .all(|c| c.is_alphanumeric() || c == '_' || c == '.' || c == '"');
    let declared = cast_type(&expr_text);
    let by_name = if name.contains("day") || name.contains("date") || name.contains("time") {
        Kind::Date
    } else if name.contains("chain") || name.contains("name") || name.contains("symbol") {
        Kind::Varchar
    } else if name == "id"
        || name.ends_with("_id")
        || name.contains("count")
        || name.contains("number")
    {
        Kind::Bigint
    } else {
        Kind::Double
    };
    let kind = match declared.as_deref() {
        Some("bigint" | "integer" | "int" | "smallint" | "tinyint") => Kind::Bigint,
        Some("double" | "real") => Kind::Double,
        Some(d) if d.starts_with("decimal") => Kind::Double,
        Some("boolean") => Kind::Boolean,
        Some("date") => Kind::Date,
        Some(_) => Kind::Varchar,
        None => by_name,
    };
    let key = plain && (name == "id" || name.ends_with("_id"));
    Column {
        seed: fnv1a(&expr_text),
        name,
        kind,
        declared,
        key,
    }
}

/// `cast(... as t)` around the whole expression: `t`.
fn cast_type(expr: &str) -> Option<String> {
    let inner = expr.strip_prefix("cast(")?.strip_suffix(')')?;
    let (_, t) = inner.rsplit_once(" as ")?;
    Some(t.trim().to_owned())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn rows(shape: &Shape, start: u64, end: u64) -> Vec<serde_json::Value> {
        let mut out = String::from("[");
        shape.write_json_rows(&mut out, start, end);
        out.push(']');
        serde_json::from_str::<serde_json::Value>(&out)
            .unwrap()
            .as_array()
            .unwrap()
            .clone()
    }

    #[test]
    fn columns_rows_and_types_come_from_the_text() {
        let s = derive(
            "SELECT id, t.chain, volume * 2 AS volume, CAST(n AS varchar) AS n\nFROM t\nLIMIT 25",
        );
        assert_eq!(s.error, None);
        assert_eq!(s.column_names(), ["id", "chain", "volume", "n"]);
        assert_eq!(s.column_types(), ["bigint", "varchar", "double", "varchar"]);
        assert_eq!(s.rows, 25);
        // Without a `LIMIT`: 10 rows, as the module's doc says.
        assert_eq!(
            (derive("SELECT id, volume FROM t").rows, DEFAULT_ROWS),
            (10, 10)
        );
        let r = rows(&s, 0, 2);
        assert_eq!(r[0]["id"], 1);
        assert_eq!(r[1]["id"], 2);
        assert!(r[0]["volume"].is_number());
        assert!(r[0]["n"].is_string());
    }

    #[test]
    fn comments_whitespace_and_case_change_nothing() {
        let a = derive("select id, volume from t limit 5");
        let b = derive("-- daily volume\nSELECT id,\n  volume /* usd */\nFROM t\nLIMIT 5\n");
        assert_eq!(rows(&a, 0, 5), rows(&b, 0, 5));
    }

    #[test]
    fn editing_one_expression_changes_that_column_only() {
        let a = rows(&derive("SELECT id, volume, fee FROM t"), 0, 10);
        let b = rows(
            &derive("SELECT id, volume * 2 AS volume, fee FROM t"),
            0,
            10,
        );
        for (x, y) in a.iter().zip(&b) {
            assert_eq!(x["id"], y["id"]);
            assert_eq!(x["fee"], y["fee"]);
            assert_ne!(x["volume"], y["volume"]);
        }
    }

    #[test]
    fn a_trailing_comma_fails_at_the_from_token() {
        let s = derive("SELECT\n  id,\n  volume,\nFROM t");
        let e = s.error.unwrap();
        assert_eq!((e.line, e.column), (4, 1));
        assert!(
            e.message.contains("mismatched input 'FROM'"),
            "{}",
            e.message
        );
        let s = derive("\n  selec id from t");
        let e = s.error.unwrap();
        assert_eq!((e.line, e.column), (2, 3));
    }

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

    #[test]
    fn saved_and_raw_sql_fail_alike_at_the_marker() {
        let text = "SELECT id,\n  volume !! 2\nFROM t";
        let mut node = NodeDef::query(1, 5);
        apply(text, &mut node);
        let raw = derive(text).error.unwrap();
        assert_eq!(node.error.as_deref(), Some(raw.message.as_str()));
        assert_eq!(
            (node.error_line, node.error_column),
            (Some(raw.line), Some(raw.column))
        );
        assert_eq!((raw.line, raw.column), (2, 10));
    }
}
