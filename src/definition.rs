//! A pipeline definition in Dune's own shape (`models.Pipeline`): what `GET /api/v1/query/{id}/pipeline`
//! returns, what `POST /api/v1/pipelines/execute` takes, and what a pipeline file holds. Read strictly from
//! a file (every problem named with the node it is about), tolerantly from Dune (unknown keys ignored), and
//! written back as the request body or as YAML ready to save as a pipeline file.

use std::fmt;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value, json};

use crate::dag;
use crate::inputs::Performance;
use crate::node::{Node, NodeKind};

/// A pipeline file larger than this is refused (a pipeline of thousands of nodes is a few hundred KiB).
pub const MAX_FILE_BYTES: u64 = 1024 * 1024;

/// At most this many problems are listed in one error message.
const MAX_PROBLEMS_SHOWN: usize = 20;

/// What one node does.
#[derive(Debug, Clone, PartialEq)]
pub enum Task {
    /// `query_execution`: runs a saved query.
    Query {
        query_id: i64,
        performance: Option<Performance>,
        query_parameters: Option<Map<String, Value>>,
    },
    /// `materialized_view_refresh`: refreshes a materialized view.
    View {
        name: String,
        performance: Option<Performance>,
    },
}

/// One node of a definition (`models.PipelineNode`).
#[derive(Debug, Clone, PartialEq)]
pub struct DefNode {
    pub id: i64,
    pub dependencies: Vec<i64>,
    pub task: Task,
}

impl DefNode {
    /// The node's performance tier, when it sets one.
    pub fn performance(&self) -> Option<Performance> {
        match &self.task {
            Task::Query { performance, .. } | Task::View { performance, .. } => *performance,
        }
    }

    /// The node as the follower tracks it before Dune reports on it: kind, name and dependencies known.
    pub fn to_node(&self) -> Node {
        let kind = match &self.task {
            Task::Query { query_id, .. } => NodeKind::Query {
                query_id: Some(*query_id),
            },
            Task::View { name, .. } => NodeKind::MaterializedView {
                name: Some(name.clone()),
            },
        };
        let mut node = Node::new(self.id, kind);
        node.dependencies = Some(self.dependencies.clone());
        node
    }

    fn to_value(&self) -> Value {
        let mut o = Map::new();
        o.insert("id".into(), json!(self.id));
        o.insert("dependencies".into(), json!(self.dependencies));
        match &self.task {
            Task::Query {
                query_id,
                performance,
                query_parameters,
            } => {
                let mut q = Map::new();
                q.insert("query_id".into(), json!(query_id));
                if let Some(p) = performance {
                    q.insert("performance".into(), json!(p.as_str()));
                }
                if let Some(params) = query_parameters {
                    q.insert("query_parameters".into(), Value::Object(params.clone()));
                }
                o.insert("query_execution".into(), Value::Object(q));
            }
            Task::View { name, performance } => {
                let mut v = Map::new();
                v.insert("name".into(), json!(name));
                if let Some(p) = performance {
                    v.insert("performance".into(), json!(p.as_str()));
                }
                o.insert("materialized_view_refresh".into(), Value::Object(v));
            }
        }
        Value::Object(o)
    }
}

/// A pipeline definition: its nodes, in the order they were listed.
#[derive(Debug, Clone, PartialEq)]
pub struct Definition {
    pub nodes: Vec<DefNode>,
}

impl Definition {
    /// `{"pipeline": {"nodes": [...]}}`: the body of `POST /api/v1/pipelines/execute`, the shape of the
    /// `GET /api/v1/query/{id}/pipeline` response, and of a pipeline file. Absent settings are left out.
    pub fn to_value(&self) -> Value {
        let nodes: Vec<Value> = self.nodes.iter().map(DefNode::to_value).collect();
        json!({ "pipeline": { "nodes": nodes } })
    }

    /// The definition as a YAML pipeline file.
    pub fn to_yaml(&self) -> String {
        // NOTE: serialising a serde_json::Value cannot fail (string keys, finite numbers); the fallback
        // keeps the dry run useful if it ever did.
        serde_yaml_ng::to_string(&self.to_value())
            .unwrap_or_else(|_| self.to_value().to_string() + "\n")
    }

