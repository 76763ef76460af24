//! A pipeline definition in Dune's own shape (`models.Pipeline`): what `GET /api/v1/query/{id}/pipeline`
//! returns and what `POST /api/v1/pipelines/execute` takes. Read tolerantly from Dune (unknown keys are
//! newer fields) or strictly from a document a person wrote (every problem named with the node it is
//! about), and written back as the request body.

use std::fmt;

use serde_json::{Map, Value, json};

use crate::graph;
pub use crate::models::Tier;
use crate::text::{one_line, truncate_chars};

/// What one node does.
#[derive(Debug, Clone, PartialEq)]
pub enum Task {
    /// `query_execution`: runs a saved query.
    Query {
        /// The saved query's id.
        query_id: i64,
        /// The performance tier this node runs on, when it sets one.
        performance: Option<Tier>,
        /// Values for the query's parameters, by name.
        query_parameters: Option<Map<String, Value>>,
    },
    /// `materialized_view_refresh`: refreshes a materialized view.
    View {
        /// The view's full name (`dune.<team>.<name>`).
        name: String,
        /// The performance tier the refresh runs on, when it sets one.
        performance: Option<Tier>,
    },
}

/// One node of a definition (`models.PipelineNode`).
#[derive(Debug, Clone, PartialEq)]
pub struct DefNode {
    /// The node's id, unique within the definition.
    pub id: i64,
    /// The ids of the nodes that must complete before this one starts.
    pub dependencies: Vec<i64>,
    /// What the node does.
    pub task: Task,
}

impl DefNode {
    /// The node's performance tier, when it sets one.
    pub fn performance(&self) -> Option<&Tier> {
        match &self.task {
            Task::Query { performance, .. } | Task::View { performance, .. } => {
                performance.as_ref()
            }
        }
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
    /// The nodes, in the order they were listed.
    pub nodes: Vec<DefNode>,
}

impl Definition {
    /// `{"pipeline": {"nodes": [...]}}`: the body of `POST /api/v1/pipelines/execute`, the shape of the
    /// `GET /api/v1/query/{id}/pipeline` response, and of a pipeline file. Absent settings are left out.
    pub fn to_value(&self) -> Value {
        let nodes: Vec<Value> = self.nodes.iter().map(DefNode::to_value).collect();
        json!({ "pipeline": { "nodes": nodes } })
    }

    /// Fills in a default tier and query parameters for the nodes that set none.
    pub fn with_defaults(
        mut self,
        performance: impl Into<Tier>,
        query_parameters: Option<&Map<String, Value>>,
    ) -> Definition {
        let performance: Tier = performance.into();
        for n in &mut self.nodes {
            match &mut n.task {
                Task::Query {
                    performance: p,
                    query_parameters: q,
                    ..
                } => {
                    p.get_or_insert_with(|| performance.clone());
                    if q.is_none() {
                        *q = query_parameters.cloned();
                    }
                }
                Task::View { performance: p, .. } => {
                    p.get_or_insert_with(|| performance.clone());
                }
            }
        }
        self
    }

    /// Reads Dune's `GET /api/v1/query/{id}/pipeline` response, ignoring keys it does not know.
    pub fn from_response(v: &Value) -> Result<Definition, String> {
        read(v, Strictness::Tolerant).map_err(|problems| {
            let shown: Vec<String> = problems.iter().map(ToString::to_string).collect();
            shown.join("; ")
        })
    }

    /// Reads a definition a person wrote (a pipeline file, already parsed into JSON values) strictly:
    /// unknown keys, duplicate ids, dependencies on missing nodes and cycles are all problems, each named
    /// with the node it is about.
    pub fn from_document(v: &Value) -> Result<Definition, Vec<Problem>> {
        read(v, Strictness::Strict)
    }
}

/// One thing wrong with a definition: the node(s) it is about, when it is about some, where in the
/// document, and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// `node 2`, `nodes 2, 3, 4`, `the 3rd node`; `None` for the file as a whole.
    pub node: Option<String>,
    /// The keys and list positions leading to the offending key or node, from the document's root
    /// (`pipeline`, `nodes`, 0, `query_execution`); empty for the document as a whole. A reader that keeps
    /// positions maps it to a line and column.
    pub at: Vec<Step>,
    /// What is wrong, in a sentence.
    pub message: String,
}

