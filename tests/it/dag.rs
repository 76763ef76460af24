//! The pipeline's shape: the definition read before the start, the DAG in the summary, skipped nodes, the
//! dry run, and pipeline files (validation, the explicit-pipeline POST, the dry run's YAML run as a file).

use crate::common::{ActionRun, Finished, keyed, snapshot_settings};
use dune_sim::{Scenario, Simulator};
use serde_json::{Value, json};

const SPEED: f64 = 50.0;

/// MV 1 → query 101 → query 3493826.
fn three_nodes() -> Scenario {
    keyed(
        Scenario::from_yaml_or_json(&format!(
            r#"
time_scale: {SPEED}
epoch: "2026-01-01T00:00:00Z"
queries:
  - query_id: 3493826
    nodes:
      - {{id: 1, materialized_view: dune.acme.mv_daily, dependencies: [], duration: 20s}}
      - {{id: 2, query_id: 101, dependencies: [1], duration: 15s}}
      - {{id: 3, query_id: 3493826, dependencies: [2], duration: 10s}}
"#
        ))
        .expect("scenario"),
    )
}

/// The nodes of three_nodes() as Dune's definition lists them, on `performance`.
fn three_nodes_definition(performance: &str) -> Value {
    json!([
        {"id": 1, "dependencies": [], "materialized_view_refresh": {"name": "dune.acme.mv_daily", "performance": performance}},
        {"id": 2, "dependencies": [1], "query_execution": {"query_id": 101, "performance": performance}},
        {"id": 3, "dependencies": [2], "query_execution": {"query_id": 3493826, "performance": performance}},
    ])
}

fn requests(sim: &Simulator) -> Vec<String> {
    sim.requests()
        .iter()
        .map(|r| format!("{} {}", r.method, r.path))
        .collect()
}

/// The ```mermaid block of a summary.
fn mermaid(summary: &str) -> &str {
    let start = summary.find("```mermaid\n").expect("a mermaid block");
    let end = summary[start + 3..].find("```").expect("closed") + start + 6;
    &summary[start..end]
}

/// The text the log printed verbatim (between `::stop-commands::TOKEN` and `::TOKEN::`).
fn verbatim_block(log: &str) -> String {
    let mut lines = log
        .lines()
        .skip_while(|l| !l.starts_with("::stop-commands::"));
    let token = lines
        .next()
        .and_then(|l| l.strip_prefix("::stop-commands::"))
        .expect("a verbatim block")
        .to_string();
    let end = format!("::{token}::");
    let body: Vec<&str> = lines.take_while(|l| *l != end).collect();
    body.join("\n") + "\n"
}

pub(crate) fn write_file(run: &ActionRun, path: &str, text: &str) {
    let full = run.workspace().join(path);
    std::fs::create_dir_all(full.parent().expect("parent")).expect("mkdir");
    std::fs::write(full, text).expect("write");
}