    /// Fills in the `performance` and `query_parameters` inputs for the nodes that set none.
    pub fn with_defaults(
        mut self,
        performance: Performance,
        query_parameters: Option<&Map<String, Value>>,
    ) -> Definition {
        for n in &mut self.nodes {
            match &mut n.task {
                Task::Query {
                    performance: p,
                    query_parameters: q,
                    ..
                } => {
                    p.get_or_insert(performance);
                    if q.is_none() {
                        *q = query_parameters.cloned();
                    }
                }
                Task::View { performance: p, .. } => {
                    p.get_or_insert(performance);
                }
            }
        }
        self
    }

    /// Positions of the nodes in dependency order (stable).
    pub fn dependency_order(&self) -> Vec<usize> {
        let graph: Vec<dag::Edge<'_>> = self
            .nodes
            .iter()
            .map(|n| (n.id, n.dependencies.as_slice()))
            .collect();
        dag::dependency_order(&graph)
    }

    /// Reads Dune's `GET /api/v1/query/{id}/pipeline` response, ignoring keys it does not know.
    pub fn from_response(v: &Value) -> Result<Definition, String> {
        read(v, Strictness::Tolerant).map_err(|problems| {
            let shown: Vec<String> = problems.iter().map(ToString::to_string).collect();
            shown.join("; ")
        })
    }
}

/// A pipeline file: the path as the `pipeline_file` input gave it, and its definition.
#[derive(Debug, Clone, PartialEq)]
pub struct PipelineFile {
    pub path: String,
    pub definition: Definition,
}

/// One thing wrong with a definition: the node(s) it is about, when it is about some, and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// `node 2`, `nodes 2, 3, 4`, `the 3rd node`; `None` for the file as a whole.
    pub node: Option<String>,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.node {
            Some(n) => write!(f, "{n}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

/// A pipeline file that cannot be used: the path as given, and every problem found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct FileError {
    pub path: String,
    pub problems: Vec<Problem>,
}

impl fmt::Display for FileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let path = crate::github::commands::one_line(&self.path);
        let shown: Vec<String> = self
            .problems
            .iter()
            .take(MAX_PROBLEMS_SHOWN)
            .map(|p| format!("{path}: {p}"))
            .collect();
        f.write_str(&shown.join("; "))?;
        if self.problems.len() > MAX_PROBLEMS_SHOWN {
            write!(
                f,
                "; and {} more problems",
                self.problems.len() - MAX_PROBLEMS_SHOWN
            )?;
        }
        Ok(())
    }
}

/// Where a pipeline file is: `path` as given, relative to `workspace` (the repository checkout) unless it
/// is absolute.
pub fn resolve(path: &str, workspace: Option<&str>) -> PathBuf {
    let p = Path::new(path);
    match workspace {
        Some(w) if p.is_relative() => Path::new(w).join(p),
        _ => p.to_path_buf(),
    }
}

/// Reads and validates a pipeline file (YAML, or JSON for a `.json` file).
pub fn read_file(path: &str, workspace: Option<&str>) -> Result<Definition, FileError> {
    let fail = |message: String| FileError {
        path: path.to_string(),
        problems: vec![Problem {
            node: None,
            message,
        }],
    };
    let full = resolve(path, workspace);
    let size = std::fs::metadata(&full)
        .map_err(|e| {
            fail(format!(
                "cannot read the file ({e}); the path is relative to the repository root: check it out (actions/checkout) before this step"
            ))
        })?
        .len();
    if size > MAX_FILE_BYTES {
        return Err(fail(format!(
            "the file has {size} bytes, more than the {MAX_FILE_BYTES} a pipeline file may have"
        )));
    }
    let text =
        std::fs::read_to_string(&full).map_err(|e| fail(format!("cannot read the file ({e})")))?;
    let is_json = path.to_ascii_lowercase().ends_with(".json");
    parse(&text, is_json).map_err(|problems| FileError {
        path: path.to_string(),
        problems,
    })
}

