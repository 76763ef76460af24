//! `max_age`: a result fresh enough is reused (no execute request, `status: fresh`, previews and files
//! from the reused executions, the PR comment and check run saying so); a result too old, a query never
//! run, or a result that is not complete runs the pipeline; a pipeline file is fresh only when every sink
//! is; an invalid `max_age` is exit 2 with no request; a dry run says whether a run would be skipped.
//! The materialized views of the pipeline decide too: a root query run by hand is not fresh when a view
//! upstream is old, or when a view's age cannot be read.

use crate::common::{ActionRun, Finished, keyed, posts};
use crate::fake_github::{FakeGitHub, Mode};
use dune_sim::{Scenario, Simulator};
use serde_json::{Value, json};

const SPEED: f64 = 50.0;
const TOKEN: &str = "ghs_FakeToken0123456789abcdef";

/// Query 3493826's pipeline (101 → 3493826), with a 10-minute-old result of 3493826; query 4000 never
/// ran; 102 has a 10-minute-old result, 103 a 3-hour-old one, 104 a failed one (all with the simulator's
/// clock at the epoch).
fn scenario() -> Scenario {
    at_epoch(
        r#"
latest_results:
  - {query_id: 3493826, age: 10m, rows: 30}
  - {query_id: 102, age: 10m, rows: 4}
  - {query_id: 103, age: 3h, rows: 6}
  - {query_id: 104, age: 1m, state: failed, error: boom}
queries:
  - query_id: 3493826
    nodes:
      - {id: 1, query_id: 101, duration: 5s}
      - {id: 2, query_id: 3493826, dependencies: [1], duration: 5s}
  - query_id: 4000
    nodes:
      - {id: 1, query_id: 4000, duration: 5s}
  - query_id: 104
    nodes:
      - {id: 1, query_id: 104, duration: 5s}
"#,
    )
}

/// A keyed scenario at [`SPEED`] whose clock starts at 2026-01-01T00:00:00Z, with `body`'s fields.
fn at_epoch(body: &str) -> Scenario {
    keyed(
        Scenario::from_yaml_or_json(&format!(
            "time_scale: {SPEED}\nepoch: \"2026-01-01T00:00:00Z\"\n{body}"
        ))
        .expect("scenario"),
    )
}

fn latest_reads(sim: &Simulator) -> Vec<String> {
    sim.requests()
        .into_iter()
        .filter(|r| r.path.starts_with("/api/v1/query/") && r.path.ends_with("/results"))
        .map(|r| r.path)
        .collect()
}

fn log_lines<'a>(done: &'a Finished, text: &str) -> Vec<&'a str> {
    done.log.lines().filter(|l| l.contains(text)).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_fresh_result_is_reused_and_nothing_runs() {
    let sim = Simulator::start(scenario()).await.expect("simulator");
    // A workspace that outlives the run (the harness's own goes away with it).
    let ws = tempfile::tempdir().expect("tempdir");
    let mut run = ActionRun::against(&sim, SPEED)
        .input("query_id", "3493826")
        .input("max_age", "1h")
        .input("result_rows", "3")
        .input("results_dir", "out");
    run.env
        .set("GITHUB_WORKSPACE", ws.path().to_string_lossy().into_owned());
    let done = run.run().await;
    assert_eq!(done.exit_code, 0, "{}", done.log);
    assert!(posts(&sim).is_empty(), "no execute request");
    assert_eq!(sim.pipelines_started(), 0);
    assert_eq!(latest_reads(&sim), ["/api/v1/query/3493826/results"]);

    assert_eq!(done.outputs["status"], "fresh");
    assert_eq!(done.outputs["pipeline_execution_id"], "");
    assert_eq!(done.json("nodes"), json!([]));
    assert_eq!(done.json("failed_nodes"), json!([]));
    let execution = done.outputs["execution_id"].clone();
    assert_eq!(execution.len(), 26, "a ULID: {execution:?}");

    // Results as after a run, from the reused execution: a preview and a file.
    let results = done.json("results");
    let r = &results[0];
    assert_eq!(results.as_array().map(Vec::len), Some(1), "{results}");
    assert_eq!(
        (
            &r["node_id"],
            &r["query_id"],
            &r["execution_id"],
            &r["rows"]
        ),
        (&json!(2), &json!(3493826), &json!(execution), &json!(30))
    );
    let path = r["path"].as_str().expect("a file");
    let file = std::fs::read_to_string(ws.path().join(path)).expect("result file");
    assert_eq!(file.lines().count(), 31, "header and 30 rows");
    assert!(sim.requests().iter().any(|q| q.path
        == format!("/api/v1/execution/{execution}/results")
        && q.query.as_deref().is_some_and(|q| q.contains("limit=3"))));

    // The summary: what was reused, how old against max_age, nothing executed, the previews.
    let s = &done.summary;
    assert!(s.contains("♻️ Dune pipeline: fresh result reused"), "{s}");
    assert!(s.contains("| Status | fresh |"), "{s}");
    assert!(s.contains("**Nothing executed, no credits spent**"), "{s}");
    assert!(
        s.contains(&format!(
            "| 2 | [3493826](https://dune.com/queries/3493826) | `{execution}` | `2025-12-31T23:50:00.000000000Z` | 10m"
        )),
        "{s}"
    );
    assert!(s.contains("old (max_age 1h) |"), "{s}");
    assert!(
        s.contains("### Results") && s.contains("_First 3 of 30 rows._"),
        "{s}"
    );
    assert!(!s.contains("### Nodes"), "{s}");

    // One notice in the log.
    let notice = log_lines(&done, "::notice title=Fresh Dune result reused::");
    assert_eq!(notice.len(), 1, "{}", done.log);
    assert!(
        notice[0].contains("Nothing executed, no credits spent")
            && notice[0].contains(&format!("query 3493826 (execution {execution}) ended 10m")),
        "{}",
        notice[0]
    );
}