pub(crate) fn node_statuses(done: &Finished) -> Vec<(i64, String)> {
    done.json("nodes")
        .as_array()
        .expect("array")
        .iter()
        .map(|n| {
            (
                n["id"].as_i64().expect("id"),
                n["status"].as_str().expect("status").to_string(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn three_nodes_have_a_mermaid_dag_and_dependencies() {
    let sim = Simulator::start(three_nodes()).await.expect("simulator");
    let done = ActionRun::against(&sim, SPEED)
        .input("query_id", "3493826")
        .input("performance", "large")
        .input("query_parameters", r#"{"chain": "base"}"#)
        .run()
        .await;
    assert_eq!(done.exit_code, 0, "{}", done.log);
    // The definition is read first, with the same tier and parameters as the start.
    let first = &sim.requests()[0];
    assert_eq!(
        (first.method.as_str(), first.path.as_str()),
        ("GET", "/api/v1/query/3493826/pipeline")
    );
    assert_eq!(
        first.query.as_deref(),
        Some("performance=large&query_parameters=%7B%22chain%22%3A%22base%22%7D")
    );
    let deps: Vec<Value> = done
        .json("nodes")
        .as_array()
        .expect("array")
        .iter()
        .map(|n| n["dependencies"].clone())
        .collect();
    assert_eq!(deps, vec![json!([]), json!([1]), json!([2])]);
    assert!(done.log.contains("node 2: query 101 (large), after 1"));
    snapshot_settings()
        .bind(|| insta::assert_snapshot!("three_nodes_mermaid", mermaid(&done.summary)));
}

#[tokio::test(flavor = "multi_thread")]
async fn nodes_downstream_of_a_failure_are_skipped_exactly() {
    // Listed backwards: 1 → {2 (fails), 3}; 2 → 4; 3 → 5; {4, 5} → 6.
    let scenario = keyed(
        Scenario::from_yaml_or_json(&format!(
            r#"
time_scale: {SPEED}
queries:
  - query_id: 600
    nodes:
      - {{id: 6, query_id: 600, dependencies: [4, 5], duration: 5s}}
      - {{id: 5, query_id: 501, dependencies: [3], duration: 5s}}
      - {{id: 4, query_id: 401, dependencies: [2], duration: 5s}}
      - {{id: 3, query_id: 301, dependencies: [1], duration: 20s}}
      - {{id: 2, query_id: 201, dependencies: [1], duration: 5s, outcome: failed, error: boom}}
      - {{id: 1, materialized_view: dune.acme.mv_base, duration: 5s}}
"#
        ))
        .expect("scenario"),
    );
    let sim = Simulator::start(scenario).await.expect("simulator");
    let done = ActionRun::against(&sim, SPEED)
        .input("query_id", "600")
        .run()
        .await;
    assert_eq!(done.exit_code, 1, "{}", done.log);
    let mut statuses = node_statuses(&done);
    statuses.sort();
    let want: Vec<(i64, String)> = [
        (1, "completed"),
        (2, "failed"),
        (3, "completed"),
        (4, "skipped"),
        (5, "completed"),
        (6, "skipped"),
    ]
    .iter()
    .map(|(i, s)| (*i, s.to_string()))
    .collect();
    assert_eq!(statuses, want);
    assert_eq!(done.json("failed_nodes"), json!([2]));
    assert!(
        done.summary.contains("class n4,n6 skipped"),
        "{}",
        done.summary
    );
    // The node table is in dependency order (stable with respect to the listed order).
    let rows: Vec<&str> = done
        .summary
        .lines()
        .filter(|l| {
            l.starts_with("| ") && l.contains(" | query |") || l.contains(" | materialized view |")
        })
        .map(|l| l.split('|').nth(1).expect("cell").trim())
        .collect();
    assert_eq!(rows, ["1", "3", "5", "2", "4", "6"]);
    assert!(done.summary.contains("⏭️ skipped"));
}

/// A failure in one branch while the other runs on, on a server that never says the pipeline failed.
fn branches_on_a_server_that_never_ends() -> Scenario {
    keyed(
        Scenario::from_yaml_or_json(&format!(
            r#"
time_scale: {SPEED}
pipeline_status_names: {{failed: executing}}
queries:
  - query_id: 600
    nodes:
      - {{id: 1, query_id: 100, duration: 2s}}
      - {{id: 2, query_id: 200, dependencies: [1], duration: 2s, outcome: failed, error: boom}}
      - {{id: 3, query_id: 300, dependencies: [1], duration: 30s}}
      - {{id: 4, query_id: 400, dependencies: [2], duration: 2s}}
      - {{id: 5, query_id: 600, dependencies: [3, 4], duration: 2s}}
"#
        ))
        .expect("scenario"),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn with_the_definition_the_end_is_known_without_guessing() {
    let sim = Simulator::start(branches_on_a_server_that_never_ends())
        .await
        .expect("simulator");
    let done = ActionRun::against(&sim, SPEED)
        .input("query_id", "600")
        .run()
        .await;
    assert_eq!(done.exit_code, 1, "{}", done.log);
    let want: Vec<(i64, String)> = [
        (1, "completed"),
        (2, "failed"),
        (3, "completed"),
        (4, "skipped"),
        (5, "skipped"),
    ]
    .iter()
    .map(|(i, s)| (*i, s.to_string()))
    .collect();
    assert_eq!(node_statuses(&done), want);
    assert!(
        !done.log.contains("no node can make progress"),
        "the dependencies say when nothing can progress: {}",
        done.log
    );

    // Control: without the definition the follower has to guess, and waits to be sure.
    let blind = Simulator::start(branches_on_a_server_that_never_ends().with_fault(
        dune_sim::Fault::new(
            dune_sim::FaultEndpoint::QueryPipeline,
            [dune_sim::FaultResponse::status(403)],
        ),
    ))
    .await
    .expect("simulator");
    let guessed = ActionRun::against(&blind, SPEED)
        .input("query_id", "600")
        .run()
        .await;
    assert_eq!(guessed.exit_code, 1, "{}", guessed.log);
    assert!(
        guessed.log.contains("no node can make progress"),
        "{}",
        guessed.log
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn dry_run_makes_only_the_definition_request() {
    let sim = Simulator::start(three_nodes()).await.expect("simulator");
    let done = ActionRun::against(&sim, SPEED)
        .input("query_id", "3493826")
        .input("dry_run", "true")
        .run()
        .await;
    assert_eq!(done.exit_code, 0, "{}", done.log);
    assert_eq!(requests(&sim), ["GET /api/v1/query/3493826/pipeline"]);
    assert_eq!(sim.pipelines_started(), 0);
    assert_eq!(done.outputs["status"], "planned");
    assert_eq!(done.outputs["pipeline_execution_id"], "");
    assert_eq!(done.outputs["execution_id"], "");
    assert_eq!(done.json("failed_nodes"), json!([]));
    assert_eq!(done.json("nodes")[2]["dependencies"], json!([2]));
    assert!(
        done.log
            .contains("Dry run: 3 nodes planned, nothing executed")
    );
    assert!(!done.log.contains("::error"), "{}", done.log);
    let yaml = verbatim_block(&done.log);
    assert!(yaml.starts_with("pipeline:\n  nodes:\n"), "{yaml}");
    assert!(done.summary.contains(yaml.trim_end()), "{}", done.summary);
    snapshot_settings().bind(|| insta::assert_snapshot!("dry_run_summary", done.summary));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_dry_run_that_cannot_read_the_definition_fails() {
    let sim = Simulator::start(three_nodes()).await.expect("simulator");
    let done = ActionRun::against(&sim, SPEED)
        .input("query_id", "999")
        .input("dry_run", "true")
        .run()
        .await;
    assert_eq!(done.exit_code, 4, "{}", done.log);
    assert_eq!(done.outputs["status"], "error");
    assert_eq!(requests(&sim), ["GET /api/v1/query/999/pipeline"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_dry_run_yaml_saved_as_a_file_runs_the_same_pipeline() {
    let sim = Simulator::start(three_nodes()).await.expect("simulator");
    let planned = ActionRun::against(&sim, SPEED)
        .input("query_id", "3493826")
        .input("performance", "large")
        .input("dry_run", "true")
        .run()
        .await;
    assert_eq!(planned.exit_code, 0, "{}", planned.log);
    let yaml = verbatim_block(&planned.log);

    let run = ActionRun::against(&sim, SPEED);
    write_file(&run, "pipelines/daily.yml", &yaml);
    let done = run
        .input("pipeline_file", "pipelines/daily.yml")
        .run()
        .await;
    assert_eq!(done.exit_code, 0, "{}", done.log);
    let posts: Vec<_> = sim
        .requests()
        .into_iter()
        .filter(|r| r.method == "POST")
        .collect();
    assert_eq!(posts.len(), 1);
    assert_eq!(posts[0].path, "/api/v1/pipelines/execute");
    let body: Value = serde_json::from_str(&posts[0].body).expect("json body");
    // `performance` defaults to medium for the file run, but every node kept the tier it was planned with.
    assert_eq!(
        body,
        json!({"pipeline": {"nodes": three_nodes_definition("large")}})
    );
    assert_eq!(
        node_statuses(&done),
        [(1, "completed"), (2, "completed"), (3, "completed")].map(|(i, s)| (i, s.to_string()))
    );
    assert!(done.summary.contains("Pipeline file `pipelines/daily.yml`"));
}

const ISSUE_FILE: &str = include_str!("../fixtures/pipeline.yml");

#[tokio::test(flavor = "multi_thread")]
async fn a_pipeline_file_is_one_post_with_its_nodes() {
    let sim = Simulator::start(three_nodes()).await.expect("simulator");
    let run = ActionRun::against(&sim, SPEED);
    write_file(&run, "pipelines/volume.yaml", ISSUE_FILE);
    let done = run
        .input("pipeline_file", "pipelines/volume.yaml")
        .input("performance", "large")
        .input("query_parameters", r#"{"chain": "base", "days": 7}"#)
        .run()
        .await;
    assert_eq!(done.exit_code, 0, "{}", done.log);
    assert_eq!(
        requests(&sim)
            .iter()
            .filter(|r| r.starts_with("POST"))
            .collect::<Vec<_>>(),
        ["POST /api/v1/pipelines/execute"]
    );
    assert!(!requests(&sim).iter().any(|r| r.contains("/query/")));
    let post = sim
        .requests()
        .into_iter()
        .find(|r| r.method == "POST")
        .expect("post");
    let body: Value = serde_json::from_str(&post.body).expect("json body");
    // The inputs fill in what a node leaves unset, and nothing else.
    assert_eq!(
        body,
        json!({"pipeline": {"nodes": [
            {"id": 1, "dependencies": [], "materialized_view_refresh": {"name": "dune.acme.mv_daily_volume", "performance": "medium"}},
            {"id": 2, "dependencies": [1], "query_execution": {"query_id": 1111, "performance": "large", "query_parameters": {"chain": "base", "days": 7}}},
            {"id": 3, "dependencies": [2], "query_execution": {"query_id": 4242, "performance": "large", "query_parameters": {"chain": "ethereum"}}},
        ]}})
    );
    let nodes = done.json("nodes");
    assert_eq!(nodes[0]["name"], "dune.acme.mv_daily_volume");
    assert_eq!(nodes[2]["query_id"], 4242);
    assert_eq!(nodes[2]["dependencies"], json!([2]));
    // The file's root is the one query node nothing depends on.
    assert_eq!(
        done.outputs["execution_id"],
        nodes[2]["execution_id"].as_str().expect("exec id")
    );
    assert!(
        done.log
            .contains("::notice title=Dune pipeline started::pipeline execution"),
        "{}",
        done.log
    );
    assert!(done.log.contains("(pipelines/volume.yaml)"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_dry_run_of_a_file_sends_nothing() {
    let sim = Simulator::start(three_nodes()).await.expect("simulator");
    let run = ActionRun::against(&sim, SPEED);
    write_file(&run, "pipeline.json", &issue_file_json());
    let done = run
        .input("pipeline_file", "pipeline.json")
        .input("dry_run", "TRUE")
        .run()
        .await;
    assert_eq!(done.exit_code, 0, "{}", done.log);
    assert_eq!(done.outputs["status"], "planned");
    assert_eq!(sim.requests().len(), 0);
    assert!(
        done.summary
            .contains("3 nodes (1 materialized view, 2 queries), performance 2 medium, 1 large"),
        "{}",
        done.summary
    );
    assert!(done.summary.contains("class n1,n2,n3 planned"));
}

/// The issue's example file as JSON.
fn issue_file_json() -> String {
    let v: Value = serde_yaml_ng::from_str(ISSUE_FILE).expect("yaml");
    v.to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn every_file_problem_exits_2_naming_file_and_node_before_any_request() {
    let sim = Simulator::start(three_nodes()).await.expect("simulator");
    let cases: &[(&str, &str)] = &[
        (
            "pipeline: {nodes: [{id: 1, query_execution: {query_id: 5}, extra: 1}]}",
            "bad.yml:1:60: node 1: unknown key `extra`",
        ),
        (
            "pipeline: {nodes: [{id: 1, query_execution: {query_id: 5}}, {id: 1, query_execution: {query_id: 6}}]}",
            "bad.yml:1:62: node 1: the id 1 is used by 2 nodes",
        ),
        (
            "pipeline: {nodes: [{id: 1, dependencies: [7], query_execution: {query_id: 5}}]}",
            "bad.yml:1:43: node 1: depends on node 7, which is not in the pipeline",
        ),
        (
            "pipeline: {nodes: [{id: 1, dependencies: [2], query_execution: {query_id: 5}}, {id: 2, dependencies: [1], query_execution: {query_id: 6}}]}",
            "bad.yml:1:28: nodes 1, 2: form a dependency cycle (1 depends on 2, 2 depends on 1)",
        ),
        (
            "pipeline: {nodes: [{id: 4, dependencies: []}]}",
            "bad.yml:1:21: node 4: has neither `query_execution` nor `materialized_view_refresh`",
        ),
        (
            "pipeline: {nodes: [{id: 4, query_execution: {query_id: 5}, materialized_view_refresh: {name: dune.a.b}}]}",
            "bad.yml:1:60: node 4: has both `query_execution` and `materialized_view_refresh`",
        ),
        (
            "pipeline: {nodes: [{id: 3, materialized_view_refresh: {name: dune.a.b, performance: 7}}]}",
            "bad.yml:1:72: node 3: `materialized_view_refresh.performance` must be a tier name such as `medium` or `large`, got 7",
        ),
    ];
    for (text, want) in cases {
        let run = ActionRun::against(&sim, SPEED);
        write_file(&run, "bad.yml", text);
        let done = run.input("pipeline_file", "bad.yml").run().await;
        assert_eq!(done.exit_code, 2, "{text}: {}", done.log);
        assert_eq!(done.outputs["status"], "error");
        assert!(
            done.log.contains(&format!(
                "::error title=Invalid input `pipeline_file`::input `pipeline_file`: {want}"
            )),
            "{want}\n{}",
            done.log
        );
        assert!(done.summary.contains("Invalid input `pipeline_file`"));
    }
    // Several problems are all reported, each with the file and the node.
    let run = ActionRun::against(&sim, SPEED);
    write_file(
        &run,
        "bad.yml",
        "pipeline: {nodes: [{id: 1, query_execution: {query_id: 0}}, {id: 2, materialized_view_refresh: {}}]}",
    );
    let done = run.input("pipeline_file", "bad.yml").run().await;
    assert!(
        done.log.contains(
            "bad.yml:1:46: node 1: `query_execution.query_id` must be a positive integer"
        ) && done
            .log
            .contains("; bad.yml:1:69: node 2: `materialized_view_refresh` has no `name`"),
        "{}",
        done.log
    );
    assert_eq!(sim.requests().len(), 0, "no request may reach Dune");
}

#[tokio::test(flavor = "multi_thread")]
async fn exactly_one_of_query_id_and_pipeline_file() {
    let sim = Simulator::start(three_nodes()).await.expect("simulator");
    let both = ActionRun::against(&sim, SPEED);
    write_file(&both, "p.yml", ISSUE_FILE);
    let both = both
        .input("query_id", "3493826")
        .input("pipeline_file", "p.yml")
        .run()
        .await;
    assert_eq!(both.exit_code, 2, "{}", both.log);
    assert!(
        both.log
            .contains("set exactly one of `query_id` (run the pipeline Dune builds for a saved query) and `pipeline_file`"),
        "{}",
        both.log
    );
    let neither = ActionRun::against(&sim, SPEED).run().await;
    assert_eq!(neither.exit_code, 2);
    assert!(
        neither
            .log
            .contains("is required unless `pipeline_file` or `pipeline_execution_id` is given"),
        "{}",
        neither.log
    );
    let missing = ActionRun::against(&sim, SPEED)
        .input("pipeline_file", "nope/p.yml")
        .run()
        .await;
    assert_eq!(missing.exit_code, 2);
    assert!(
        missing
            .log
            .contains("input `pipeline_file`: nope/p.yml: cannot read the file"),
        "{}",
        missing.log
    );
    let bad_flag = ActionRun::against(&sim, SPEED)
        .input("query_id", "3493826")
        .input("dry_run", "yes")
        .run()
        .await;
    assert_eq!(bad_flag.exit_code, 2);
    assert!(
        bad_flag
            .log
            .contains("::error title=Invalid input `dry_run`::")
    );
    assert_eq!(sim.requests().len(), 0);
}

async fn run_with_definition_fault(status: u16) {
    let scenario = three_nodes().with_fault(dune_sim::Fault::new(
        dune_sim::FaultEndpoint::QueryPipeline,
        [dune_sim::FaultResponse::status(status)],
    ));
    let sim = Simulator::start(scenario).await.expect("simulator");
    let done = ActionRun::against(&sim, SPEED)
        .input("query_id", "3493826")
        .run()
        .await;
    assert_eq!(done.exit_code, 0, "{status}: {}", done.log);
    assert!(
        done.log.contains(&format!(
            "::warning title=Could not read the pipeline definition::GET /api/v1/query/3493826/pipeline: HTTP {status}"
        )),
        "{}",
        done.log
    );
    assert_eq!(
        requests(&sim)[..2],
        [
            "GET /api/v1/query/3493826/pipeline",
            "POST /api/v1/query/3493826/pipeline/execute"
        ]
    );
    assert_eq!(done.outputs["status"], "completed");
    assert!(done.json("nodes")[0].get("dependencies").is_none());
    assert!(!done.summary.contains("```mermaid\nflowchart"));
    // The timeline is still drawn, but without dependencies there is no critical path.
    assert!(done.summary.contains("```mermaid\ngantt"));
    assert!(!done.summary.contains("Critical path"));
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unreadable_definition_is_a_warning_and_the_run_goes_on() {
    run_with_definition_fault(403).await;
    run_with_definition_fault(404).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_dry_run_of_a_file_needs_no_key() {
    // Pull requests from forks get no secrets: the dry run of a file still works there.
    let sim = Simulator::start(three_nodes()).await.expect("simulator");
    let run = ActionRun::against(&sim, SPEED).without("api_key");
    write_file(&run, "pipeline.json", &issue_file_json());
    let done = run
        .input("pipeline_file", "pipeline.json")
        .input("dry_run", "true")
        .run()
        .await;
    assert_eq!(done.exit_code, 0, "{}", done.log);
    assert_eq!(done.outputs["status"], "planned");
    assert_eq!(sim.requests().len(), 0);
    // A real run of the same file still needs the key.
    let sim = Simulator::start(three_nodes()).await.expect("simulator");
    let run = ActionRun::against(&sim, SPEED).without("api_key");
    write_file(&run, "pipeline.json", &issue_file_json());
    let done = run.input("pipeline_file", "pipeline.json").run().await;
    assert_eq!(done.exit_code, 2, "{}", done.log);
    assert!(done.log.contains("input `api_key`"), "{}", done.log);
}
