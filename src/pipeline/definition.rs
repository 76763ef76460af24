//! Pipeline files (`pipeline_file`): found relative to the workspace, read (YAML, or JSON for `.json`),
//! validated strictly with every problem named, and turned into the nodes the follower tracks. The
//! definition itself is Dune's wire shape, [`dune_api::definition::Definition`].

use std::fmt;
use std::path::{Path, PathBuf};

use dune_api::definition::{DefNode, Definition, Problem, Step, Task};
use dune_api::graph;
use serde_json::Value;
use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::Marker;

use super::node::{Node, NodeKind};
use super::sql_read::{self as sql, SqlNode};
use crate::runner::console::{Console, Level, Location, one_line};

/// A pipeline file larger than this is refused (a pipeline of thousands of nodes is a few hundred KiB).
pub const MAX_FILE_BYTES: u64 = 1024 * 1024;

/// At most this many problems are listed in one error message.
const MAX_PROBLEMS_SHOWN: usize = 20;

/// At most this many problems get an annotation of their own on the file (then one says how many more):
/// the console's budget of ordinary errors, which keeps a slot for that one and one for the step's error.
pub const MAX_FILE_ANNOTATIONS: usize = crate::runner::console::ORDINARY_ANNOTATIONS;

/// A pipeline file: the path as the `pipeline_file` input gave it, its definition, and the SQL files
/// its query nodes name (`sql:`, see [`super::sql`]).
#[derive(Debug, Clone, PartialEq)]
pub struct PipelineFile {
    pub path: String,
    pub definition: Definition,
    pub sql: Vec<SqlNode>,
}

/// A line and column in a file (both 1-based).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    pub line: usize,
    pub column: usize,
}

/// One problem of a pipeline file, and where it is, when the file could be parsed that far.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileProblem {
    pub problem: Problem,
    pub position: Option<Position>,
}

impl FileProblem {
    fn whole(message: String) -> FileProblem {
        FileProblem {
            problem: Problem {
                node: None,
                at: Vec::new(),
                message,
            },
            position: None,
        }
    }
}

/// A pipeline file that cannot be used: the path as given, the file as annotations name it (relative to
/// the repository root), and every problem found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct PipelineFileError {
    pub path: String,
    pub file: String,
    pub problems: Vec<FileProblem>,
}

impl PipelineFileError {
    fn new(path: &str, workspace: Option<&str>, problems: Vec<FileProblem>) -> PipelineFileError {
        PipelineFileError {
            path: path.to_string(),
            file: repository_path(path, workspace),
            problems,
        }
    }

    /// Annotates the problems that have a position on their line and column of the file (GitHub shows
    /// them on the pull request's diff): as many as the console's annotation budget leaves room for (at
    /// most [`MAX_FILE_ANNOTATIONS`]), then one that says how many more there are, so that the step's own
    /// error still is among the errors GitHub shows.
    pub fn annotate(&self, console: &Console) {
        let located: Vec<(&Problem, Position)> = self
            .problems
            .iter()
            .filter_map(|p| Some((&p.problem, p.position?)))
            .collect();
        let room = console
            .annotation_room(Level::Error)
            .min(MAX_FILE_ANNOTATIONS);
        let title = format!("Pipeline file {}", one_line(&self.file));
        let at = |pos: Position| Location {
            file: self.file.clone(),
            line: pos.line,
            column: pos.column,
        };
        for (problem, pos) in located.iter().take(room) {
            console.annotate_at(
                Level::Error,
                Some(&at(*pos)),
                Some(&title),
                &problem.to_string(),
            );
        }
        if located.len() > room {
            let more = located.len() - room;
            console.annotate_more_at(
                Level::Error,
                Some(&at(located[room].1)),
                Some(&title),
                &format!(
                    "and {more} more problem{} in this file (the step's error lists them)",
                    if more == 1 { "" } else { "s" }
                ),
            );
        }
    }
}

