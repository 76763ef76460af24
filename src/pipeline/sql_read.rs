//! Reading the `sql: <path>` keys of a pipeline file's query nodes (the query's SQL kept in the
//! repository, the path relative to the pipeline file): the keys are taken out of the document before
//! Dune's pipeline shape is read ([`take`], so the definition POSTed never carries them), and the files
//! are read and checked ([`load`]), each problem placed on the node's `sql` key. [`super::sql`] is the
//! module's API for the rest of the action.

use std::borrow::Cow;
use std::path::{Component, Path, PathBuf};

use dune_api::definition::{Problem, Step};
use dune_api::text::{one_line, truncate_chars};
use serde_json::Value;

/// A SQL file larger than this is refused.
pub const MAX_SQL_BYTES: u64 = 1024 * 1024;

/// One query node whose SQL lives in the repository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqlNode {
    /// The node's id in the pipeline.
    pub node_id: i64,
    /// The saved query the node runs (and whose SQL the file is).
    pub query_id: i64,
    /// The path as the pipeline file gives it (relative to the pipeline file).
    pub path: String,
    /// The file relative to the repository root, as annotations and diffs name it
    /// (`queries/daily.sql`).
    pub file: String,
    /// The file's text, as read.
    pub text: String,
}

/// The text as compared: line endings as `\n`, trailing newlines (and the spaces on the last line) aside.
pub fn normalized(text: &str) -> Cow<'_, str> {
    let text = if text.contains('\r') {
        Cow::Owned(text.replace("\r\n", "\n").replace('\r', "\n"))
    } else {
        Cow::Borrowed(text)
    };
    let trimmed_len = text.trim_end_matches(['\n', ' ', '\t']).len();
    match text {
        Cow::Borrowed(t) => Cow::Borrowed(&t[..trimmed_len]),
        Cow::Owned(mut t) => {
            t.truncate(trimmed_len);
            Cow::Owned(t)
        }
    }
}

/// Whether the query's saved SQL differs from the file's (line endings and trailing newlines aside).
pub fn differs(saved: &str, file: &str) -> bool {
    normalized(saved) != normalized(file)
}

/// A `sql` key as found in the document, before its file is read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SqlKey {
    /// Where the key is: `pipeline`, `nodes`, the node's position, `sql`.
    pub at: Vec<Step>,
    pub node_id: i64,
    pub query_id: i64,
    pub path: String,
}

/// The node as problems name it.
fn node_name(obj: &serde_json::Map<String, Value>, position: usize) -> String {
    match obj.get("id").and_then(Value::as_i64) {
        Some(id) => format!("node {id}"),
        None => format!("the node at position {}", position + 1),
    }
}

fn shown(v: &Value) -> String {
    let text = match v {
        Value::String(s) => format!("{s:?}"),
        other => other.to_string(),
    };
    one_line(&truncate_chars(&text, 60))
}

/// Takes every node's `sql` key out of the document (so Dune's shape reads it) and checks what can be
/// checked without the files: a path, on a query node that has a query id. Returns the keys that name a
/// file, and the problems.
pub(crate) fn take(document: &mut Value) -> (Vec<SqlKey>, Vec<Problem>) {
    let mut keys = Vec::new();
    let mut problems = Vec::new();
    let Some(nodes) = document
        .get_mut("pipeline")
        .and_then(|p| p.get_mut("nodes"))
        .and_then(Value::as_array_mut)
    else {
        return (keys, problems);
    };
    for (position, node) in nodes.iter_mut().enumerate() {
        let Some(obj) = node.as_object_mut() else {
            continue;
        };
        let Some(raw) = obj.remove("sql") else {
            continue;
        };
        let name = node_name(obj, position);
        let at = vec![
            Step::Key("pipeline".into()),
            Step::Key("nodes".into()),
            Step::Index(position),
            Step::Key("sql".into()),
        ];
        let mut problem = |message: String| {
            problems.push(Problem {
                node: Some(name.clone()),
                at: at.clone(),
                message,
            })
        };
        let path = match &raw {
            Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_string()),
            Value::Null => continue,
            other => {
                problem(format!(
                    "`sql` must be the path of the query's SQL file, relative to the pipeline file (such as queries/daily.sql), got {}",
                    shown(other)
                ));
                None
            }
        };
        if obj.contains_key("materialized_view_refresh") && !obj.contains_key("query_execution") {
            problem(
                "`sql` is for query nodes (`query_execution`): a materialized view's SQL is kept with its query on Dune"
                    .into(),
            );
            continue;
        }
        let query_id = obj
            .get("query_execution")
            .and_then(|q| q.get("query_id"))
            .and_then(Value::as_i64)
            .filter(|q| *q > 0);
        let has_query_id = obj
            .get("query_execution")
            .and_then(|q| q.get("query_id"))
            .is_some_and(|q| !q.is_null());
        if !has_query_id {
            problem(
                "has `sql` but no query id: the action does not create queries. Create the query on Dune first (https://dune.com/queries/new), then put its id in `query_execution.query_id`"
                    .into(),
            );
            continue;
        }
        // A query id that is there but not a positive integer is reported by the definition's reader.
        let (Some(path), Some(query_id), Some(node_id)) =
            (path, query_id, obj.get("id").and_then(Value::as_i64))
        else {
            continue;
        };
        keys.push(SqlKey {
            at,
            node_id,
            query_id,
            path,
        });
    }
    (keys, problems)
}

