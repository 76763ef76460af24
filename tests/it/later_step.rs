//! Outputs a later step builds on (issue 21), read as a later step reads them: from `GITHUB_OUTPUT`.

use crate::common::{ActionRun, keyed};
use dune_sim::{Scenario, Simulator};

const SPEED: f64 = 50.0;

/// MV (5 credits) → query 101 (12.5) → query 3493826 (3).
fn chain() -> Scenario {
    let yaml = format!(
        r#"
time_scale: {SPEED}
epoch: "2026-01-01T00:00:00Z"
queries:
  - query_id: 3493826
    nodes:
      - id: 1
        materialized_view: dune.acme.mv_daily
        duration: 20s
        credits: 5
      - id: 2
        query_id: 101
        dependencies: [1]
        duration: 15s
        credits: 12.5
      - id: 3
        query_id: 3493826
        dependencies: [2]
        duration: 10s
        credits: 3
"#
    );
    keyed(Scenario::from_yaml_or_json(&yaml).expect("scenario"))
}

#[tokio::test(flavor = "multi_thread")]
async fn credits_url_and_duration_seconds() {
    let sim = Simulator::start(chain()).await.expect("simulator");
    let done = ActionRun::against(&sim, SPEED)
        .input("query_id", "3493826")
        .input("result_rows", "0")
        .run()
        .await;
    assert_eq!(done.exit_code, 0, "{}", done.log);
    assert_eq!(done.outputs["credits"], "20.5");
    assert_eq!(done.outputs["credits_unknown_nodes"], "0");
    let parsed: f64 = done.outputs["credits"].parse().expect("a number");
    assert!((parsed - 20.5).abs() < 1e-9);
    assert_eq!(done.outputs["url"], "https://dune.com/queries/3493826");
    // 45 s of virtual time, the nodes one after the other.
    let secs: u64 = done.outputs["duration_seconds"].parse().expect("a number");
    assert!((45..120).contains(&secs), "{secs}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_dry_run_spends_no_credits() {
    let sim = Simulator::start(chain()).await.expect("simulator");
    let done = ActionRun::against(&sim, SPEED)
        .input("query_id", "3493826")
        .input("dry_run", "true")
        .run()
        .await;
    assert_eq!(done.exit_code, 0, "{}", done.log);
    assert_eq!(done.outputs["credits"], "0");
    assert_eq!(done.outputs["credits_unknown_nodes"], "0");
}

#[tokio::test(flavor = "multi_thread")]
async fn results_dir_with_result_rows_0_writes_files_without_previews() {
    let sim = Simulator::start(chain()).await.expect("simulator");
    let ws = tempfile::tempdir().expect("tempdir");
    let mut action = ActionRun::against(&sim, SPEED)
        .input("query_id", "3493826")
        .input("result_rows", "0")
        .input("results_dir", "out")
        .input("results_format", "jsonl");
    action
        .env
        .set("GITHUB_WORKSPACE", ws.path().to_string_lossy().into_owned());
    let done = action.run().await;
    assert_eq!(done.exit_code, 0, "{}", done.log);
    let results = done.json("results");
    let results = results.as_array().expect("array");
    assert_eq!(results.len(), 2, "{results:?}");
    for r in results {
        let path = r["path"].as_str().expect("a file");
        assert!(path.ends_with(".jsonl"), "{path}");
        assert!(ws.path().join(path).is_file(), "{path}");
    }
    assert!(!done.summary.contains("### Results"), "{}", done.summary);
}

/// Inputs that were traps (issue 21), refused before anything is sent, with the words that fix them.
#[tokio::test(flavor = "multi_thread")]
async fn traps_are_refused_before_anything_is_sent() {
    let sim = Simulator::start(chain()).await.expect("simulator");
    for (input, value, fix) in [
        ("results_format", "json", "`jsonl`"),
        ("timeout", "30", "write 30m or 1800s"),
        ("request_timeout", "30", "write 30m or 1800s"),
    ] {
        let done = ActionRun::against(&sim, SPEED)
            .input("query_id", "3493826")
            .input("results_dir", "out")
            .input(input, value)
            .run()
            .await;
        assert_eq!(done.exit_code, 2, "{input}: {}", done.log);
        assert_eq!(done.outputs["status"], "error");
        assert!(done.log.contains(fix), "{input}: {}", done.log);
    }
    assert!(sim.requests().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn wait_false_starts_and_does_not_follow() {
    let sim = Simulator::start(chain()).await.expect("simulator");
    let done = ActionRun::against(&sim, SPEED)
        .input("query_id", "3493826")
        .input("wait", "false")
        .run()
        .await;
    assert_eq!(done.exit_code, 0, "{}", done.log);
    assert_eq!(done.outputs["status"], "started");
    assert_eq!(done.outputs["pipeline_execution_id"].len(), 26);
    assert_eq!(done.outputs["url"], "https://dune.com/queries/3493826");
    assert!(done.summary.contains("not followed"), "{}", done.summary);
    // One start, no status poll after it, no cancel; the post step is told to leave it running.
    let requests = sim.requests();
    assert_eq!(requests.iter().filter(|r| r.method == "POST").count(), 1);
    assert!(
        !requests.iter().any(|r| r.path.contains("/status")),
        "{requests:?}"
    );
    assert_eq!(
        done.state.get("leave_running").map(String::as_str),
        Some("true")
    );
}

/// What a later step sees of a followed pipeline of [`chain`] that completed.
fn assert_followed_to_completion(done: &crate::common::Finished, id: &str) {
    assert_eq!(done.exit_code, 0, "{}", done.log);
    assert_eq!(done.outputs["status"], "completed");
    assert_eq!(done.outputs["pipeline_execution_id"], id);
    assert_eq!(done.outputs["credits"], "20.5");
    assert_eq!(done.outputs["credits_unknown_nodes"], "0");
    assert_eq!(done.outputs["failed_nodes"], "[]");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_pipeline_started_elsewhere_is_followed_without_a_post() {
    let sim = Simulator::start(chain()).await.expect("simulator");
    let (id, before) = started_elsewhere(&sim).await;
    let done = ActionRun::against(&sim, SPEED)
        .input("query_id", "3493826")
        .input("pipeline_execution_id", &id)
        .input("result_rows", "0")
        .run()
        .await;
    assert_followed_to_completion(&done, &id);
    let after: Vec<_> = sim.requests().into_iter().skip(before).collect();
    assert!(
        !after.iter().any(|r| r.method == "POST"),
        "following must not start anything: {after:?}"
    );
    // With `query_id` beside it, the definition gives the report its DAG.
    assert_eq!(
        done.json("nodes")[2]["dependencies"],
        serde_json::json!([2])
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unknown_pipeline_execution_id_is_a_clear_error_and_nothing_else_is_sent() {
    let sim = Simulator::start(chain()).await.expect("simulator");
    let done = ActionRun::against(&sim, SPEED)
        .input("query_id", "3493826")
        .input("pipeline_execution_id", "01AAAAAAAAAAAAAAAAAAAAAAAA")
        .run()
        .await;
    assert_eq!(done.exit_code, 4, "{}", done.log);
    assert_eq!(done.outputs["status"], "error");
    assert!(
        done.log.contains(
            "Dune does not know pipeline execution 01AAAAAAAAAAAAAAAAAAAAAAAA: check the `pipeline_execution_id` input"
        ),
        "{}",
        done.log
    );
    let requests = sim.requests();
    assert!(!requests.iter().any(|r| r.method == "POST"), "{requests:?}");
    // After the status read that said the id is unknown, nothing else went out.
    let last = requests.last().expect("a request");
    assert!(last.path.ends_with("/status"), "{requests:?}");
    assert_eq!(
        requests
            .iter()
            .filter(|r| r.path.contains("/pipelines/executions/"))
            .count(),
        1,
        "{requests:?}"
    );
}

/// Starts [`chain`]'s pipeline with `wait: false` and returns its id and the number of requests so far.
async fn started_elsewhere(sim: &Simulator) -> (String, usize) {
    let started = ActionRun::against(sim, SPEED)
        .input("query_id", "3493826")
        .input("wait", "false")
        .run()
        .await;
    assert_eq!(started.outputs["status"], "started", "{}", started.log);
    (
        started.outputs["pipeline_execution_id"].clone(),
        sim.requests().len(),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn a_pipeline_execution_id_alone_is_followed_from_dunes_answers() {
    let sim = Simulator::start(chain()).await.expect("simulator");
    let (id, before) = started_elsewhere(&sim).await;
    // Only the id and the key: no query_id, no pipeline_file.
    let done = ActionRun::against(&sim, SPEED)
        .input("pipeline_execution_id", &id)
        .run()
        .await;
    assert_followed_to_completion(&done, &id);
    // The nodes come from Dune's status answers.
    let nodes = done.json("nodes");
    let nodes = nodes.as_array().expect("an array");
    assert_eq!(nodes.len(), 3, "{nodes:?}");
    assert_eq!(nodes[0]["kind"], "materialized_view");
    assert_eq!(nodes[2]["query_id"], 3493826);
    assert!(
        nodes.iter().all(|n| n["status"] == "completed"),
        "{nodes:?}"
    );
    // Without a plan the dependencies are unknown, so is the root: no `execution_id`, and `url` has
    // every query node's page.
    assert_eq!(done.outputs["execution_id"], "");
    assert_eq!(
        done.outputs["url"],
        "https://dune.com/queries/101 https://dune.com/queries/3493826"
    );
    assert!(done.summary.contains("completed"), "{}", done.summary);
    // Nothing was started, no definition was asked for.
    let after: Vec<_> = sim.requests().into_iter().skip(before).collect();
    assert!(!after.iter().any(|r| r.method == "POST"), "{after:?}");
    assert!(
        !after.iter().any(|r| r.path.ends_with("/pipeline")),
        "{after:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unknown_pipeline_execution_id_alone_is_one_status_read_and_exit_4() {
    let sim = Simulator::start(chain()).await.expect("simulator");
    let done = ActionRun::against(&sim, SPEED)
        .input("pipeline_execution_id", "01AAAAAAAAAAAAAAAAAAAAAAAA")
        .run()
        .await;
    assert_eq!(done.exit_code, 4, "{}", done.log);
    assert_eq!(done.outputs["status"], "error");
    assert!(
        done.log
            .contains("Dune does not know pipeline execution 01AAAAAAAAAAAAAAAAAAAAAAAA"),
        "{}",
        done.log
    );
    let requests = sim.requests();
    assert_eq!(requests.len(), 1, "{requests:?}");
    assert!(requests[0].path.ends_with("/status"), "{requests:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_pipeline_execution_id_beside_another_query_is_refused_after_one_status_read() {
    let sim = Simulator::start(chain()).await.expect("simulator");
    let (id, before) = started_elsewhere(&sim).await;
    let done = ActionRun::against(&sim, SPEED)
        .input("query_id", "4242")
        .input("pipeline_execution_id", &id)
        .run()
        .await;
    assert_eq!(done.exit_code, 2, "{}", done.log);
    assert_eq!(done.outputs["status"], "error");
    assert!(
        done.log.contains(&format!(
            "pipeline execution {id} is not the pipeline of query 4242: it runs queries 101, 3493826"
        )),
        "{}",
        done.log
    );
    // The definition of query 4242 may be asked for (the plan is read first); after the one status read
    // nothing else: no start, no cancel.
    let after: Vec<_> = sim.requests().into_iter().skip(before).collect();
    assert!(!after.iter().any(|r| r.method == "POST"), "{after:?}");
    assert_eq!(
        after.iter().filter(|r| r.path.ends_with("/status")).count(),
        1,
        "{after:?}"
    );
    assert!(after.last().is_some_and(|r| r.path.ends_with("/status")));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_pipeline_execution_id_cannot_be_combined_with_sync_sql_or_preview() {
    let sim = Simulator::start(chain()).await.expect("simulator");
    let run = ActionRun::against(&sim, SPEED);
    let path = run.workspace().join("p.yml");
    std::fs::write(
        &path,
        "pipeline: {nodes: [{id: 1, query_execution: {query_id: 101}}]}",
    )
    .expect("write");
    let done = run
        .input("pipeline_file", "p.yml")
        .input("pipeline_execution_id", "01AAAAAAAAAAAAAAAAAAAAAAAA")
        .input("preview", "true")
        .run()
        .await;
    assert_eq!(done.exit_code, 2, "{}", done.log);
    assert!(
        done.log.contains("Invalid input `pipeline_execution_id`"),
        "{}",
        done.log
    );
    assert!(sim.requests().is_empty());
}
