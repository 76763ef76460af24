//! Issue 14: pipeline-file problems as annotations on their line and column (YAML and JSON, syntax errors
//! too), a dry run's nodes `planned`, the timeline in the summary, and both clients behind a proxy.

use crate::common::{ActionRun, keyed};
use dune_sim::{Scenario, Simulator};

const SPEED: f64 = 50.0;

fn write_file(run: &ActionRun, path: &str, text: &str) {
    let full = run.workspace().join(path);
    std::fs::create_dir_all(full.parent().expect("parent")).expect("mkdir");
    std::fs::write(full, text).expect("write");
}

/// The `::error file=…` annotations of a log.
fn file_annotations(log: &str) -> Vec<&str> {
    log.lines()
        .filter(|l| l.starts_with("::error file="))
        .collect()
}

fn simulator_scenario() -> Scenario {
    keyed(
        Scenario::from_yaml_or_json(&format!(
            r#"
time_scale: {SPEED}
epoch: "2026-01-01T00:00:00Z"
queries:
  - query_id: 7
    nodes:
      - {{id: 1, query_id: 7, dependencies: [], duration: 5s}}
"#
        ))
        .expect("scenario"),
    )
}

/// An unknown key, a duplicate id and a dependency on a missing id, in YAML.
const BAD_YAML: &str = "\
# a pipeline with three mistakes
pipeline:
  nodes:
    - id: 1
      query_execution: {query_id: 11}
    - id: 2
      dependencies: [1, 9]
      query_execution:
        query_id: 22
        perfromance: large
    - id: 2
      materialized_view_refresh: {name: dune.a.b}
";

/// The same mistakes in JSON.
const BAD_JSON: &str = r#"{
  "pipeline": {
    "nodes": [
      {"id": 1, "query_execution": {"query_id": 11}},
      {"id": 2, "dependencies": [1, 9],
       "query_execution": {"query_id": 22, "perfromance": "large"}},
      {"id": 2, "materialized_view_refresh": {"name": "dune.a.b"}}
    ]
  }
}
"#;

#[tokio::test(flavor = "multi_thread")]
async fn file_problems_are_annotated_on_their_line_and_column() {
    let sim = Simulator::start(simulator_scenario())
        .await
        .expect("simulator");
    let cases = [
        ("pipelines/bad.yml", BAD_YAML, [(10, 9), (11, 7), (7, 25)]),
        ("pipelines/bad.json", BAD_JSON, [(6, 44), (7, 8), (5, 37)]),
    ];
    for (path, text, places) in cases {
        let run = ActionRun::against(&sim, SPEED);
        write_file(&run, path, text);
        let done = run.input("pipeline_file", path).run().await;
        assert_eq!(done.exit_code, 2, "{}", done.log);
        let title = format!("Pipeline file {}", path.replace(':', "%3A"));
        let want = [
            "node 2: unknown key `query_execution.perfromance` (expected `query_id`, `performance`, `query_parameters`)",
            "node 2: the id 2 is used by 2 nodes: ids must be unique",
            "node 2: depends on node 9, which is not in the pipeline",
        ];
        let expected: Vec<String> = places
            .iter()
            .zip(want)
            .map(|((line, col), message)| {
                format!("::error file={path},line={line},col={col},title={title}::{message}")
            })
            .collect();
        assert_eq!(file_annotations(&done.log), expected, "{}", done.log);
        // The step's error names the places too.
        let (line, col) = places[0];
        assert!(
            done.log.contains(&format!(
                "::error title=Invalid input `pipeline_file`::input `pipeline_file`: {path}:{line}:{col}: node 2: unknown key"
            )),
            "{}",
            done.log
        );
    }
    assert_eq!(sim.requests().len(), 0, "no request may reach Dune");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_syntax_error_is_annotated_on_its_line() {
    let sim = Simulator::start(simulator_scenario())
        .await
        .expect("simulator");
    let cases = [
        (
            "p.yml",
            "pipeline:\n  nodes:\n    - id: 1\n      query_execution: {query_id: 1\n",
            5,
        ),
        (
            "p.json",
            "{\n  \"pipeline\": {\n    \"nodes\": [1,]\n}\n",
            3,
        ),
    ];
    for (path, text, line) in cases {
        let run = ActionRun::against(&sim, SPEED);
        write_file(&run, path, text);
        let done = run.input("pipeline_file", path).run().await;
        assert_eq!(done.exit_code, 2, "{}", done.log);
        let annotations = file_annotations(&done.log);
        assert_eq!(annotations.len(), 1, "{}", done.log);
        assert!(
            annotations[0].starts_with(&format!("::error file={path},line={line},col=")),
            "{}",
            annotations[0]
        );
        assert!(
            annotations[0].contains("::not valid "),
            "{}",
            annotations[0]
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn at_most_ten_file_annotations_then_how_many_more() {
    let sim = Simulator::start(simulator_scenario())
        .await
        .expect("simulator");
    let mut text = String::from("pipeline:\n  nodes:\n");
    for i in 1..=14 {
        text.push_str(&format!(
            "    - {{id: {i}, query_execution: {{query_id: 1, x: 1}}}}\n"
        ));
    }
    let run = ActionRun::against(&sim, SPEED);
    write_file(&run, "many.yml", &text);
    let done = run.input("pipeline_file", "many.yml").run().await;
    assert_eq!(done.exit_code, 2);
    let annotations = file_annotations(&done.log);
    assert_eq!(annotations.len(), 11, "{}", done.log);
    assert!(
        annotations[10]
            .ends_with("::and 4 more problems in this file (the step's error lists them)")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_dry_run_plans_every_node() {
    let sim = Simulator::start(simulator_scenario())
        .await
        .expect("simulator");
    let run = ActionRun::against(&sim, SPEED);
    write_file(
        &run,
        "ok.yml",
        "pipeline:\n  nodes:\n    - {id: 1, query_execution: {query_id: 7}}\n    - {id: 2, dependencies: [1], query_execution: {query_id: 8}}\n",
    );
    let done = run
        .input("pipeline_file", "ok.yml")
        .input("dry_run", "true")
        .run()
        .await;
    assert_eq!(done.exit_code, 0, "{}", done.log);
    let nodes = done.json("nodes");
    let statuses: Vec<&str> = nodes
        .as_array()
        .expect("array")
        .iter()
        .map(|n| n["status"].as_str().expect("status"))
        .collect();
    assert_eq!(statuses, ["planned", "planned"]);
    let run = ActionRun::against(&sim, SPEED);
    let done = run
        .input("query_id", "7")
        .input("dry_run", "true")
        .run()
        .await;
    assert_eq!(done.exit_code, 0, "{}", done.log);
    assert_eq!(done.json("nodes")[0]["status"], "planned");
}