/// Whether a problem of Dune's shape is one that a `sql` problem already explains better (a node with
/// `sql` and no query id has no `query_execution`, or one without `query_id`).
pub(crate) fn explained(problem: &Problem, sql_problems: &[Problem]) -> bool {
    sql_problems.iter().any(|s| {
        if !s.message.starts_with("has `sql` but no query id") {
            return false;
        }
        let node_path = &s.at[..s.at.len().saturating_sub(1)];
        let mut query_path = node_path.to_vec();
        query_path.push(Step::Key("query_execution".into()));
        (problem.at == node_path && problem.message.starts_with("has neither"))
            || (problem.at == query_path && problem.message.contains("has no `query_id`"))
    })
}

/// The path of `relative` (a path in the pipeline file) from the repository root: `pipeline_file`'s
/// directory joined with it, `.` and `..` resolved. `Err` when it leaves the repository.
fn repository_path(pipeline_file: &str, relative: &str) -> Result<String, String> {
    let dir = Path::new(pipeline_file).parent().unwrap_or(Path::new(""));
    let mut parts: Vec<String> = Vec::new();
    let mut absolute = false;
    for c in dir.join(relative).components() {
        match c {
            Component::Prefix(_) | Component::RootDir => absolute = true,
            Component::CurDir => {}
            Component::ParentDir => {
                if parts.pop().is_none() {
                    return Err(format!(
                        "the SQL file {} is outside the repository: `sql` paths are relative to the pipeline file and stay in the repository",
                        one_line(relative)
                    ));
                }
            }
            Component::Normal(p) => parts.push(p.to_string_lossy().into_owned()),
        }
    }
    let joined = parts.join("/");
    Ok(if absolute {
        format!("/{joined}")
    } else {
        joined
    })
}

