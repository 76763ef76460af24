//! Pipeline files (`pipeline_file`): found relative to the workspace, read (YAML, or JSON for `.json`),
//! validated strictly with every problem named, and turned into the nodes the follower tracks. The
//! definition itself is Dune's wire shape, [`dune_api::definition::Definition`].

use std::fmt;
use std::path::{Path, PathBuf};

use dune_api::definition::{DefNode, Definition, Problem, Task};
use dune_api::graph;
use serde_json::Value;

use super::node::{Node, NodeKind};
use crate::runner::console::one_line;

/// A pipeline file larger than this is refused (a pipeline of thousands of nodes is a few hundred KiB).
pub const MAX_FILE_BYTES: u64 = 1024 * 1024;

/// At most this many problems are listed in one error message.
const MAX_PROBLEMS_SHOWN: usize = 20;

/// A pipeline file: the path as the `pipeline_file` input gave it, and its definition.
#[derive(Debug, Clone, PartialEq)]
pub struct PipelineFile {
    pub path: String,
    pub definition: Definition,
}

/// A pipeline file that cannot be used: the path as given, and every problem found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct FileError {
    pub path: String,
    pub problems: Vec<Problem>,
}

impl fmt::Display for FileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let path = one_line(&self.path);
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
    Definition::from_document(&value)
}

/// The node as the follower tracks it before Dune reports on it: kind, name and dependencies known.
pub fn to_node(def: &DefNode) -> Node {
    let kind = match &def.task {
        Task::Query { query_id, .. } => NodeKind::Query {
            query_id: Some(*query_id),
        },
        Task::View { name, .. } => NodeKind::MaterializedView {
            name: Some(name.clone()),
        },
    };
    let mut node = Node::new(def.id, kind);
    node.dependencies = Some(def.dependencies.clone());
    node
}

/// The definition as a YAML pipeline file.
pub fn to_yaml(definition: &Definition) -> String {
    // NOTE: serialising a serde_json::Value cannot fail (string keys, finite numbers); the fallback
    // keeps the dry run useful if it ever did.
    serde_yaml_ng::to_string(&definition.to_value())
        .unwrap_or_else(|_| definition.to_value().to_string() + "\n")
}

/// Positions of the nodes in dependency order (stable).
pub fn dependency_order(definition: &Definition) -> Vec<usize> {
    let graph: Vec<graph::Edge<'_>> = definition
        .nodes
        .iter()
        .map(|n| (n.id, n.dependencies.as_slice()))
        .collect();
    graph::dependency_order(&graph)
}

#[cfg(test)]
mod tests {
    use super::*;
    use dune_api::definition::Tier;
    use dune_api::models::Performance;
    use serde_json::{Map, json};

    const ISSUE_EXAMPLE: &str = include_str!("../../tests/fixtures/pipeline.yml");

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
                performance: Some(Tier::Known(Performance::Medium))
            }
        );
        assert_eq!(d.nodes[2].performance(), None);
    }

    #[test]
    fn yaml_round_trips() {
        let d = parse(ISSUE_EXAMPLE, false)
            .expect("valid")
            .with_defaults(Performance::Large, None);
        let again = parse(&to_yaml(&d), false).expect("printed YAML reads back");
        assert_eq!(again, d);
        assert_eq!(
            again.nodes[2].performance(),
            Some(&Tier::Known(Performance::Large))
        );
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
      query_execution: {query_id: 5, performance: [huge], extra: 1}
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
                "node 2: `query_execution.performance` must be a tier name such as `medium` or `large`, got [\"huge\"]",
                "node 3: has both `query_execution` and `materialized_view_refresh`: a node does exactly one of them",
                "the 4th node: has no `id`",
                "node 4: `query_execution.query_id` must be a positive integer (the number in https://dune.com/queries/<id>), got -1",
            ]
        );
    }

    #[test]
    fn unknown_tiers_are_passed_through() {
        // A newer Dune may add tiers: a pipeline file naming one is sent as written, and Dune decides.
        let d = parse(
            "pipeline: {nodes: [{id: 1, materialized_view_refresh: {name: dune.a.b, performance: xlarge}}, {id: 2, dependencies: [1], query_execution: {query_id: 5}}]}",
            false,
        )
        .expect("valid")
        .with_defaults(Performance::Medium, None);
        assert_eq!(
            d.nodes[0].performance(),
            Some(&Tier::Other("xlarge".into()))
        );
        let v = d.to_value();
        assert_eq!(
            v["pipeline"]["nodes"][0]["materialized_view_refresh"]["performance"],
            "xlarge"
        );
        assert_eq!(
            v["pipeline"]["nodes"][1]["query_execution"]["performance"],
            "medium"
        );
        // Dune's own definition with a new tier reads too.
        let read = dune_api::definition::Definition::from_response(&json!({"pipeline": {"nodes": [
            {"id": 1, "dependencies": [], "query_execution": {"query_id": 7, "performance": "turbo"}}
        ]}}))
        .expect("reads");
        assert_eq!(
            read.nodes[0].performance(),
            Some(&Tier::Other("turbo".into()))
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
