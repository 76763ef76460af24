//! Holding up against a Dune that answers otherwise than the simulator's defaults: other status
//! vocabularies (known by meaning, or not at all), both status objects per node, short view names, a
//! datapoint cap per results request, partial results announced either way, and plan limits (402, 403).
//! Each test tells the simulator to answer that way.

use std::time::Duration;

use crate::common::{ActionRun, Finished, keyed};
use crate::dag::node_statuses;
use dune_sim::{
    BothStatusObjects, DatapointLimitResponse, Fault, FaultEndpoint, FaultResponse, PartialResults,
    PipelineStatusNames, Scenario, Simulator, StatusNames, ViewNames,
};
use serde_json::{Value, json};

/// The `vocab-*` builtins run at 60 virtual seconds a real second.
const SPEED: f64 = 60.0;

/// In the `vocab-*` pipelines, node 1 (the view) ends at 31 s, node 2 at 52 s, node 3 at 57 s after the
/// start: after 57 s no node is running.
const LAST_NODE_ENDS: Duration = Duration::from_secs(57);

fn vocab(failing: bool) -> Scenario {
    let name = if failing {
        "vocab-failing"
    } else {
        "vocab-succeeding"
    };
    keyed(Scenario::builtin(name).expect("builtin"))
}

/// A vocabulary in which no word means anything to the action: every node and top-level status is
/// unknown, and a failed pipeline keeps reporting its "running" word (it never ends by itself).
fn unknown_words(mut s: Scenario) -> Scenario {
    let w = |x: &str| Some(x.to_string());
    s.status_names = StatusNames {
        waiting: w("alpha"),
        pending: w("alpha"),
        executing: w("beta"),
        completed: w("gamma"),
        failed: w("delta"),
        cancelled: w("epsilon"),
        completed_partial: w("gamma"),
        expired: w("delta"),
        blocked: w("alpha"),
    };
    s.pipeline_status_names = PipelineStatusNames {
        pending: w("zeta"),
        executing: w("eta"),
        completed: w("theta"),
        failed: w("eta"),
        cancelled: w("eta"),
    };
    s
}

fn action(sim: &Simulator) -> ActionRun {
    ActionRun::against(sim, SPEED)
        .input("query_id", "5550000")
        .input("timeout", "20m")
}

fn error_lines(done: &Finished) -> Vec<&str> {
    done.log
        .lines()
        .filter(|l| l.starts_with("::error"))
        .collect()
}

fn warnings(done: &Finished) -> Vec<&str> {
    done.log
        .lines()
        .filter(|l| l.starts_with("::warning"))
        .collect()
}

/// The virtual times, counted from the start request, of every pipeline status request.
fn status_times(sim: &Simulator) -> Vec<Duration> {
    let reqs = sim.requests();
    let start = reqs
        .iter()
        .find(|r| r.method == "POST" && r.path.ends_with("/pipeline/execute"))
        .expect("a start request")
        .at;
    reqs.iter()
        .filter(|r| r.path.starts_with("/api/v1/pipelines/executions/"))
        .map(|r| r.at.saturating_sub(start))
        .collect()
}

/// The bound, checked in polls rather than in (jittery) virtual time: the run ended at the first status
/// answer after `at`, or, with `grace`, at the first one `grace` after that.
fn assert_ended_within(sim: &Simulator, at: Duration, grace: Option<Duration>, log: &str) {
    let times = status_times(sim);
    let first_after = times
        .iter()
        .position(|t| *t > at)
        .unwrap_or_else(|| panic!("no status request after {at:?}: {times:?}\n{log}"));
    let last = times.len() - 1;
    // The simulator starts its clock when it handles the start, a little after the request arrived: a poll
    // a hair after `at` may still see the last node running. Allow the next one within 2 virtual seconds.
    let boundary = Duration::from_secs(2);
    let latest = times
        .iter()
        .position(|t| *t > at + boundary)
        .unwrap_or(last);
    let anchors = first_after..=latest.min(last);
    match grace {
        None => assert!(
            anchors.contains(&last),
            "ended at the first status answer after {at:?}: {times:?}\n{log}"
        ),
        Some(grace) => {
            // Virtual time runs 60 times faster than real time: allow a few real milliseconds of round trip.
            let slack = Duration::from_secs(2);
            let fits = |anchor: usize| {
                let waited = times[last] - times[anchor];
                let before = times[last - 1].saturating_sub(times[anchor]);
                waited + slack >= grace && before < grace + slack
            };
            assert!(
                anchors.clone().any(fits),
                "ended at the first status answer {grace:?} after the one after {at:?}: {times:?}\n{log}"
            );
        }
    }
}