/// Reads the SQL file of every key: `pipeline_file` is the pipeline file's path from the repository root
/// (as annotations name it); `workspace` is where the repository is checked out. Each file must exist,
/// be UTF-8 and not be empty; every problem is placed on the node's `sql` key.
pub(crate) fn load(
    keys: &[SqlKey],
    pipeline_file: &str,
    workspace: Option<&str>,
) -> (Vec<SqlNode>, Vec<Problem>) {
    let mut nodes = Vec::new();
    let mut problems = Vec::new();
    for key in keys {
        let mut problem = |message: String| {
            problems.push(Problem {
                node: Some(format!("node {}", key.node_id)),
                at: key.at.clone(),
                message,
            })
        };
        if Path::new(&key.path).is_absolute() {
            problem(format!(
                "`sql` must be a path relative to the pipeline file, got {}",
                one_line(&key.path)
            ));
            continue;
        }
        let file = match repository_path(pipeline_file, &key.path) {
            Ok(f) => f,
            Err(message) => {
                problem(message);
                continue;
            }
        };
        let full: PathBuf = match workspace {
            Some(w) if Path::new(&file).is_relative() => Path::new(w).join(&file),
            _ => PathBuf::from(&file),
        };
        let shown_file = one_line(&file);
        match std::fs::metadata(&full) {
            Err(e) => {
                problem(format!("cannot read the SQL file {shown_file} ({e})"));
                continue;
            }
            Ok(m) if m.is_dir() => {
                problem(format!(
                    "the SQL file {shown_file} is a directory: name a .sql file"
                ));
                continue;
            }
            Ok(m) if m.len() > MAX_SQL_BYTES => {
                problem(format!(
                    "the SQL file {shown_file} has {} bytes, more than the {MAX_SQL_BYTES} a SQL file may have",
                    m.len()
                ));
                continue;
            }
            Ok(_) => {}
        }
        let bytes = match std::fs::read(&full) {
            Ok(b) => b,
            Err(e) => {
                problem(format!("cannot read the SQL file {shown_file} ({e})"));
                continue;
            }
        };
        let text = match String::from_utf8(bytes) {
            Ok(t) => t,
            Err(e) => {
                let line = 1 + e.as_bytes()[..e.utf8_error().valid_up_to()]
                    .iter()
                    .filter(|b| **b == b'\n')
                    .count();
                problem(format!(
                    "the SQL file {shown_file} is not UTF-8 text (an invalid byte on line {line}): save it as UTF-8"
                ));
                continue;
            }
        };
        let text = text
            .strip_prefix('\u{feff}')
            .map(str::to_string)
            .unwrap_or(text);
        if text.trim().is_empty() {
            problem(format!(
                "the SQL file {shown_file} is empty: it must hold the query's SQL"
            ));
            continue;
        }
        // One query, one SQL: two files for the same query would overwrite each other on every sync.
        if let Some(other) = nodes
            .iter()
            .find(|n: &&SqlNode| n.query_id == key.query_id && differs(&n.text, &text))
        {
            problem(format!(
                "query {} is also run by node {} with a different SQL file ({}): a query has one SQL; point both nodes at the same file",
                key.query_id,
                other.node_id,
                one_line(&other.file)
            ));
            continue;
        }
        nodes.push(SqlNode {
            node_id: key.node_id,
            query_id: key.query_id,
            path: key.path.clone(),
            file,
            text,
        });
    }
    (nodes, problems)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn differs_ignores_line_endings_and_a_trailing_newline() {
        assert!(!differs("SELECT 1\n", "SELECT 1"));
        assert!(!differs("SELECT 1\r\nFROM t\r\n", "SELECT 1\nFROM t\n\n"));
        assert!(!differs("SELECT 1\rFROM t", "SELECT 1\nFROM t"));
        assert!(differs("SELECT 1", "SELECT 2"));
        assert!(differs("SELECT 1\n\nFROM t", "SELECT 1\nFROM t"));
        assert!(
            differs("  SELECT 1", "SELECT 1"),
            "leading space is SQL text"
        );
    }

    #[test]
    fn repository_paths_resolve_dots_and_refuse_leaving() {
        assert_eq!(
            repository_path("dune/daily.yml", "queries/a.sql").as_deref(),
            Ok("dune/queries/a.sql")
        );
        assert_eq!(
            repository_path("daily.yml", "./queries/a.sql").as_deref(),
            Ok("queries/a.sql")
        );
        assert_eq!(
            repository_path("dune/daily.yml", "../sql/a.sql").as_deref(),
            Ok("sql/a.sql")
        );
        assert!(repository_path("daily.yml", "../a.sql").is_err());
    }

    #[test]
    fn take_removes_the_keys_and_names_what_is_wrong() {
        let mut doc = json!({"pipeline": {"nodes": [
            {"id": 1, "sql": "a.sql", "query_execution": {"query_id": 11}},
            {"id": 2, "sql": "b.sql", "query_execution": {}},
            {"id": 3, "sql": 5, "query_execution": {"query_id": 33}},
            {"id": 4, "sql": "v.sql", "materialized_view_refresh": {"name": "dune.a.b"}},
            {"id": 5, "sql": "c.sql"},
        ]}});
        let (keys, problems) = take(&mut doc);
        assert_eq!(
            keys,
            vec![SqlKey {
                at: vec![
                    Step::Key("pipeline".into()),
                    Step::Key("nodes".into()),
                    Step::Index(0),
                    Step::Key("sql".into())
                ],
                node_id: 1,
                query_id: 11,
                path: "a.sql".into()
            }]
        );
        let shown: Vec<String> = problems.iter().map(ToString::to_string).collect();
        assert_eq!(shown.len(), 4, "{shown:?}");
        assert!(shown[0].starts_with("node 2: has `sql` but no query id"));
        assert!(shown[0].contains("Create the query on Dune first"));
        assert!(shown[1].starts_with("node 3: `sql` must be the path"));
        assert!(shown[2].starts_with("node 4: `sql` is for query nodes"));
        assert!(shown[3].starts_with("node 5: has `sql` but no query id"));
        assert!(
            doc["pipeline"]["nodes"]
                .as_array()
                .is_some_and(|n| n.iter().all(|n| n.get("sql").is_none()))
        );
    }

    #[test]
    fn load_checks_each_file() {
        let dir = tempfile::tempdir().expect("dir");
        let q = dir.path().join("dune/queries");
        std::fs::create_dir_all(&q).expect("mkdir");
        std::fs::write(q.join("ok.sql"), "SELECT 1\n").expect("write");
        std::fs::write(q.join("empty.sql"), "\n  \n").expect("write");
        std::fs::write(q.join("latin1.sql"), b"SELECT 1\n-- caf\xe9\n").expect("write");
        let key = |i: usize, path: &str| SqlKey {
            at: vec![Step::Index(i)],
            node_id: i as i64 + 1,
            query_id: 100 + i as i64,
            path: path.into(),
        };
        let keys = [
            key(0, "queries/ok.sql"),
            key(1, "queries/missing.sql"),
            key(2, "queries/empty.sql"),
            key(3, "queries/latin1.sql"),
            key(4, "/etc/passwd"),
            key(5, "../../x.sql"),
        ];
        let ws = dir.path().to_str().expect("utf-8");
        let (nodes, problems) = load(&keys, "dune/p.yml", Some(ws));
        assert_eq!(
            nodes,
            vec![SqlNode {
                node_id: 1,
                query_id: 100,
                path: "queries/ok.sql".into(),
                file: "dune/queries/ok.sql".into(),
                text: "SELECT 1\n".into()
            }]
        );
        let shown: Vec<String> = problems.iter().map(ToString::to_string).collect();
        assert!(
            shown[0].starts_with("node 2: cannot read the SQL file dune/queries/missing.sql"),
            "{shown:?}"
        );
        assert!(
            shown[1].contains("dune/queries/empty.sql is empty"),
            "{shown:?}"
        );
        assert!(
            shown[2].contains("is not UTF-8 text (an invalid byte on line 2)"),
            "{shown:?}"
        );
        assert!(
            shown[3].contains("relative to the pipeline file"),
            "{shown:?}"
        );
        assert!(shown[4].contains("outside the repository"), "{shown:?}");
        assert_eq!(problems[0].at, vec![Step::Index(1)]);
    }

    #[test]
    fn one_query_has_one_sql() {
        let dir = tempfile::tempdir().expect("dir");
        std::fs::write(dir.path().join("a.sql"), "SELECT 1\n").expect("write");
        std::fs::write(dir.path().join("a-crlf.sql"), "SELECT 1\r\n").expect("write");
        std::fs::write(dir.path().join("b.sql"), "SELECT 2\n").expect("write");
        let key = |node_id: i64, path: &str| SqlKey {
            at: Vec::new(),
            node_id,
            query_id: 7,
            path: path.into(),
        };
        let ws = dir.path().to_str().expect("utf-8");
        let keys = [key(1, "a.sql"), key(2, "a-crlf.sql"), key(3, "b.sql")];
        let (nodes, problems) = load(&keys, "p.yml", Some(ws));
        assert_eq!(nodes.len(), 2, "the same SQL twice is fine");
        assert_eq!(problems.len(), 1);
        assert!(
            problems[0].to_string().starts_with(
                "node 3: query 7 is also run by node 1 with a different SQL file (a.sql)"
            ),
            "{}",
            problems[0]
        );
    }
}