impl fmt::Display for PipelineFileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let path = one_line(&self.path);
        let shown: Vec<String> = self
            .problems
            .iter()
            .take(MAX_PROBLEMS_SHOWN)
            .map(|p| match p.position {
                Some(pos) => format!("{path}:{}:{}: {}", pos.line, pos.column, p.problem),
                None => format!("{path}: {}", p.problem),
            })
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

/// The file's path relative to the repository root, as annotations name it (`./a.yml` is `a.yml`; an
/// absolute path inside the workspace loses the workspace).
pub(crate) fn repository_path(path: &str, workspace: Option<&str>) -> String {
    let p = Path::new(path);
    let relative = match workspace {
        Some(w) if p.is_absolute() => p.strip_prefix(w).unwrap_or(p),
        _ => p,
    };
    let text = relative.to_string_lossy();
    let mut text: &str = &text;
    while let Some(rest) = text.strip_prefix("./") {
        text = rest;
    }
    text.to_string()
}

/// Reads and validates a pipeline file (YAML, or JSON for a `.json` file) and the SQL files it names.
pub fn read_file(path: &str, workspace: Option<&str>) -> Result<PipelineFile, PipelineFileError> {
    let fail = |message: String| {
        PipelineFileError::new(path, workspace, vec![FileProblem::whole(message)])
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
    let file = repository_path(path, workspace);
    parse_with_sql(&text, is_json, Some((&file, workspace)))
        .map(|(definition, sql)| PipelineFile {
            path: path.to_string(),
            definition,
            sql,
        })
        .map_err(|problems| PipelineFileError::new(path, workspace, problems))
}

/// Parses and validates the text of a pipeline file. Every problem has the line and column of the key or
/// node it is about (syntax errors: where the parser stopped). `sql` keys are checked, their files not read.
#[cfg(test)]
pub fn parse(text: &str, is_json: bool) -> Result<Definition, Vec<FileProblem>> {
    parse_with_sql(text, is_json, None).map(|(definition, _)| definition)
}

/// [`parse`], and the SQL files the nodes name, read when `files` gives the pipeline file's path from
/// the repository root and the workspace.
fn parse_with_sql(
    text: &str,
    is_json: bool,
    files: Option<(&str, Option<&str>)>,
) -> Result<(Definition, Vec<SqlNode>), Vec<FileProblem>> {
    let syntax = |message: String, line: usize, column: usize| {
        let mut p = FileProblem::whole(message);
        p.position = (line > 0).then_some(Position {
            line,
            column: column.max(1),
        });
        vec![p]
    };
    let mut value: Value = if is_json {
        serde_json::from_str(text)
            .map_err(|e| syntax(format!("not valid JSON: {e}"), e.line(), e.column()))?
    } else {
        serde_yaml_ng::from_str(text).map_err(|e| {
            let (line, column) = e.location().map_or((0, 0), |l| (l.line(), l.column()));
            syntax(format!("not valid YAML: {e}"), line, column)
        })?
    };
    let (keys, sql_problems) = sql::take(&mut value);
    let read = Definition::from_document(&value);
    let (sql_nodes, load_problems) = match files {
        Some((file, workspace)) => sql::load(&keys, file, workspace),
        None => (Vec::new(), Vec::new()),
    };
    let mut problems: Vec<Problem> = match &read {
        Ok(_) => Vec::new(),
        Err(p) => p
            .iter()
            .filter(|p| !sql::explained(p, &sql_problems))
            .cloned()
            .collect(),
    };
    problems.extend(sql_problems);
    problems.extend(load_problems);
    match read {
        Ok(definition) if problems.is_empty() => Ok((definition, sql_nodes)),
        _ => {
            // NOTE: JSON is YAML (1.2), so one position-keeping YAML parse serves both. It runs only when
            // there are problems to place; if it fails where serde did not, the problems keep no position.
            let tree = MarkedTree::parse(text);
            Err(problems
                .into_iter()
                .map(|problem| FileProblem {
                    position: tree.as_ref().map(|t| t.position(&problem.at)),
                    problem,
                })
                .collect())
        }
    }
}

/// A YAML (or JSON) document's shape with the position of every node and mapping key.
#[derive(Debug)]
enum Marked {
    Scalar(Position),
    Seq(Position, Vec<Marked>),
    /// Entries: the key's text (for a scalar key), the key's position, the value.
    Map(Position, Vec<(Option<String>, Position, Marked)>),
}

impl Marked {
    fn position(&self) -> Position {
        match self {
            // A block mapping's own mark is after its first key: its first key is where it starts.
            Marked::Map(_, entries) if !entries.is_empty() => entries[0].1,
            Marked::Scalar(p) | Marked::Seq(p, _) | Marked::Map(p, _) => *p,
        }
    }
}

/// The root of a [`Marked`] document.
#[derive(Debug)]
struct MarkedTree {
    root: Option<Marked>,
}

impl MarkedTree {
    fn parse(text: &str) -> Option<MarkedTree> {
        let mut builder = TreeBuilder::default();
        Parser::new_from_str(text).load(&mut builder, false).ok()?;
        Some(MarkedTree { root: builder.root })
    }

    /// The position of the key or node at `path`: a key's own position when the path ends in a key, the
    /// list item's when it ends in a position; as far as the path can be followed.
    fn position(&self, path: &[Step]) -> Position {
        let start = Position { line: 1, column: 1 };
        let Some(mut node) = self.root.as_ref() else {
            return start;
        };
        let mut at = node.position();
        for step in path {
            let next = match (step, node) {
                (Step::Key(k), Marked::Map(_, entries)) => entries
                    .iter()
                    .find(|(key, _, _)| key.as_deref() == Some(k.as_str()))
                    .map(|(_, p, v)| (*p, v)),
                (Step::Index(i), Marked::Seq(_, items)) => items.get(*i).map(|v| (v.position(), v)),
                _ => None,
            };
            match next {
                Some((p, v)) => {
                    at = p;
                    node = v;
                }
                None => break,
            }
        }
        at
    }
}

enum Frame {
    Seq(Position, Vec<Marked>),
    Map(
        Position,
        Vec<(Option<String>, Position, Marked)>,
        Option<(Option<String>, Position)>,
    ),
}

#[derive(Default)]
struct TreeBuilder {
    stack: Vec<Frame>,
    root: Option<Marked>,
}

impl TreeBuilder {
    /// A finished node; `text` is a scalar's text (a mapping key's name).
    fn add(&mut self, node: Marked, text: Option<String>) {
        match self.stack.last_mut() {
            None => self.root = Some(node),
            Some(Frame::Seq(_, items)) => items.push(node),
            Some(Frame::Map(_, entries, key)) => match key.take() {
                None => *key = Some((text, node.position())),
                Some((k, p)) => entries.push((k, p, node)),
            },
        }
    }
}

fn position(m: Marker) -> Position {
    Position {
        line: m.line(),
        column: m.col() + 1,
    }
}

impl MarkedEventReceiver for TreeBuilder {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        let at = position(mark);
        match ev {
            Event::Scalar(text, ..) => self.add(Marked::Scalar(at), Some(text)),
            Event::Alias(_) => self.add(Marked::Scalar(at), None),
            Event::SequenceStart(..) => self.stack.push(Frame::Seq(at, Vec::new())),
            Event::MappingStart(..) => self.stack.push(Frame::Map(at, Vec::new(), None)),
            Event::SequenceEnd | Event::MappingEnd => {
                let node = match self.stack.pop() {
                    Some(Frame::Seq(p, items)) => Marked::Seq(p, items),
                    Some(Frame::Map(p, entries, _)) => Marked::Map(p, entries),
                    None => return,
                };
                self.add(node, None);
            }
            _ => {}
        }
    }
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
            Err(p) => p.iter().map(|p| p.problem.to_string()).collect(),
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

    fn located(text: &str, is_json: bool) -> Vec<(usize, usize, String)> {
        match parse(text, is_json) {
            Ok(d) => panic!("expected problems, got {d:?}"),
            Err(p) => p
                .into_iter()
                .map(|p| {
                    let pos = p.position.expect("every problem has a position");
                    (pos.line, pos.column, p.problem.to_string())
                })
                .collect(),
        }
    }

    /// An unknown key, a duplicate id and a dependency on a missing id.
    const YAML_WITH_PROBLEMS: &str =
        include_str!("../../tests/fixtures/pipeline-with-problems.yml");

    #[test]
    fn yaml_problems_have_lines_and_columns() {
        assert_eq!(
            located(YAML_WITH_PROBLEMS, false),
            vec![
                (10, 9, "node 2: unknown key `query_execution.perfromance` (expected `query_id`, `performance`, `query_parameters`)".to_string()),
                (11, 7, "node 2: the id 2 is used by 2 nodes: ids must be unique".to_string()),
                (7, 25, "node 2: depends on node 9, which is not in the pipeline".to_string()),
            ]
        );
    }

    #[test]
    fn json_problems_have_lines_and_columns() {
        let json = include_str!("../../tests/fixtures/pipeline-with-problems.json");
        assert_eq!(
            located(json, true),
            vec![
                (6, 44, "node 2: unknown key `query_execution.perfromance` (expected `query_id`, `performance`, `query_parameters`)".to_string()),
                (7, 8, "node 2: the id 2 is used by 2 nodes: ids must be unique".to_string()),
                (5, 37, "node 2: depends on node 9, which is not in the pipeline".to_string()),
            ]
        );
        // Minified JSON: all on line 1, columns tell the problems apart.
        let mini = r#"{"pipeline":{"nodes":[{"id":1,"query_execution":{"query_id":1},"x":1}]}}"#;
        assert_eq!(located(mini, true)[0].0, 1);
        assert_eq!(located(mini, true)[0].1, 64);
    }

    #[test]
    fn tab_indented_and_crlf_json_keep_positions() {
        let json = "{\r\n\t\"pipeline\": {\r\n\t\t\"nodes\": [\r\n\t\t\t{\"id\": 1, \"query_execution\": {\"query_id\": 1}, \"x\": 2}\r\n\t\t]\r\n\t}\r\n}\r\n";
        let p = located(json, true);
        assert_eq!((p[0].0, p[0].1), (4, 50), "{p:?}");
    }

    #[test]
    fn whole_file_and_node_problems_are_placed_too() {
        let p = located("pipeline:\n  nodes: []\n", false);
        assert_eq!((p[0].0, p[0].1), (2, 3));
        let p = located("nodes: []\n", false);
        assert_eq!((p[0].0, p[0].1), (1, 1));
        let p = located(
            "pipeline:\n  nodes:\n    - id: 1\n    - {dependencies: []}\n",
            false,
        );
        assert_eq!(
            p[0].2,
            "node 1: has neither `query_execution` nor `materialized_view_refresh`: a node does exactly one of them"
        );
        assert_eq!((p[0].0, p[0].1), (3, 7));
        assert_eq!((p[1].0, p[1].1), (4, 8));
    }

    #[test]
    fn syntax_errors_have_their_line() {
        let p = located("pipeline:\n  nodes:\n    - id: 1\n   bad: [\n", false);
        assert_eq!(p.len(), 1);
        assert!(p[0].2.starts_with("not valid YAML"), "{}", p[0].2);
        assert_eq!(p[0].0, 4, "{p:?}");
        let p = located("{\n  \"pipeline\": {\n    \"nodes\": [,]\n  }\n}", true);
        assert!(p[0].2.starts_with("not valid JSON"), "{}", p[0].2);
        assert_eq!((p[0].0, p[0].1), (3, 15));
    }

    #[test]
    fn file_errors_name_the_place_and_annotate_at_most_eight_then_how_many_more() {
        let mut text = String::from("pipeline:\n  nodes:\n");
        for i in 1..=12 {
            text.push_str(&format!(
                "    - {{id: {i}, query_execution: {{query_id: 1}}, bad{i}: 1}}\n"
            ));
        }
        let dir = tempfile::tempdir().expect("dir");
        std::fs::write(dir.path().join("p.yml"), &text).expect("write");
        let ws = dir.path().to_str().expect("utf-8");
        let e = read_file("./p.yml", Some(ws)).expect_err("problems");
        assert_eq!(e.file, "p.yml");
        assert!(
            e.to_string()
                .starts_with("./p.yml:3:47: node 1: unknown key `bad1`"),
            "{e}"
        );
        let (c, buf) = Console::buffer(true);
        e.annotate(&c);
        let out = buf.contents();
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 9, "{out}");
        assert_eq!(
            lines[0],
            "::error file=p.yml,line=3,col=47,title=Pipeline file p.yml::node 1: unknown key `bad1` (expected `id`, `dependencies`, `query_execution`, `materialized_view_refresh`)"
        );
        assert!(
            lines[7].starts_with("::error file=p.yml,line=10,"),
            "{}",
            lines[7]
        );
        assert_eq!(
            lines[8],
            "::error file=p.yml,line=11,col=47,title=Pipeline file p.yml::and 4 more problems in this file (the step's error lists them)"
        );
        let abs = dir.path().join("p.yml");
        let e = read_file(abs.to_str().expect("utf-8"), Some(ws)).expect_err("problems");
        assert_eq!(e.file, "p.yml");
    }

    #[test]
    fn sql_files_are_read_and_their_problems_placed_on_the_sql_key() {
        let dir = tempfile::tempdir().expect("dir");
        std::fs::create_dir_all(dir.path().join("dune/queries")).expect("mkdir");
        std::fs::write(dir.path().join("dune/queries/a.sql"), "SELECT 1\n").expect("write");
        let text = "pipeline:\n  nodes:\n    - id: 1\n      sql: queries/a.sql\n      query_execution: {query_id: 11}\n    - id: 2\n      dependencies: [1]\n      sql: queries/nope.sql\n      query_execution: {query_id: 22}\n    - id: 3\n      sql: queries/a.sql\n      query_execution: {performance: large}\n";
        std::fs::write(dir.path().join("dune/p.yml"), text).expect("write");
        let ws = dir.path().to_str().expect("utf-8");
        let e = read_file("dune/p.yml", Some(ws)).expect_err("problems");
        let p: Vec<(usize, usize, String)> = e
            .problems
            .iter()
            .map(|p| {
                let pos = p.position.expect("placed");
                (pos.line, pos.column, p.problem.to_string())
            })
            .collect();
        assert_eq!(p.len(), 2, "{p:?}");
        assert_eq!((p[0].0, p[0].1), (11, 7), "{p:?}");
        assert!(
            p[0].2.starts_with("node 3: has `sql` but no query id"),
            "{p:?}"
        );
        assert_eq!((p[1].0, p[1].1), (8, 7), "{p:?}");
        assert!(
            p[1].2
                .starts_with("node 2: cannot read the SQL file dune/queries/nope.sql"),
            "{p:?}"
        );
        let ok = "pipeline:\n  nodes:\n    - id: 1\n      sql: queries/a.sql\n      query_execution: {query_id: 11}\n";
        std::fs::write(dir.path().join("dune/ok.yml"), ok).expect("write");
        let file = read_file("dune/ok.yml", Some(ws)).expect("valid");
        assert_eq!(file.sql.len(), 1);
        assert_eq!(file.sql[0].file, "dune/queries/a.sql");
        assert_eq!(file.sql[0].query_id, 11);
        assert_eq!(
            file.definition.to_value()["pipeline"]["nodes"][0]
                .as_object()
                .map(|o| o.contains_key("sql")),
            Some(false),
            "the sql key is never sent to Dune"
        );
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