/// A `vocab-failing` run ended as it should: exit 1 naming node 2, node 4 skipped, at the first status
/// answer after the last node stopped running (or `grace` after that).
fn assert_failed_run(sim: &Simulator, done: &Finished, grace: Option<Duration>) {
    assert_eq!(done.exit_code, 1, "{}", done.log);
    assert_eq!(done.outputs["status"], "failed");
    let errors = error_lines(done);
    let ended = errors
        .iter()
        .find(|l| l.starts_with("::error title=Dune pipeline failed::"))
        .unwrap_or_else(|| panic!("{}", done.log));
    assert!(
        ended.contains("1 of 4 nodes failed; first: node 2 (query 5550001)")
            && ended.contains("line 3:14"),
        "{ended}"
    );
    assert_ended_within(sim, LAST_NODE_ENDS, grace, &done.log);
    assert_eq!(
        node_statuses(done),
        [
            (1, "completed".into()),
            (2, "failed".into()),
            (3, "completed".into()),
            // Blocked below the failure (`aborted` without an execution, or an unknown word): never started.
            (4, "skipped".into()),
        ]
    );
}

// ── Status words ───────────────────────────────────────────────────────────────────────────────────────

#[tokio::test(flavor = "multi_thread")]
async fn a_vocabulary_known_only_by_meaning() {
    // PIPELINE_EXECUTION_STATUS_ERRORED, scheduled, in_progress, succeeded, errored, aborted: no word of it
    // was ever in a list of the action's.
    let sim = Simulator::start(vocab(true)).await.expect("simulator");
    let done = action(&sim).run().await;
    // Ended by the top-level word, at the first status answer after the pipeline failed.
    assert_failed_run(&sim, &done, None);

    let sim = Simulator::start(vocab(false)).await.expect("simulator");
    let done = action(&sim).run().await;
    assert_eq!(done.exit_code, 0, "{}", done.log);
    assert_eq!(done.outputs["status"], "completed");
    assert!(node_statuses(&done).iter().all(|(_, s)| s == "completed"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failing_run_in_unknown_words_ends_once_no_node_runs() {
    // With the definition, the end is certain at the first status answer after the last running node ended
    // (one poll interval: at most max(1.25 s, 8% of the run time), 4.6 s here).
    let sim = Simulator::start(unknown_words(vocab(true)))
        .await
        .expect("simulator");
    let done = action(&sim).run().await;
    assert_failed_run(&sim, &done, None);
    // The words are kept verbatim.
    let nodes = done.json("nodes");
    assert_eq!(nodes[1]["raw_status"], "delta");

    // Without the definition (it could not be read), "nothing can progress" is a guess that must hold for
    // the settle grace (10 s) first.
    let sim = Simulator::start(unknown_words(vocab(true)).with_fault(Fault::new(
        FaultEndpoint::QueryPipeline,
        [FaultResponse::status(404)],
    )))
    .await
    .expect("simulator");
    let done = action(&sim).run().await;
    // The settle grace documented in docs/how-it-works.md.
    let grace = Duration::from_secs(10);
    assert_failed_run(&sim, &done, Some(grace));
    assert!(
        done.log.contains("no node can make progress"),
        "{}",
        done.log
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_succeeding_run_in_unknown_words_ends_0() {
    let sim = Simulator::start(unknown_words(vocab(false)))
        .await
        .expect("simulator");
    let done = action(&sim).run().await;
    assert_eq!(done.exit_code, 0, "{}", done.log);
    assert_eq!(done.outputs["status"], "completed");
    assert!(
        node_statuses(&done).iter().all(|(_, s)| s == "completed"),
        "{:?}",
        node_statuses(&done)
    );
    // The root ends at 57 + 1 + 15 = 73 s.
    assert_ended_within(&sim, Duration::from_secs(73), None, &done.log);
}

// ── Both status objects ────────────────────────────────────────────────────────────────────────────────

#[tokio::test(flavor = "multi_thread")]
async fn both_status_objects_keep_kinds_and_execution_ids() {
    for variant in [BothStatusObjects::Null, BothStatusObjects::Empty] {
        for with_definition in [true, false] {
            let mut scenario = vocab(false);
            scenario.both_status_objects = variant;
            if !with_definition {
                // The kinds then come from the status alone.
                scenario = scenario.with_fault(Fault::new(
                    FaultEndpoint::QueryPipeline,
                    [FaultResponse::status(404)],
                ));
            }
            let sim = Simulator::start(scenario).await.expect("simulator");
            // Every query node's result, not only the sink's: each is read by its execution id.
            let done = action(&sim).input("result_nodes", "all").run().await;
            let what = format!("{variant:?}, definition {with_definition}");
            assert_eq!(done.exit_code, 0, "{what}: {}", done.log);
            let nodes = done.json("nodes");
            let kinds: Vec<(&str, Value)> = nodes
                .as_array()
                .expect("array")
                .iter()
                .map(|n| {
                    let kind = n["kind"].as_str().expect("kind");
                    let id = if kind == "query" {
                        n["query_id"].clone()
                    } else {
                        n["name"].clone()
                    };
                    (kind, id)
                })
                .collect();
            assert_eq!(
                kinds,
                [
                    ("materialized_view", json!("dune.acme.mv_daily_volume")),
                    ("query", json!(5550001)),
                    ("query", json!(5550002)),
                    ("query", json!(5550000)),
                ],
                "{what}"
            );
            for n in nodes.as_array().expect("array") {
                assert!(
                    n["execution_id"].as_str().is_some_and(|e| e.len() == 26),
                    "{what}: {n}"
                );
            }
            // The query nodes' results were read by their execution ids.
            assert_eq!(
                done.json("results").as_array().map(Vec::len),
                Some(3),
                "{what}"
            );
        }
    }
}

// ── View names ─────────────────────────────────────────────────────────────────────────────────────────

#[tokio::test(flavor = "multi_thread")]
async fn short_and_full_view_names_keep_the_dag() {
    for (status, definition) in [
        (ViewNames::Short, ViewNames::Full),
        (ViewNames::Full, ViewNames::Short),
    ] {
        let mut scenario = vocab(false);
        scenario.view_names_in_status = status;
        scenario.view_names_in_definition = definition;
        let sim = Simulator::start(scenario).await.expect("simulator");
        let done = action(&sim).run().await;
        let what = format!("status {status:?}, definition {definition:?}");
        assert_eq!(done.exit_code, 0, "{what}: {}", done.log);
        assert!(warnings(&done).is_empty(), "{what}: {}", done.log);
        let nodes = done.json("nodes");
        // The full name wins, wherever it was seen.
        assert_eq!(nodes[0]["name"], "dune.acme.mv_daily_volume", "{what}");
        assert_eq!(nodes[3]["dependencies"], json!([2, 3]), "{what}");
        assert!(
            done.summary.contains("```mermaid"),
            "{what}: {}",
            done.summary
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn one_node_that_does_not_match_keeps_the_dag_for_the_rest() {
    // The definition names another query under node 3 than the pipeline runs.
    let definition = json!({"pipeline": {"nodes": [
        {"id": 1, "dependencies": [], "materialized_view_refresh": {"name": "dune.acme.mv_daily_volume", "performance": "medium"}},
        {"id": 2, "dependencies": [1], "query_execution": {"query_id": 5550001, "performance": "medium"}},
        {"id": 3, "dependencies": [1], "query_execution": {"query_id": 9999999, "performance": "medium"}},
        {"id": 4, "dependencies": [2, 3], "query_execution": {"query_id": 5550000, "performance": "medium"}},
    ]}});
    let sim = Simulator::start(vocab(false).with_fault(Fault::new(
        FaultEndpoint::QueryPipeline,
        [FaultResponse {
            body: Some(definition.to_string()),
            ..FaultResponse::status(200)
        }],
    )))
    .await
    .expect("simulator");
    let done = action(&sim).run().await;
    assert_eq!(done.exit_code, 0, "{}", done.log);
    let w = warnings(&done);
    assert_eq!(w.len(), 1, "warned once: {}", done.log);
    assert!(
        w[0].contains("Node 3 differs from the pipeline definition")
            && w[0].contains("as query 5550002, the definition as query 9999999"),
        "{}",
        w[0]
    );
    let nodes = done.json("nodes");
    // Dune's word for node 3; the definition's dependencies for every node.
    assert_eq!(nodes[2]["query_id"], 5550002);
    assert_eq!(nodes[1]["dependencies"], json!([1]));
    assert_eq!(nodes[3]["dependencies"], json!([2, 3]));
    assert!(done.summary.contains("```mermaid"), "{}", done.summary);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unknown_performance_tier_in_a_pipeline_file_is_sent_as_written() {
    let sim = Simulator::start(vocab(false)).await.expect("simulator");
    let run = ActionRun::against(&sim, SPEED);
    let path = run.workspace().join("p.yml");
    std::fs::write(
        &path,
        "pipeline: {nodes: [{id: 1, query_execution: {query_id: 5550001, performance: xlarge}}]}",
    )
    .expect("write");
    let done = run.input("pipeline_file", "p.yml").run().await;
    // The simulator, like Dune today, knows only medium and large: the 400 names the tier, after the
    // request was sent (no exit 2 before it).
    assert_eq!(done.exit_code, 4, "{}", done.log);
    let post = sim
        .requests()
        .into_iter()
        .find(|r| r.path == "/api/v1/pipelines/execute")
        .expect("the explicit pipeline was sent");
    assert!(
        post.body.contains("\"performance\":\"xlarge\""),
        "{}",
        post.body
    );
    assert!(done.log.contains("performance"), "{}", done.log);
}

/// The one rule for `performance` (issue 21): the input and a pipeline file read a tier the same way.
/// `medium`/`large` in any case are known; any other name is sent as written with the same warning, and
/// Dune (here the simulator, which knows only `medium` and `large`) decides.
#[tokio::test(flavor = "multi_thread")]
async fn performance_follows_one_rule_in_the_input_and_in_a_pipeline_file() {
    let warning = |done: &Finished| {
        done.log
            .lines()
            .filter(|l| l.starts_with("::warning title=Unknown performance tier::"))
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    let posted = |sim: &Simulator, path: &str| {
        sim.requests()
            .into_iter()
            .filter(|r| r.method == "POST" && r.path == path)
            .map(|r| r.body)
            .collect::<Vec<_>>()
    };
    let expected = "::warning title=Unknown performance tier::`xlarge` is not a tier this action knows (`medium`, `large`): sent to Dune as written; Dune refuses a tier it does not offer (HTTP 400 naming it).";

    // The input with a saved query: no longer refused before anything is sent (it was exit 2).
    let sim = Simulator::start(vocab(false)).await.expect("simulator");
    let by_input = action(&sim).input("performance", "xlarge").run().await;
    assert_eq!(by_input.exit_code, 4, "{}", by_input.log);
    assert_eq!(warning(&by_input), vec![expected.to_string()]);
    let bodies = posted(&sim, "/api/v1/query/5550000/pipeline/execute");
    assert_eq!(bodies.len(), 1, "{bodies:?}");
    assert!(
        bodies[0].contains("\"performance\":\"xlarge\""),
        "{}",
        bodies[0]
    );

    // The input as the file's default, and a node's own tier: the same warning, once.
    let sim = Simulator::start(vocab(false)).await.expect("simulator");
    let run = ActionRun::against(&sim, SPEED);
    std::fs::write(
        run.workspace().join("p.yml"),
        "pipeline: {nodes: [{id: 1, query_execution: {query_id: 5550001, performance: xlarge}}, {id: 2, dependencies: [1], query_execution: {query_id: 5550002}}]}",
    )
    .expect("write");
    let by_file = run
        .input("pipeline_file", "p.yml")
        .input("performance", " XLarge ")
        .run()
        .await;
    assert_eq!(by_file.exit_code, 4, "{}", by_file.log);
    assert_eq!(
        warning(&by_file),
        vec![expected.replace("`xlarge` is", "`xlarge`, `XLarge` are")]
    );

    // Known tiers in any case, both ways: sent as Dune spells them, no warning.
    let sim = Simulator::start(vocab(false)).await.expect("simulator");
    let run = ActionRun::against(&sim, SPEED);
    std::fs::write(
        run.workspace().join("p.yml"),
        "pipeline: {nodes: [{id: 1, query_execution: {query_id: 5550001, performance: LARGE}}, {id: 2, dependencies: [1], query_execution: {query_id: 5550002}}]}",
    )
    .expect("write");
    let known = run
        .input("pipeline_file", "p.yml")
        .input("performance", "Medium")
        .input("timeout", "20m")
        .run()
        .await;
    assert_eq!(known.exit_code, 0, "{}", known.log);
    assert!(warning(&known).is_empty(), "{}", known.log);
    let body: Value =
        serde_json::from_str(&posted(&sim, "/api/v1/pipelines/execute")[0]).expect("json");
    let tiers: Vec<&Value> = body["pipeline"]["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .map(|n| &n["query_execution"]["performance"])
        .collect();
    assert_eq!(tiers, vec![&json!("large"), &json!("medium")]);
}

// ── Results within the per-request limits ──────────────────────────────────────────────────────────────

fn wide(cap: u64, response: DatapointLimitResponse) -> Scenario {
    let mut s = keyed(
        Scenario::from_yaml_or_json(
            r#"
time_scale: 50
queries:
  - query_id: 777
    nodes:
      - {id: 1, query_id: 777, duration: 5s, rows: 40000, columns: 20}
"#,
        )
        .expect("scenario"),
    );
    s.max_datapoints_per_request = cap;
    s.datapoint_limit_response = response;
    s
}

fn limit_of(r: &dune_sim::RecordedRequest) -> u64 {
    let q = r.query.clone().unwrap_or_default();
    q.split('&')
        .find_map(|kv| kv.strip_prefix("limit="))
        .and_then(|v| v.parse().ok())
        .expect("a limit")
}

fn results_requests(sim: &Simulator) -> Vec<dune_sim::RecordedRequest> {
    sim.requests()
        .into_iter()
        .filter(|r| r.path.contains("/results"))
        .collect()
}

async fn download(sim: &Simulator, format: &str) -> (Finished, tempfile::TempDir) {
    let ws = tempfile::tempdir().expect("tempdir");
    let mut run = ActionRun::against(sim, 50.0)
        .input("query_id", "777")
        .input("results_dir", "out")
        .input("results_format", format);
    run.env
        .set("GITHUB_WORKSPACE", ws.path().to_string_lossy().into_owned());
    (run.run().await, ws)
}

fn lines_of(ws: &tempfile::TempDir, done: &Finished) -> Vec<String> {
    let results = done.json("results");
    let path = results[0]["path"].as_str().expect("a file");
    std::fs::read_to_string(ws.path().join(path))
        .expect("file")
        .lines()
        .map(str::to_string)
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_20_column_result_under_a_250000_cell_cap_downloads_whole() {
    for format in ["csv", "jsonl"] {
        // Dune refusing (400) any page above the cap: the action must never ask for one.
        let sim = Simulator::start(wide(250_000, DatapointLimitResponse::Error))
            .await
            .expect("simulator");
        let (done, ws) = download(&sim, format).await;
        assert_eq!(done.exit_code, 0, "{format}: {}", done.log);
        let lines = lines_of(&ws, &done);
        let header = usize::from(format == "csv");
        assert_eq!(lines.len(), 40_000 + header, "{format}");
        assert_eq!(done.json("results")[0]["rows"], 40_000);
        let reqs = results_requests(&sim);
        assert!(reqs.iter().all(|r| r.status == 200), "{format}: {reqs:?}");
        let pages: Vec<&dune_sim::RecordedRequest> =
            reqs.iter().filter(|r| limit_of(r) > 10).collect();
        assert!(pages.len() >= 4, "{format}: {} pages", pages.len());
        assert!(
            pages.iter().all(|r| limit_of(r) * 20 <= 250_000),
            "{format}: {pages:?}"
        );
        // CSV pages ask for CSV; JSON ones for JSON.
        for r in &reqs {
            let want = if r.path.ends_with("/csv") {
                "text/csv"
            } else {
                "application/json"
            };
            assert_eq!(r.accept.as_deref(), Some(want), "{}", r.path);
        }
        if format == "csv" {
            assert!(reqs.iter().any(|r| r.path.ends_with("/csv")));
        }
    }

    // A page shorter than asked (Dune shortens it under its cap) is followed to the end.
    let sim = Simulator::start(wide(100_000, DatapointLimitResponse::Shorten))
        .await
        .expect("simulator");
    let (done, ws) = download(&sim, "jsonl").await;
    assert_eq!(done.exit_code, 0, "{}", done.log);
    assert_eq!(lines_of(&ws, &done).len(), 40_000);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_limit_exceeded_answer_lowers_the_page_once() {
    // A cap lower than the documented one, answered with a 400: one lower page size, then every row.
    let sim = Simulator::start(wide(100_000, DatapointLimitResponse::Error))
        .await
        .expect("simulator");
    let (done, ws) = download(&sim, "csv").await;
    assert_eq!(done.exit_code, 0, "{}", done.log);
    assert_eq!(lines_of(&ws, &done).len(), 40_001);
    let refused = results_requests(&sim)
        .into_iter()
        .filter(|r| r.status == 400)
        .count();
    assert_eq!(refused, 1);

    // Refused again after lowering: the node's result fails with Dune's own words (exit 4).
    let words = "Result exceeds the maximum size limit of this plan";
    let sim = Simulator::start(
        wide(0, DatapointLimitResponse::Shorten).with_fault(Fault::new(
            FaultEndpoint::ExecutionResultsCsv,
            [
                FaultResponse::error(400, words),
                FaultResponse::error(400, words),
            ],
        )),
    )
    .await
    .expect("simulator");
    let (done, _ws) = download(&sim, "csv").await;
    assert_eq!(done.exit_code, 5, "{}", done.log);
    let errors = error_lines(&done);
    let node = errors
        .iter()
        .find(|l| l.contains("could not be downloaded"))
        .unwrap_or_else(|| panic!("{}", done.log));
    assert!(
        node.contains(&format!("HTTP 400: {words}")) && node.contains("lowered the page size once"),
        "{node}"
    );
    let csv: Vec<u64> = results_requests(&sim)
        .iter()
        .filter(|r| r.path.ends_with("/csv"))
        .map(limit_of)
        .collect();
    assert_eq!(csv.len(), 2, "{csv:?}");
    assert!(csv[1] < csv[0], "{csv:?}");
}

// ── Partial results ────────────────────────────────────────────────────────────────────────────────────

#[tokio::test(flavor = "multi_thread")]
async fn partial_results_either_way_dune_announces_them() {
    for mode in [
        PartialResults::Error,
        PartialResults::PartialState,
        PartialResults::FailedState,
    ] {
        // The node's status says `completed` and its execution cannot be read: only the results endpoint
        // tells that the result is partial.
        let mut s = keyed(
            Scenario::from_yaml_or_json(
                r#"
time_scale: 50
status_names: {completed_partial: completed}
queries:
  - query_id: 778
    nodes:
      - {id: 1, query_id: 778, duration: 3s, rows: 50, outcome: completed_partial}
faults:
  - endpoint: execution_status
    responses: [{status: 404}]
"#,
            )
            .expect("scenario"),
        );
        s.partial_results_without_allow = mode;
        let sim = Simulator::start(s).await.expect("simulator");
        let done = ActionRun::against(&sim, 50.0)
            .input("query_id", "778")
            .run()
            .await;
        assert_eq!(done.exit_code, 0, "{mode:?}: {}", done.log);
        let r = &done.json("results")[0];
        assert_eq!(r["partial"], true, "{mode:?}: {r}");
        assert_eq!(r["rows"], 50, "{mode:?}: {r}");
        assert_eq!(r["error"], Value::Null, "{mode:?}: {r}");
        assert!(done.log.contains("Partial result of node 1"), "{mode:?}");
        let asked: Vec<bool> = results_requests(&sim)
            .iter()
            .map(|r| {
                r.query
                    .as_deref()
                    .is_some_and(|q| q.contains("allow_partial_results=true"))
            })
            .collect();
        assert_eq!(asked, [false, true], "{mode:?}");
    }
}

// ── Plan limits ────────────────────────────────────────────────────────────────────────────────────────

async fn refused(fault: Fault) -> (Finished, Simulator) {
    let sim = Simulator::start(vocab(false).with_fault(fault))
        .await
        .expect("simulator");
    let done = action(&sim).run().await;
    (done, sim)
}

fn count(sim: &Simulator, path_part: &str) -> usize {
    sim.requests()
        .iter()
        .filter(|r| r.path.contains(path_part))
        .count()
}

#[tokio::test(flavor = "multi_thread")]
async fn plan_limits_402_get_their_own_message() {
    for (preset, limit) in [
        (
            FaultResponse::billing_limit_exceeded(),
            "limit per billing cycle",
        ),
        (FaultResponse::request_limit_exceeded(), "per-request limit"),
    ] {
        let dune_words = preset.error.clone().expect("a message");
        let (done, sim) = refused(Fault::new(FaultEndpoint::PipelineExecute, [preset])).await;
        assert_eq!(done.exit_code, 4, "{}", done.log);
        let errors = error_lines(&done);
        assert_eq!(errors.len(), 1, "{}", done.log);
        let e = errors[0];
        assert!(
            e.starts_with("::error title=Dune plan limit reached::"),
            "{e}"
        );
        assert!(e.contains("HTTP 402") && e.contains(limit), "{e}");
        assert!(e.contains(dune_words.trim_end_matches('.')), "{e}");
        assert!(e.contains("not retried"), "{e}");
        // Never retried.
        assert_eq!(count(&sim, "/pipeline/execute"), 1);
        assert_eq!(sim.pipelines_started(), 0);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn key_scope_403_gets_its_own_message() {
    let (done, sim) = refused(Fault::new(
        FaultEndpoint::PipelineStatus,
        [FaultResponse::forbidden()],
    ))
    .await;
    assert_eq!(done.exit_code, 4, "{}", done.log);
    let errors = error_lines(&done);
    assert_eq!(errors.len(), 1, "{}", done.log);
    let e = errors[0];
    assert!(
        e.starts_with("::error title=Dune API key not allowed::"),
        "{e}"
    );
    assert!(e.contains("HTTP 403") && e.contains("scope"), "{e}");
    assert!(e.contains("Not allowed to execute query"), "{e}");
    // The one status request was refused and not repeated.
    assert_eq!(count(&sim, "/api/v1/pipelines/executions/"), 1);
}