/// One step of a [`Problem`]'s path into the document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// A mapping key.
    Key(String),
    /// A list position (0-based).
    Index(usize),
}

/// A path of steps: `key(&[..], "id")`.
fn key(base: &[Step], k: &str) -> Vec<Step> {
    let mut v = base.to_vec();
    v.push(Step::Key(k.to_string()));
    v
}

fn index(base: &[Step], i: usize) -> Vec<Step> {
    let mut v = base.to_vec();
    v.push(Step::Index(i));
    v
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.node {
            Some(n) => write!(f, "{n}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
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
    one_line(&truncate_chars(&text, 40))
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
    fn problem(&mut self, node: Option<&str>, at: Vec<Step>, message: impl Into<String>) {
        self.problems.push(Problem {
            node: node.map(str::to_string),
            at,
            message: message.into(),
        });
    }

    /// Reports keys of `obj` (found at `path`) outside `known` (strict only). `at` prefixes the key in
    /// the message (`query_execution.`).
    fn unknown_keys(
        &mut self,
        node: Option<&str>,
        path: &[Step],
        at: &str,
        obj: &Map<String, Value>,
        known: &[&str],
    ) {
        if self.strictness == Strictness::Tolerant {
            return;
        }
        for k in obj.keys().filter(|k| !known.contains(&k.as_str())) {
            let shown_key = one_line(&truncate_chars(k, 40));
            self.problem(
                node,
                key(path, k),
                format!("unknown key `{at}{shown_key}` (expected {})", list(known)),
            );
        }
    }

    /// A mapping under `k` of `obj` (found at `path`), or `None` when absent or null (a problem when it
    /// is something else).
    fn mapping<'v>(
        &mut self,
        node: Option<&str>,
        path: &[Step],
        obj: &'v Map<String, Value>,
        k: &str,
        what: &str,
    ) -> Option<&'v Map<String, Value>> {
        match obj.get(k) {
            None | Some(Value::Null) => None,
            Some(Value::Object(m)) => Some(m),
            Some(other) => {
                self.problem(
                    node,
                    key(path, k),
                    format!("`{k}` must be a mapping ({what}), got {}", shown(other)),
                );
                None
            }
        }
    }

    /// The node's tier: any non-empty string is passed through (a newer Dune may add tiers; Dune itself
    /// answers an unknown one with a 400 naming it).
    fn performance(
        &mut self,
        node: &str,
        path: &[Step],
        at: &str,
        obj: &Map<String, Value>,
    ) -> Option<Tier> {
        match obj.get("performance") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) if !s.trim().is_empty() => Tier::named(s),
            Some(other) => {
                self.problem(
                    Some(node),
                    key(path, "performance"),
                    format!(
                        "`{at}.performance` must be a tier name such as `medium` or `large`, got {}",
                        shown(other)
                    ),
                );
                None
            }
        }
    }

    fn query(&mut self, node: &str, path: &[Step], obj: &Map<String, Value>) -> Option<Task> {
        self.unknown_keys(Some(node), path, "query_execution.", obj, QUERY_KEYS);
        let query_id = match obj.get("query_id") {
            Some(Value::Number(n)) if n.as_i64().is_some_and(|q| q > 0) => n.as_i64(),
            None | Some(Value::Null) => {
                self.problem(
                    Some(node),
                    path.to_vec(),
                    "`query_execution` has no `query_id`",
                );
                None
            }
            Some(other) => {
                self.problem(
                    Some(node),
                    key(path, "query_id"),
                    format!(
                        "`query_execution.query_id` must be a positive integer (the number in https://dune.com/queries/<id>), got {}",
                        shown(other)
                    ),
                );
                None
            }
        };
        let performance = self.performance(node, path, "query_execution", obj);
        let query_parameters = self
            .mapping(
                Some(node),
                path,
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

    fn view(&mut self, node: &str, path: &[Step], obj: &Map<String, Value>) -> Option<Task> {
        self.unknown_keys(
            Some(node),
            path,
            "materialized_view_refresh.",
            obj,
            VIEW_KEYS,
        );
        let name = match obj.get("name") {
            Some(Value::String(s)) if !s.trim().is_empty() => Some(s.clone()),
            None | Some(Value::Null) => {
                self.problem(
                    Some(node),
                    path.to_vec(),
                    "`materialized_view_refresh` has no `name`",
                );
                None
            }
            Some(other) => {
                self.problem(
                    Some(node),
                    key(path, "name"),
                    format!(
                        "`materialized_view_refresh.name` must be the view's full name such as dune.team.mv_name, got {}",
                        shown(other)
                    ),
                );
                None
            }
        };
        let performance = self.performance(node, path, "materialized_view_refresh", obj);
        Some(Task::View {
            name: name?,
            performance,
        })
    }

    /// Reads the node at `position` (0-based) of `pipeline.nodes`; `None` when it has no usable id.
    fn node(&mut self, position: usize, v: &Value) -> Option<ReadNode> {
        let path = index(
            &[Step::Key("pipeline".into()), Step::Key("nodes".into())],
            position,
        );
        let Some(obj) = v.as_object() else {
            self.problem(
                Some(&ordinal(position + 1)),
                path,
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
                self.problem(Some(&ordinal(position + 1)), path, "has no `id`");
                return None;
            }
            Some(other) => {
                self.problem(
                    Some(&ordinal(position + 1)),
                    key(&path, "id"),
                    format!("`id` must be an integer, got {}", shown(other)),
                );
                return None;
            }
        };
        let name = format!("node {id}");
        let who = Some(name.as_str());
        self.unknown_keys(who, &path, "", obj, NODE_KEYS);
        let mut dependencies = Vec::new();
        match obj.get("dependencies") {
            None | Some(Value::Null) => {}
            Some(Value::Array(items)) => {
                let deps_path = key(&path, "dependencies");
                for (j, item) in items.iter().enumerate() {
                    match item.as_i64() {
                        Some(d) => dependencies.push((j, d)),
                        None => self.problem(
                            who,
                            index(&deps_path, j),
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
                key(&path, "dependencies"),
                format!(
                    "`dependencies` must be a list of node ids such as [1, 2], got {}",
                    shown(other)
                ),
            ),
        }
        let query = self.mapping(
            who,
            &path,
            obj,
            "query_execution",
            "query_id, performance, query_parameters",
        );
        let view = self.mapping(
            who,
            &path,
            obj,
            "materialized_view_refresh",
            "name, performance",
        );
        let task = match (query, view) {
            (Some(q), None) => self.query(&name, &key(&path, "query_execution"), q),
            (None, Some(v)) => self.view(&name, &key(&path, "materialized_view_refresh"), v),
            (Some(_), Some(_)) => {
                self.problem(
                    who,
                    key(&path, "materialized_view_refresh"),
                    "has both `query_execution` and `materialized_view_refresh`: a node does exactly one of them",
                );
                None
            }
            (None, None) => {
                // A key that is there but null counts as absent; one of another type was reported.
                let absent = |k: &str| obj.get(k).is_none_or(Value::is_null);
                let neither = absent("query_execution") && absent("materialized_view_refresh");
                if neither {
                    self.problem(
                        who,
                        path.clone(),
                        "has neither `query_execution` nor `materialized_view_refresh`: a node does exactly one of them",
                    );
                }
                None
            }
        };
        Some(ReadNode {
            path,
            id,
            dependencies,
            task,
        })
    }

    /// Unique ids, dependencies that exist, no cycles. Each problem points at the node's second use of an
    /// id, the missing dependency, or the dependencies of the cycle's first node.
    fn graph(&mut self, nodes: &[ReadNode]) {
        let mut seen: Vec<i64> = Vec::new();
        for (i, n) in nodes.iter().enumerate() {
            let count = nodes.iter().filter(|m| m.id == n.id).count();
            if count > 1 && !seen.contains(&n.id) {
                seen.push(n.id);
                let second = nodes[i + 1..]
                    .iter()
                    .find(|m| m.id == n.id)
                    .map_or(&n.path, |m| &m.path);
                self.problem(
                    Some(&format!("node {}", n.id)),
                    key(second, "id"),
                    format!(
                        "the id {} is used by {count} nodes: ids must be unique",
                        n.id
                    ),
                );
            }
        }
        for n in nodes {
            for (j, d) in n
                .dependencies
                .iter()
                .filter(|(_, d)| !nodes.iter().any(|m| m.id == *d))
            {
                self.problem(
                    Some(&format!("node {}", n.id)),
                    index(&key(&n.path, "dependencies"), *j),
                    format!("depends on node {d}, which is not in the pipeline"),
                );
            }
        }
        let deps: Vec<Vec<i64>> = nodes
            .iter()
            .map(|n| n.dependencies.iter().map(|(_, d)| *d).collect())
            .collect();
        let graph: Vec<graph::Edge<'_>> = nodes
            .iter()
            .zip(&deps)
            .map(|(n, d)| (n.id, d.as_slice()))
            .collect();
        let deps_of = |id: i64| {
            nodes
                .iter()
                .find(|n| n.id == id)
                .map(|n| key(&n.path, "dependencies"))
                .unwrap_or_default()
        };
        for cycle in graph::cycles(&graph) {
            let ids: Vec<String> = cycle.iter().map(i64::to_string).collect();
            if let [only] = cycle.as_slice() {
                self.problem(
                    Some(&format!("node {only}")),
                    deps_of(*only),
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
                cycle.first().map(|c| deps_of(*c)).unwrap_or_default(),
                format!("form a dependency cycle ({})", steps.join(", ")),
            );
        }
    }
}

/// A node as read, before the whole definition is known to be valid.
struct ReadNode {
    path: Vec<Step>,
    id: i64,
    /// Each dependency with its position in the `dependencies` list.
    dependencies: Vec<(usize, i64)>,
    /// `None` when the node's task has a problem.
    task: Option<Task>,
}

fn read(root: &Value, strictness: Strictness) -> Result<Definition, Vec<Problem>> {
    let mut r = Reader {
        strictness,
        problems: Vec::new(),
    };
    // NOTE: the graph is checked whenever every node has an id (even if other things are wrong), so one
    // run names all the problems; without every id, missing dependencies could be false alarms.
    if let Some(read) = read_nodes(&mut r, root) {
        r.graph(&read);
        if r.problems.is_empty() {
            let nodes = read
                .into_iter()
                .filter_map(|n| {
                    Some(DefNode {
                        id: n.id,
                        dependencies: n.dependencies.into_iter().map(|(_, d)| d).collect(),
                        task: n.task?,
                    })
                })
                .collect();
            return Ok(Definition { nodes });
        }
    }
    Err(r.problems)
}

/// The nodes, each with an id; `None` when the document has no nodes or some node has no usable id.
fn read_nodes(r: &mut Reader, root: &Value) -> Option<Vec<ReadNode>> {
    const SHAPE: &str = "a pipeline is `pipeline: {nodes: [...]}` (Dune's pipeline shape)";
    let Some(top) = root.as_object() else {
        let got = if root.is_null() {
            "an empty document".to_string()
        } else {
            shown(root)
        };
        r.problem(None, Vec::new(), format!("{SHAPE}, got {got}"));
        return None;
    };
    r.unknown_keys(None, &[], "", top, &["pipeline"]);
    let Some(pipeline) = r.mapping(None, &[], top, "pipeline", "with `nodes`") else {
        if !top.contains_key("pipeline") {
            r.problem(None, Vec::new(), format!("has no `pipeline` key: {SHAPE}"));
        }
        return None;
    };
    let at_pipeline = [Step::Key("pipeline".into())];
    let at_nodes = key(&at_pipeline, "nodes");
    r.unknown_keys(None, &at_pipeline, "pipeline.", pipeline, &["nodes"]);
    let items = match pipeline.get("nodes") {
        Some(Value::Array(items)) if !items.is_empty() => items,
        Some(Value::Array(_)) => {
            r.problem(
                None,
                at_nodes,
                "`pipeline.nodes` is empty: list at least one node",
            );
            return None;
        }
        None | Some(Value::Null) => {
            r.problem(
                None,
                at_pipeline.to_vec(),
                format!("has no `pipeline.nodes`: {SHAPE}"),
            );
            return None;
        }
        Some(other) => {
            r.problem(
                None,
                at_nodes,
                format!("`pipeline.nodes` must be a list, got {}", shown(other)),
            );
            return None;
        }
    };
    let read: Vec<Option<ReadNode>> = items
        .iter()
        .enumerate()
        .map(|(i, v)| r.node(i, v))
        .collect();
    read.into_iter().collect()
}