/// Parses and validates the text of a pipeline file.
pub fn parse(text: &str, is_json: bool) -> Result<Definition, Vec<Problem>> {
    let whole = |message: String| {
        vec![Problem {
            node: None,
            message,
        }]
    };
    let value: Value = if is_json {
        serde_json::from_str(text).map_err(|e| whole(format!("not valid JSON: {e}")))?
    } else {
        serde_yaml_ng::from_str(text).map_err(|e| whole(format!("not valid YAML: {e}")))?
    };
    read(&value, Strictness::Strict)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Strictness {
    /// A pipeline file: unknown keys are mistakes.
    Strict,
    /// Dune's response: unknown keys are newer fields.
    Tolerant,
}

const NODE_KEYS: &[&str] = &[
    "id",
    "dependencies",
    "query_execution",
    "materialized_view_refresh",
];
const QUERY_KEYS: &[&str] = &["query_id", "performance", "query_parameters"];
const VIEW_KEYS: &[&str] = &["name", "performance"];

/// A value as shown in a message: short and on one line.
fn shown(v: &Value) -> String {
    let text = match v {
        Value::String(s) => format!("{s:?}"),
        other => other.to_string(),
    };
    crate::github::commands::one_line(&crate::github::commands::truncate_chars(&text, 40))
}

fn ordinal(n: usize) -> String {
    let suffix = match (n % 10, n % 100) {
        (_, 11..=13) => "th",
        (1, _) => "st",
        (2, _) => "nd",
        (3, _) => "rd",
        _ => "th",
    };
    format!("the {n}{suffix} node")
}

fn list(items: &[&str]) -> String {
    let quoted: Vec<String> = items.iter().map(|k| format!("`{k}`")).collect();
    quoted.join(", ")
}

struct Reader {
    strictness: Strictness,
    problems: Vec<Problem>,
}

impl Reader {
    fn problem(&mut self, node: Option<&str>, message: impl Into<String>) {
        self.problems.push(Problem {
            node: node.map(str::to_string),
            message: message.into(),
        });
    }

    /// Reports keys of `obj` outside `known` (strict only). `at` prefixes the key (`query_execution.`).
    fn unknown_keys(
        &mut self,
        node: Option<&str>,
        at: &str,
        obj: &Map<String, Value>,
        known: &[&str],
    ) {
        if self.strictness == Strictness::Tolerant {
            return;
        }
        for key in obj.keys().filter(|k| !known.contains(&k.as_str())) {
            let key = crate::github::commands::one_line(&crate::github::commands::truncate_chars(
                key, 40,
            ));
            self.problem(
                node,
                format!("unknown key `{at}{key}` (expected {})", list(known)),
            );
        }
    }

    /// A mapping under `key`, or `None` when absent or null (a problem when it is something else).
    fn mapping<'v>(
        &mut self,
        node: Option<&str>,
        obj: &'v Map<String, Value>,
        key: &str,
        what: &str,
    ) -> Option<&'v Map<String, Value>> {
        match obj.get(key) {
            None | Some(Value::Null) => None,
            Some(Value::Object(m)) => Some(m),
            Some(other) => {
                self.problem(
                    node,
                    format!("`{key}` must be a mapping ({what}), got {}", shown(other)),
                );
                None
            }
        }
    }

    fn performance(
        &mut self,
        node: &str,
        at: &str,
        obj: &Map<String, Value>,
    ) -> Option<Performance> {
        match obj.get("performance") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) if s == "medium" => Some(Performance::Medium),
            Some(Value::String(s)) if s == "large" => Some(Performance::Large),
            Some(other) => {
                self.problem(
                    Some(node),
                    format!(
                        "`{at}.performance` must be `medium` or `large`, got {}",
                        shown(other)
                    ),
                );
                None
            }
        }
    }

    fn query(&mut self, node: &str, obj: &Map<String, Value>) -> Option<Task> {
        self.unknown_keys(Some(node), "query_execution.", obj, QUERY_KEYS);
        let query_id = match obj.get("query_id") {
            Some(Value::Number(n)) if n.as_i64().is_some_and(|q| q > 0) => n.as_i64(),
            None | Some(Value::Null) => {
                self.problem(Some(node), "`query_execution` has no `query_id`");
                None
            }
            Some(other) => {
                self.problem(
                    Some(node),
                    format!(
                        "`query_execution.query_id` must be a positive integer (the number in https://dune.com/queries/<id>), got {}",
                        shown(other)
                    ),
                );
                None
            }
        };
        let performance = self.performance(node, "query_execution", obj);
        let query_parameters = self
            .mapping(
                Some(node),
                obj,
                "query_parameters",
                "parameter names and values",
            )
            .cloned();
        Some(Task::Query {
            query_id: query_id?,
            performance,
            query_parameters,
        })
    }

    fn view(&mut self, node: &str, obj: &Map<String, Value>) -> Option<Task> {
        self.unknown_keys(Some(node), "materialized_view_refresh.", obj, VIEW_KEYS);
        let name = match obj.get("name") {
            Some(Value::String(s)) if !s.trim().is_empty() => Some(s.clone()),
            None | Some(Value::Null) => {
                self.problem(Some(node), "`materialized_view_refresh` has no `name`");
                None
            }
            Some(other) => {
                self.problem(
                    Some(node),
                    format!(
                        "`materialized_view_refresh.name` must be the view's full name such as dune.team.mv_name, got {}",
                        shown(other)
                    ),
                );
                None
            }
        };
        let performance = self.performance(node, "materialized_view_refresh", obj);
        Some(Task::View {
            name: name?,
            performance,
        })
    }

    fn node(&mut self, position: usize, v: &Value) -> Option<DefNode> {
        let Some(obj) = v.as_object() else {
            self.problem(
                Some(&ordinal(position)),
                format!(
                    "must be a mapping with `id`, `dependencies` and `query_execution` or `materialized_view_refresh`, got {}",
                    shown(v)
                ),
            );
            return None;
        };
        let id = match obj.get("id") {
            Some(Value::Number(n)) if n.as_i64().is_some() => n.as_i64()?,
            None | Some(Value::Null) => {
                self.problem(Some(&ordinal(position)), "has no `id`");
                return None;
            }
            Some(other) => {
                self.problem(
                    Some(&ordinal(position)),
                    format!("`id` must be an integer, got {}", shown(other)),
                );
                return None;
            }
        };
        let name = format!("node {id}");
        let who = Some(name.as_str());
        self.unknown_keys(who, "", obj, NODE_KEYS);
        let mut dependencies = Vec::new();
        match obj.get("dependencies") {
            None | Some(Value::Null) => {}
            Some(Value::Array(items)) => {
                for item in items {
                    match item.as_i64() {
                        Some(d) => dependencies.push(d),
                        None => self.problem(
                            who,
                            format!(
                                "`dependencies` must list node ids (integers), got {}",
                                shown(item)
                            ),
                        ),
                    }
                }
            }
            Some(other) => self.problem(
                who,
                format!(
                    "`dependencies` must be a list of node ids such as [1, 2], got {}",
                    shown(other)
                ),
            ),
        }
        let query = self.mapping(
            who,
            obj,
            "query_execution",
            "query_id, performance, query_parameters",
        );
        let view = self.mapping(who, obj, "materialized_view_refresh", "name, performance");
        let task = match (query, view) {
            (Some(q), None) => self.query(&name, q),
            (None, Some(v)) => self.view(&name, v),
            (Some(_), Some(_)) => {
                self.problem(
                    who,
                    "has both `query_execution` and `materialized_view_refresh`: a node does exactly one of them",
                );
                None
            }
            (None, None) => {
                let neither = !obj.contains_key("query_execution")
                    && !obj.contains_key("materialized_view_refresh");
                if neither {
                    self.problem(
                        who,
                        "has neither `query_execution` nor `materialized_view_refresh`: a node does exactly one of them",
                    );
                }
                None
            }
        };
        Some(DefNode {
            id,
            dependencies,
            task: task?,
        })
    }

    /// Unique ids, dependencies that exist, no cycles.
    fn graph(&mut self, nodes: &[DefNode]) {
        let mut seen: Vec<i64> = Vec::new();
        for n in nodes {
            let count = nodes.iter().filter(|m| m.id == n.id).count();
            if count > 1 && !seen.contains(&n.id) {
                seen.push(n.id);
                self.problem(
                    Some(&format!("node {}", n.id)),
                    format!(
                        "the id {} is used by {count} nodes: ids must be unique",
                        n.id
                    ),
                );
            }
        }
        for n in nodes {
            for d in n
                .dependencies
                .iter()
                .filter(|d| !nodes.iter().any(|m| m.id == **d))
            {
                self.problem(
                    Some(&format!("node {}", n.id)),
                    format!("depends on node {d}, which is not in the pipeline"),
                );
            }
        }
        let graph: Vec<dag::Edge<'_>> = nodes
            .iter()
            .map(|n| (n.id, n.dependencies.as_slice()))
            .collect();
        for cycle in dag::cycles(&graph) {
            let ids: Vec<String> = cycle.iter().map(i64::to_string).collect();
            if let [only] = cycle.as_slice() {
                self.problem(
                    Some(&format!("node {only}")),
                    "depends on itself (a dependency cycle)",
                );
                continue;
            }
            let mut steps: Vec<String> = cycle
                .windows(2)
                .map(|w| format!("{} depends on {}", w[0], w[1]))
                .collect();
            steps.push(format!("{} depends on {}", ids[ids.len() - 1], ids[0]));
            self.problem(
                Some(&format!("nodes {}", ids.join(", "))),
                format!("form a dependency cycle ({})", steps.join(", ")),
            );
        }
    }
}