/// Runs `query_id` with `max_age` against a fresh simulator; checks that the pipeline ran (completed) and
/// that the log gave one reason, which is returned with the simulator.
async fn runs_anyway(query_id: &str, max_age: &str) -> (String, Simulator) {
    let sim = Simulator::start(scenario()).await.expect("simulator");
    let done = ActionRun::against(&sim, SPEED)
        .input("query_id", query_id)
        .input("max_age", max_age)
        .run()
        .await;
    assert_eq!(done.exit_code, 0, "{}", done.log);
    assert_eq!(sim.pipelines_started(), 1);
    assert_eq!(done.outputs["status"], "completed");
    let why = log_lines(&done, &format!("Running the pipeline: max_age {max_age}:"));
    assert_eq!(why.len(), 1, "{}", done.log);
    // The summary says why too.
    assert!(
        done.summary.contains(&format!(
            "**`max_age` `{max_age}`**: the pipeline ran because not everything was fresh: "
        )),
        "{}",
        done.summary
    );
    (why[0].to_string(), sim)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_result_older_than_max_age_runs_the_pipeline() {
    let (why, sim) = runs_anyway("3493826", "5m").await;
    assert!(
        why.contains("the latest result of query 3493826")
            && why.contains("ended 10m")
            && why.contains("more than max_age"),
        "{why}"
    );
    // The read came before the start.
    let paths: Vec<String> = sim.requests().into_iter().map(|r| r.path).collect();
    let read = paths
        .iter()
        .position(|p| p.ends_with("/query/3493826/results"));
    let start = paths.iter().position(|p| p.ends_with("/pipeline/execute"));
    assert!(read < start && read.is_some(), "{paths:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_query_never_run_runs_the_pipeline() {
    let (why, sim) = runs_anyway("4000", "1h").await;
    assert!(
        why.contains("query 4000 has no result to reuse") && why.contains("404"),
        "{why}"
    );
    // A 404 is an answer, not a failure: read once.
    assert_eq!(latest_reads(&sim).len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_latest_result_runs_the_pipeline() {
    let (why, _) = runs_anyway("104", "1h").await;
    assert!(
        why.contains("is QUERY_STATE_FAILED, not a complete result"),
        "{why}"
    );
}

/// [`scenario`] with the latest-result reads failing `n` times with a 503.
fn failing_reads(n: usize) -> Scenario {
    let mut s = scenario();
    s.faults.push(dune_sim::Fault::new(
        dune_sim::FaultEndpoint::QueryResults,
        vec![dune_sim::FaultResponse::status(503); n],
    ));
    s
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_read_is_retried_then_the_pipeline_runs() {
    // One 503: retried, still fresh.
    let sim = Simulator::start(failing_reads(1)).await.expect("simulator");
    let done = ActionRun::against(&sim, SPEED)
        .input("query_id", "3493826")
        .input("max_age", "1h")
        .run()
        .await;
    assert_eq!(done.outputs["status"], "fresh", "{}", done.log);
    assert_eq!(latest_reads(&sim).len(), 2);

    // 503 for good: the check gives up within its minute of retries and the pipeline runs.
    let sim = Simulator::start(failing_reads(50))
        .await
        .expect("simulator");
    let done = ActionRun::against(&sim, SPEED)
        .input("query_id", "3493826")
        .input("max_age", "1h")
        .run()
        .await;
    assert_eq!(done.exit_code, 0, "{}", done.log);
    assert_eq!(done.outputs["status"], "completed");
    assert_eq!(sim.pipelines_started(), 1);
    let why = log_lines(&done, "Running the pipeline: max_age 1h:");
    assert!(
        why.len() == 1
            && why[0].contains("the latest result of query 3493826 could not be read")
            && why[0].contains("503"),
        "{}",
        done.log
    );
    let reads = latest_reads(&sim).len();
    assert!((2..12).contains(&reads), "{reads} reads");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_invalid_max_age_is_exit_2_and_sends_nothing() {
    let sim = Simulator::start(scenario()).await.expect("simulator");
    let done = ActionRun::against(&sim, SPEED)
        .input("query_id", "3493826")
        .input("max_age", "soon")
        .run()
        .await;
    assert_eq!(done.exit_code, 2, "{}", done.log);
    assert!(sim.requests().is_empty(), "{:?}", sim.requests());
    assert_eq!(done.outputs["status"], "error");
    let error = log_lines(&done, "::error title=Invalid input `max_age`::");
    assert_eq!(error.len(), 1, "{}", done.log);
    assert!(error[0].contains("\"soon\""), "{}", error[0]);
}

/// Nodes 2 (query 102) and 3 (query 103) both depend on node 1 (query 101): two sinks.
const TWO_SINKS: &str = r#"pipeline:
  nodes:
    - {id: 1, query_execution: {query_id: 101}}
    - {id: 2, dependencies: [1], query_execution: {query_id: 102}}
    - {id: 3, dependencies: [1], query_execution: {query_id: 103}}
"#;

fn file_run(sim: &Simulator, max_age: &str) -> ActionRun {
    let run = ActionRun::against(sim, SPEED);
    std::fs::write(run.workspace().join("two.yml"), TWO_SINKS).expect("write");
    run.input("pipeline_file", "two.yml")
        .input("max_age", max_age)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_pipeline_file_is_fresh_only_when_every_sink_is() {
    let sim = Simulator::start(scenario()).await.expect("simulator");
    // 102 is 10 minutes old, 103 three hours: within 4h both are fresh.
    let done = file_run(&sim, "4h").run().await;
    assert_eq!(done.exit_code, 0, "{}", done.log);
    assert_eq!(done.outputs["status"], "fresh", "{}", done.log);
    assert!(posts(&sim).is_empty());
    assert_eq!(
        latest_reads(&sim),
        ["/api/v1/query/102/results", "/api/v1/query/103/results"]
    );
    // Two sinks: no single execution id (as after a run), both results.
    assert_eq!(done.outputs["execution_id"], "");
    let results = done.json("results");
    let ids: Vec<(Value, Value)> = results
        .as_array()
        .expect("array")
        .iter()
        .map(|r| (r["node_id"].clone(), r["rows"].clone()))
        .collect();
    assert_eq!(ids, [(json!(2), json!(4)), (json!(3), json!(6))]);
    assert!(done.summary.contains("| 3 | [103]"), "{}", done.summary);

    // Within 1h only 102 is: the whole pipeline runs.
    let done = file_run(&sim, "1h").run().await;
    assert_eq!(done.exit_code, 0, "{}", done.log);
    assert_eq!(done.outputs["status"], "completed");
    assert_eq!(posts(&sim).len(), 1);
    assert_eq!(posts(&sim)[0].path, "/api/v1/pipelines/execute");
    let why = log_lines(&done, "Running the pipeline: max_age 1h:");
    assert!(
        why.len() == 1 && why[0].contains("query 103") && why[0].contains("ended 3h"),
        "{}",
        done.log
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_dry_run_says_whether_a_run_would_be_skipped() {
    let sim = Simulator::start(scenario()).await.expect("simulator");
    let skipped = ActionRun::against(&sim, SPEED)
        .input("query_id", "3493826")
        .input("max_age", "1h")
        .input("dry_run", "true")
        .run()
        .await;
    assert_eq!(skipped.exit_code, 0, "{}", skipped.log);
    assert_eq!(skipped.outputs["status"], "planned");
    assert_eq!(
        log_lines(&skipped, "Dry run: a run now would be skipped:").len(),
        1,
        "{}",
        skipped.log
    );
    assert!(
        skipped
            .summary
            .contains("**`max_age` `1h`**: a run now would be skipped"),
        "{}",
        skipped.summary
    );
    let runs = ActionRun::against(&sim, SPEED)
        .input("query_id", "3493826")
        .input("max_age", "5m")
        .input("dry_run", "true")
        .run()
        .await;
    assert_eq!(runs.outputs["status"], "planned");
    assert_eq!(
        log_lines(
            &runs,
            "Dry run: a run now would execute the pipeline: max_age 5m:"
        )
        .len(),
        1,
        "{}",
        runs.log
    );
    assert!(
        runs.summary
            .contains("a run now would execute the pipeline"),
        "{}",
        runs.summary
    );
    assert!(posts(&sim).is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn the_pr_comment_and_check_run_say_fresh() {
    let sim = Simulator::start(scenario()).await.expect("simulator");
    let gh = FakeGitHub::start(TOKEN, "", Mode::Normal).await;
    let mut run = ActionRun::against(&sim, SPEED)
        .input("query_id", "3493826")
        .input("max_age", "1h")
        .input("github_token", TOKEN)
        .input("pr_comment", "true")
        .input("check_run", "true");
    let payload = json!({"action": "synchronize", "number": 7,
        "pull_request": {"number": 7, "head": {"sha": "0123456789abcdef0123456789abcdef01234567"}}});
    let event = run.workspace().join("event.json");
    std::fs::write(&event, payload.to_string()).expect("event");
    for (k, v) in [
        ("GITHUB_EVENT_NAME", "pull_request"),
        ("GITHUB_EVENT_PATH", &event.to_string_lossy()),
        ("GITHUB_API_URL", gh.api_url()),
        ("GITHUB_REPOSITORY", "octo-org/data-models"),
        ("GITHUB_RUN_ID", "4242"),
    ] {
        run.env.set(k, v);
    }
    let done = run.run().await;
    assert_eq!(done.exit_code, 0, "{}", done.log);
    assert!(posts(&sim).is_empty());
    let checks = gh.check_runs();
    assert_eq!(checks.len(), 1, "{checks:?}");
    assert_eq!(checks[0]["conclusion"], "success");
    assert_eq!(
        checks[0]["output"]["title"],
        "fresh: latest result reused, nothing executed"
    );
    let summary = checks[0]["output"]["summary"].as_str().expect("summary");
    assert!(
        summary.contains("Nothing executed, no credits spent"),
        "{summary}"
    );
    let comments = gh.comments(7);
    let body = comments[0]["body"].as_str().expect("comment");
    assert!(
        body.contains("♻️ Dune pipeline: fresh result reused")
            && body.contains("Nothing executed, no credits spent")
            && body.contains("old (max_age 1h)"),
        "{body}"
    );
}

/// Query 5000's pipeline: view `result_base` (node 1) → view `result_daily` (node 2) → query 5000 (node
/// 3). The root query was run by hand ten minutes ago; `result_base` was refreshed 20 minutes ago,
/// `result_daily` `daily_age` ago (by the simulator's clock at the epoch).
fn views_scenario(daily_age: &str) -> Scenario {
    at_epoch(&format!(
        r#"
latest_results:
  - {{query_id: 5000, age: 10m, rows: 3}}
materialized_views:
  - {{name: dune.acme.result_base, age: 20m, credits: 7.5}}
  - {{name: dune.acme.result_daily, age: {daily_age}}}
queries:
  - query_id: 5000
    nodes:
      - {{id: 1, materialized_view: dune.acme.result_base, duration: 5s}}
      - {{id: 2, materialized_view: dune.acme.result_daily, dependencies: [1], duration: 5s}}
      - {{id: 3, query_id: 5000, dependencies: [2], duration: 5s}}
"#
    ))
}

/// The `max_age` check's requests, in order, as `METHOD path` with execution ids as `{id}` (up to the first
/// start or result read).
fn check_reads(sim: &Simulator) -> Vec<String> {
    sim.requests()
        .into_iter()
        // The definition's read comes first; the result previews after.
        .filter(|r| !r.path.ends_with("/pipeline"))
        .take_while(|r| {
            r.method == "GET"
                && !(r.path.starts_with("/api/v1/execution/") && r.path.contains("/results"))
        })
        .map(|r| {
            let path = match r.path.strip_prefix("/api/v1/execution/") {
                Some(rest) => format!(
                    "/api/v1/execution/{{id}}/{}",
                    rest.split_once('/').map_or("", |(_, tail)| tail)
                ),
                None => r.path,
            };
            format!("{} {path}", r.method)
        })
        .collect()
}

fn run_views(sim: &Simulator, max_age: &str) -> ActionRun {
    ActionRun::against(sim, SPEED)
        .input("query_id", "5000")
        .input("max_age", max_age)
}

/// Runs query 5000 with `max_age: 1h` against `scenario`; checks exit 0, the `status` and how many
/// pipelines started.
async fn views_run(scenario: Scenario, status: &str, started: usize) -> (Finished, Simulator) {
    let sim = Simulator::start(scenario).await.expect("simulator");
    let done = run_views(&sim, "1h").run().await;
    assert_eq!(done.exit_code, 0, "{}", done.log);
    assert_eq!(done.outputs["status"], status, "{}", done.log);
    assert_eq!(sim.pipelines_started(), started, "{}", done.log);
    (done, sim)
}

#[tokio::test(flavor = "multi_thread")]
async fn fresh_views_and_a_fresh_root_are_reused() {
    let (done, sim) = views_run(views_scenario("30m"), "fresh", 0).await;
    assert!(posts(&sim).is_empty(), "nothing started");
    // The check's reads: the root's latest result, then each view and its newest refresh (1 + 2 × 2).
    assert_eq!(
        check_reads(&sim),
        [
            "GET /api/v1/query/5000/results",
            "GET /api/v1/materialized-views/dune.acme.result_base",
            "GET /api/v1/execution/{id}/status",
            "GET /api/v1/materialized-views/dune.acme.result_daily",
            "GET /api/v1/execution/{id}/status",
        ]
    );
    let s = &done.summary;
    assert!(
        s.contains("and every materialized view was refreshed within it, so it was reused"),
        "{s}"
    );
    assert!(
        s.contains("| 1 | `dune.acme.result_base` | `")
            && s.contains("| `2025-12-31T23:40:00.000000000Z` | 20m")
            && s.contains("| 2 | `dune.acme.result_daily` | `")
            && s.contains("| `2025-12-31T23:30:00.000000000Z` | 30m"),
        "{s}"
    );
    let notice = log_lines(&done, "::notice title=Fresh Dune result reused::");
    assert!(
        notice.len() == 1
            && notice[0].contains("query 5000 (execution ")
            && notice[0].contains("materialized view dune.acme.result_daily (execution ")
            && notice[0].contains(") refreshed 30m"),
        "{}",
        done.log
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stale_view_runs_the_pipeline_though_the_root_was_run_by_hand() {
    let (done, sim) = views_run(views_scenario("3h"), "completed", 1).await;
    let why = log_lines(&done, "Running the pipeline: max_age 1h:");
    assert_eq!(why.len(), 1, "{}", done.log);
    // 3h, and the seconds of virtual time the run took before the check.
    assert!(
        why[0].contains(
            "max_age 1h: materialized view dune.acme.result_daily (node 2) was last refreshed 3h"
        ) && why[0].contains(" ago (execution ")
            && why[0].ends_with("), more than max_age"),
        "{}",
        why[0]
    );
    assert!(
        done.summary.contains(
            "**`max_age` `1h`**: the pipeline ran because not everything was fresh: materialized view dune.acme.result_daily (node 2) was last refreshed 3h"
        ),
        "{}",
        done.summary
    );

    // The run refreshed both views: a second run finds them, and the root, fresh.
    let again = run_views(&sim, "1h").run().await;
    assert_eq!(again.outputs["status"], "fresh", "{}", again.log);
    assert_eq!(sim.pipelines_started(), 1);
}

/// With `max_credits` beside `max_age`, the estimate takes the cost of a view the check already read
/// (`result_base`, 7.5 credits) from there: that view is read once, the stale one (whose refresh the check
/// judged too old) twice.
#[tokio::test(flavor = "multi_thread")]
async fn the_estimate_does_not_read_again_a_view_the_check_read() {
    let sim = Simulator::start(views_scenario("3h"))
        .await
        .expect("simulator");
    let done = run_views(&sim, "1h")
        .input("max_credits", "1000")
        .run()
        .await;
    assert_eq!(done.exit_code, 0, "{}", done.log);
    let reads = |name: &str| {
        sim.requests()
            .iter()
            .filter(|r| r.path == format!("/api/v1/materialized-views/{name}"))
            .count()
    };
    assert_eq!(reads("dune.acme.result_base"), 1, "{}", done.log);
    assert_eq!(reads("dune.acme.result_daily"), 2, "{}", done.log);
    let line = log_lines(&done, "Estimate before the start");
    assert!(
        line.len() == 1 && line[0].contains("known for 3 of 3 nodes"),
        "{}",
        done.log
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_view_that_cannot_be_read_runs_the_pipeline_and_says_why() {
    let mut scenario = views_scenario("30m");
    scenario.faults.push(dune_sim::Fault::new(
        dune_sim::FaultEndpoint::MaterializedView,
        [dune_sim::FaultResponse::forbidden()],
    ));
    let (done, sim) = views_run(scenario, "completed", 1).await;
    let why = log_lines(&done, "Running the pipeline: max_age 1h:");
    assert!(
        why.len() == 1
            && why[0].contains(
                "the age of materialized view dune.acme.result_base (node 1) is unknown: it could not be read (GET /api/v1/materialized-views/dune.acme.result_base"
            )
            && why[0].contains("403"),
        "{}",
        done.log
    );
    assert!(
        done.summary
            .contains("the age of materialized view dune.acme.result_base (node 1) is unknown"),
        "{}",
        done.summary
    );
    // A 403 is an answer: one read, and nothing after it but the run.
    let view_reads = sim
        .requests()
        .iter()
        .filter(|r| r.path.starts_with("/api/v1/materialized-views/"))
        .count();
    assert_eq!(view_reads, 1);
}

/// A pipeline file: view `result_base` (node 1) → query 5000 (node 2).
const FILE_WITH_VIEW: &str = r#"pipeline:
  nodes:
    - {id: 1, materialized_view_refresh: {name: dune.acme.result_base}}
    - {id: 2, dependencies: [1], query_execution: {query_id: 5000}}
"#;

#[tokio::test(flavor = "multi_thread")]
async fn a_pipeline_files_views_decide_too() {
    let sim = Simulator::start(views_scenario("30m"))
        .await
        .expect("simulator");
    let file_run = |max_age: &str| {
        let run = ActionRun::against(&sim, SPEED);
        std::fs::write(run.workspace().join("views.yml"), FILE_WITH_VIEW).expect("write");
        run.input("pipeline_file", "views.yml")
            .input("max_age", max_age)
    };
    // result_base is 20 minutes old, query 5000's result 10.
    let done = file_run("30m").run().await;
    assert_eq!(done.outputs["status"], "fresh", "{}", done.log);
    assert!(posts(&sim).is_empty());
    let done = file_run("15m").run().await;
    assert_eq!(done.outputs["status"], "completed", "{}", done.log);
    assert_eq!(posts(&sim).len(), 1);
    let why = log_lines(&done, "Running the pipeline: max_age 15m:");
    assert!(
        why.len() == 1
            && why[0].contains(
                "materialized view dune.acme.result_base (node 1) was last refreshed 20m"
            ),
        "{}",
        done.log
    );
}