fn read(root: &Value, strictness: Strictness) -> Result<Definition, Vec<Problem>> {
    let mut r = Reader {
        strictness,
        problems: Vec::new(),
    };
    let nodes = read_nodes(&mut r, root);
    if r.problems.is_empty() {
        r.graph(&nodes);
    }
    if r.problems.is_empty() {
        Ok(Definition { nodes })
    } else {
        Err(r.problems)
    }
}

fn read_nodes(r: &mut Reader, root: &Value) -> Vec<DefNode> {
    const SHAPE: &str = "a pipeline is `pipeline: {nodes: [...]}` (Dune's pipeline shape)";
    let Some(top) = root.as_object() else {
        let got = if root.is_null() {
            "an empty document".to_string()
        } else {
            shown(root)
        };
        r.problem(None, format!("{SHAPE}, got {got}"));
        return Vec::new();
    };
    r.unknown_keys(None, "", top, &["pipeline"]);
    let Some(pipeline) = r.mapping(None, top, "pipeline", "with `nodes`") else {
        if !top.contains_key("pipeline") {
            r.problem(None, format!("has no `pipeline` key: {SHAPE}"));
        }
        return Vec::new();
    };
    r.unknown_keys(None, "pipeline.", pipeline, &["nodes"]);
    let items = match pipeline.get("nodes") {
        Some(Value::Array(items)) if !items.is_empty() => items,
        Some(Value::Array(_)) => {
            r.problem(None, "`pipeline.nodes` is empty: list at least one node");
            return Vec::new();
        }
        None | Some(Value::Null) => {
            r.problem(None, format!("has no `pipeline.nodes`: {SHAPE}"));
            return Vec::new();
        }
        Some(other) => {
            r.problem(
                None,
                format!("`pipeline.nodes` must be a list, got {}", shown(other)),
            );
            return Vec::new();
        }
    };
    items
        .iter()
        .enumerate()
        .filter_map(|(i, v)| r.node(i + 1, v))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const ISSUE_EXAMPLE: &str = include_str!("../tests/fixtures/pipeline.yml");

    fn problems(text: &str) -> Vec<String> {
        match parse(text, false) {
            Ok(d) => panic!("expected problems, got {d:?}"),
            Err(p) => p.iter().map(ToString::to_string).collect(),
        }
    }

    #[test]
    fn reads_the_issue_example() {
        let d = parse(ISSUE_EXAMPLE, false).expect("valid");
        assert_eq!(d.nodes.len(), 3);
        assert_eq!(d.nodes[2].dependencies, vec![2]);
        assert_eq!(
            d.nodes[0].task,
            Task::View {
                name: "dune.acme.mv_daily_volume".into(),
                performance: Some(Performance::Medium)
            }
        );
        assert_eq!(d.nodes[2].performance(), None);
    }

    #[test]
    fn yaml_round_trips() {
        let d = parse(ISSUE_EXAMPLE, false)
            .expect("valid")
            .with_defaults(Performance::Large, None);
        let again = parse(&d.to_yaml(), false).expect("printed YAML reads back");
        assert_eq!(again, d);
        assert_eq!(again.nodes[2].performance(), Some(Performance::Large));
        let json = parse(&d.to_value().to_string(), true).expect("JSON reads back");
        assert_eq!(json, d);
    }

    #[test]
    fn defaults_fill_only_what_is_unset() {
        let params: Map<String, Value> =
            serde_json::from_str(r#"{"chain": "base"}"#).expect("json");
        let d = parse(ISSUE_EXAMPLE, false)
            .expect("valid")
            .with_defaults(Performance::Medium, Some(&params));
        let v = d.to_value();
        assert_eq!(
            v["pipeline"]["nodes"][1]["query_execution"],
            json!({"query_id": 1111, "performance": "large", "query_parameters": {"chain": "base"}})
        );
        assert_eq!(
            v["pipeline"]["nodes"][2]["query_execution"]["query_parameters"],
            json!({"chain": "ethereum"})
        );
    }

    #[test]
    fn every_problem_names_its_node() {
        let p = problems(
            r#"
pipeline:
  nodes:
    - id: 1
      query_exec: {query_id: 5}
    - id: 2
      dependencies: [1]
      query_execution: {query_id: 5, performance: huge, extra: 1}
    - id: 3
      query_execution: {query_id: 5}
      materialized_view_refresh: {name: dune.a.b}
    - {dependencies: []}
    - id: 4
      query_execution: {query_id: -1}
"#,
        );
        assert_eq!(
            p,
            vec![
                "node 1: unknown key `query_exec` (expected `id`, `dependencies`, `query_execution`, `materialized_view_refresh`)",
                "node 1: has neither `query_execution` nor `materialized_view_refresh`: a node does exactly one of them",
                "node 2: unknown key `query_execution.extra` (expected `query_id`, `performance`, `query_parameters`)",
                "node 2: `query_execution.performance` must be `medium` or `large`, got \"huge\"",
                "node 3: has both `query_execution` and `materialized_view_refresh`: a node does exactly one of them",
                "the 4th node: has no `id`",
                "node 4: `query_execution.query_id` must be a positive integer (the number in https://dune.com/queries/<id>), got -1",
            ]
        );
    }

    #[test]
    fn graph_problems() {
        let p = problems(
            r#"
pipeline:
  nodes:
    - {id: 1, dependencies: [9], query_execution: {query_id: 1}}
    - {id: 1, query_execution: {query_id: 2}}
"#,
        );
        assert_eq!(
            p,
            vec![
                "node 1: the id 1 is used by 2 nodes: ids must be unique",
                "node 1: depends on node 9, which is not in the pipeline",
            ]
        );
        let p = problems(
            r#"
pipeline:
  nodes:
    - {id: 1, query_execution: {query_id: 1}}
    - {id: 2, dependencies: [1, 4], query_execution: {query_id: 2}}
    - {id: 3, dependencies: [2], query_execution: {query_id: 3}}
    - {id: 4, dependencies: [3], query_execution: {query_id: 4}}
    - {id: 5, dependencies: [5], query_execution: {query_id: 5}}
"#,
        );
        assert_eq!(
            p,
            vec![
                "nodes 2, 4, 3: form a dependency cycle (2 depends on 4, 4 depends on 3, 3 depends on 2)",
                "node 5: depends on itself (a dependency cycle)",
            ]
        );
    }

    #[test]
    fn shape_problems() {
        assert_eq!(
            problems(""),
            vec![
                "a pipeline is `pipeline: {nodes: [...]}` (Dune's pipeline shape), got an empty document"
            ]
        );
        assert_eq!(
            problems("nodes: []"),
            vec![
                "unknown key `nodes` (expected `pipeline`)",
                "has no `pipeline` key: a pipeline is `pipeline: {nodes: [...]}` (Dune's pipeline shape)"
            ]
        );
        assert_eq!(
            problems("pipeline: {nodes: []}"),
            vec!["`pipeline.nodes` is empty: list at least one node"]
        );
        assert!(problems("pipeline: [")[0].starts_with("not valid YAML"));
    }

    #[test]
    fn dune_responses_are_read_tolerantly() {
        let v = json!({"pipeline": {"nodes": [
            {"id": 1, "dependencies": null, "materialized_view_refresh": {"name": "dune.a.mv", "performance": "medium", "new_field": 1}},
            {"id": 2, "dependencies": [1], "query_execution": {"query_id": 7, "performance": "medium"}, "query_execution_extra": {}}
        ]}, "other": true});
        let d = Definition::from_response(&v).expect("tolerant");
        assert_eq!(d.nodes[0].dependencies, Vec::<i64>::new());
        assert!(Definition::from_response(&json!({"pipeline": {"nodes": [{"id": 1}]}})).is_err());
    }
}
