//! Node results end to end: previews in the summary, full results streamed to files (CSV and JSON Lines)
//! across several pages, partial results, and a page that fails mid-download.

use crate::common::{ActionRun, in_workspace, keyed, snapshot_settings};
use dune_sim::{Scenario, Simulator};
use serde_json::{Value, json};

const SPEED: f64 = 50.0;

/// MV → query 101 → query 3493826, with `rows` rows per query and pages of at most `page` rows.
fn scenario(rows: u64, page: u64, extra: &str) -> Scenario {
    let yaml = format!(
        r#"
time_scale: {SPEED}
epoch: "2026-01-01T00:00:00Z"
max_page_rows: {page}
queries:
  - query_id: 3493826
    nodes:
      - id: 1
        materialized_view: dune.acme.mv_daily
        duration: 5s
      - id: 2
        query_id: 101
        dependencies: [1]
        duration: 5s
        rows: {rows}
      - id: 3
        query_id: 3493826
        dependencies: [2]
        duration: 5s
        rows: {rows}
        {extra}
"#
    );
    keyed(Scenario::from_yaml_or_json(&yaml).expect("scenario"))
}

fn run(sim: &Simulator) -> ActionRun {
    ActionRun::against(sim, SPEED).input("query_id", "3493826")
}

fn result_requests(sim: &Simulator) -> Vec<dune_sim::RecordedRequest> {
    sim.requests()
        .into_iter()
        .filter(|r| r.path.contains("/results"))
        .collect()
}

fn q(r: &dune_sim::RecordedRequest) -> String {
    r.query.clone().unwrap_or_default()
}

fn read(path: &std::path::Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[tokio::test(flavor = "multi_thread")]
async fn previews_in_the_summary() {
    let sim = Simulator::start(scenario(1440, 30_000, ""))
        .await
        .expect("simulator");
    // Every query node (the default previews only the sinks: here node 3).
    let done = run(&sim)
        .input("result_rows", "3")
        .input("result_nodes", "all")
        .run()
        .await;
    assert_eq!(done.exit_code, 0, "{}", done.log);
    // The preview asks only for the rows it shows, once per query node; no file without results_dir.
    let reqs = result_requests(&sim);
    assert_eq!(reqs.len(), 2, "{reqs:?}");
    assert!(reqs.iter().all(|r| q(r).contains("limit=3")), "{reqs:?}");
    assert!(reqs.iter().all(|r| !r.path.ends_with("/csv")));
    let results = done.json("results");
    let nodes = done.json("nodes");
    assert_eq!(
        results,
        json!([
            {"node_id": 2, "query_id": 101, "execution_id": nodes[1]["execution_id"], "path": null,
             "rows": 1440, "bytes": results[0]["bytes"], "partial": false, "error": null},
            {"node_id": 3, "query_id": 3493826, "execution_id": nodes[2]["execution_id"], "path": null,
             "rows": 1440, "bytes": results[1]["bytes"], "partial": false, "error": null},
        ])
    );
    assert!(results[0]["bytes"].as_u64().is_some_and(|b| b > 0));
    let mut settings = snapshot_settings();
    // Generated values depend on the (random) execution id.
    settings.add_filter(r"\| \d+\.\d+ \| \d+ \|", "| [VOLUME] | [TX] |");
    settings.bind(|| insta::assert_snapshot!("summary_with_previews", done.summary));
}

#[tokio::test(flavor = "multi_thread")]
async fn csv_files_across_pages_have_every_row() {
    let sim = Simulator::start(scenario(2500, 1000, ""))
        .await
        .expect("simulator");
    let (action, ws) = in_workspace(run(&sim).input("results_dir", "out/./data/"));
    let done = action.run().await;
    assert_eq!(done.exit_code, 0, "{}", done.log);
    let results = done.json("results");
    let nodes = done.json("nodes");
    for (i, r) in results.as_array().expect("array").iter().enumerate() {
        let exec = r["execution_id"].as_str().expect("exec");
        let query = r["query_id"].as_i64().expect("query");
        let path = format!("out/data/query-{query}-{exec}.csv");
        assert_eq!(r["path"], json!(path), "{r}");
        let text = read(&ws.path().join(&path));
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2501, "node {i}: header + every row");
        assert_eq!(lines[0], "day,chain,volume,tx_count");
        assert_eq!(lines.iter().filter(|l| l.starts_with("day,")).count(), 1);
        assert_eq!(r["rows"], 2500);
        assert_eq!(r["bytes"], text.len());
    }
    // Pages followed through x-dune-next-uri: offsets 0, 1000, 2000 for each node (the two nodes'
    // downloads may overlap).
    let csv: Vec<dune_sim::RecordedRequest> = result_requests(&sim)
        .into_iter()
        .filter(|r| r.path.ends_with("/csv"))
        .collect();
    assert_eq!(csv.len(), 6, "{csv:?}");
    for node in [&nodes[1], &nodes[2]] {
        let exec = node["execution_id"].as_str().expect("execution id");
        let offsets: Vec<String> = csv
            .iter()
            .filter(|r| r.path.contains(exec))
            .map(q)
            .collect();
        assert_eq!(offsets.len(), 3, "{offsets:?}");
        for (q, offset) in offsets.iter().zip([0, 1000, 2000]) {
            assert!(q.contains(&format!("offset={offset}")), "{q}");
        }
    }
    assert!(
        std::fs::read_dir(ws.path().join("out/data"))
            .expect("dir")
            .all(|e| !e
                .expect("entry")
                .path()
                .to_string_lossy()
                .ends_with(".part"))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn json_lines_files_across_pages_have_every_row() {
    let sim = Simulator::start(scenario(2345, 1000, ""))
        .await
        .expect("simulator");
    let (action, ws) = in_workspace(
        run(&sim)
            .input("results_dir", "results")
            .input("results_format", "jsonl"),
    );
    let done = action.run().await;
    assert_eq!(done.exit_code, 0, "{}", done.log);
    let results = done.json("results");
    let first = &results[0];
    let path = first["path"].as_str().expect("path");
    assert!(path.ends_with(".jsonl") && path.starts_with("results/query-101-"));
    let text = read(&ws.path().join(path));
    let rows: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect();
    assert_eq!(rows.len(), 2345);
    assert_eq!(first["rows"], 2345);
    let keys: Vec<&String> = rows[2344].as_object().expect("object").keys().collect();
    assert_eq!(keys, ["day", "chain", "volume", "tx_count"]);
    // The last page is the short one: 1000 + 1000 + 345, following next_uri.
    let json_pages: Vec<String> = result_requests(&sim)
        .into_iter()
        .filter(|r| !q(r).contains("limit=10&"))
        .map(|r| q(&r))
        .collect();
    assert_eq!(json_pages.len(), 6, "{json_pages:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn zero_result_rows_makes_no_result_request() {
    let sim = Simulator::start(scenario(100, 1000, ""))
        .await
        .expect("simulator");
    let done = run(&sim).input("result_rows", "0").run().await;
    assert_eq!(done.exit_code, 0, "{}", done.log);
    assert!(result_requests(&sim).is_empty());
    assert_eq!(done.json("results"), json!([]));
    assert!(!done.summary.contains("### Results"));
}

#[tokio::test(flavor = "multi_thread")]
async fn partial_results_are_fetched_marked_and_warned_about() {
    let sim = Simulator::start(scenario(1500, 1000, "outcome: completed_partial"))
        .await
        .expect("simulator");
    let (action, ws) = in_workspace(run(&sim).input("results_dir", "out"));
    let done = action.run().await;
    assert_eq!(done.exit_code, 0, "{}", done.log);
    let results = done.json("results");
    assert_eq!(results[0]["partial"], false);
    assert_eq!(results[1]["partial"], true);
    assert_eq!(results[1]["rows"], 1500);
    let text = read(&ws.path().join(results[1]["path"].as_str().expect("path")));
    assert_eq!(text.lines().count(), 1501);
    let exec = results[1]["execution_id"].as_str().expect("exec");
    let partial_reqs: Vec<_> = result_requests(&sim)
        .into_iter()
        .filter(|r| r.path.contains(exec))
        .collect();
    assert_eq!(partial_reqs.len(), 3, "preview + 2 pages: {partial_reqs:?}");
    assert!(
        partial_reqs
            .iter()
            .all(|r| q(r).contains("allow_partial_results=true") && r.status == 200),
        "{partial_reqs:?}"
    );
    assert!(
        done.log
            .contains("::warning title=Partial result of node 3 (query 3493826)::Dune truncated"),
        "{}",
        done.log
    );
    assert!(done.summary.contains("**Partial result**"));
}

/// How many times the action tries a read before it gives up.
fn read_attempts() -> usize {
    use dune_api::{Error, RequestKind, retry};
    let dropped = Error::Dropped {
        endpoint: String::new(),
        detail: String::new(),
    };
    retry::max_attempts(RequestKind::Read, &dropped) as usize
}

fn dropped_pages(node: u64, after: usize) -> String {
    // After `after` CSV pages of `node`, its next page breaks on every attempt (the other node's
    // downloads, which may overlap, pass).
    format!(
        "faults:\n  - endpoint: execution_results_csv\n    node: {node}\n    after: {after}\n    responses: [{}]",
        vec!["{drop_mid_body: true}"; read_attempts()].join(", ")
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn a_page_failing_mid_download_fails_that_node_only() {
    let mut s = scenario(2500, 1000, "");
    s.faults = Scenario::from_yaml_or_json(&dropped_pages(3, 1))
        .expect("faults")
        .faults;
    let sim = Simulator::start(s).await.expect("simulator");
    let (action, ws) = in_workspace(run(&sim).input("results_dir", "out"));
    let done = action.run().await;
    // The pipeline completed: its status says so; the results' failure has an exit code of its own.
    assert_eq!(done.exit_code, 5, "{}", done.log);
    assert_eq!(done.outputs["status"], "completed");
    // The pipeline's outputs are all there.
    assert_eq!(done.json("failed_nodes"), json!([]));
    assert_eq!(done.json("nodes").as_array().map(Vec::len), Some(3));
    let results = done.json("results");
    // The first node's file is kept, whole.
    let kept = results[0]["path"].as_str().expect("path");
    assert_eq!(read(&ws.path().join(kept)).lines().count(), 2501);
    // The second has no file, not even a partial one, and says why.
    assert_eq!(results[1]["path"], Value::Null);
    assert!(
        results[1]["error"]
            .as_str()
            .is_some_and(|e| e.contains(&format!("gave up after {} attempts", read_attempts()))),
        "{results}"
    );
    let files: Vec<_> = std::fs::read_dir(ws.path().join("out"))
        .expect("dir")
        .map(|e| e.expect("entry").file_name())
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    assert!(
        done.log
            .contains("::error title=Results of node 3 (query 3493826) could not be downloaded::"),
        "{}",
        done.log
    );
    assert!(
        done.log
            .contains("::error title=Dune results download failed::The pipeline completed"),
        "{}",
        done.log
    );
    assert!(done.summary.contains("❌"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_download_keeps_a_failed_pipeline_exit_code() {
    let mut s = scenario(2500, 1000, "outcome: failed");
    s.faults = Scenario::from_yaml_or_json(&dropped_pages(2, 1))
        .expect("faults")
        .faults;
    let sim = Simulator::start(s).await.expect("simulator");
    let done = run(&sim).input("results_dir", "out").run().await;
    assert_eq!(done.exit_code, 1, "{}", done.log);
    assert_eq!(done.outputs["status"], "failed");
    let results = done.json("results");
    assert_eq!(results.as_array().map(Vec::len), Some(1), "{results}");
    assert!(results[0]["error"].is_string());
    assert!(
        done.log
            .contains("::error title=Results of node 2 (query 101) could not be downloaded::")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn results_dir_must_stay_in_the_workspace() {
    let sim = Simulator::start(scenario(10, 1000, ""))
        .await
        .expect("simulator");
    for bad in ["../elsewhere", "/tmp/out"] {
        let done = run(&sim).input("results_dir", bad).run().await;
        assert_eq!(done.exit_code, 2, "{}", done.log);
        assert!(
            done.log
                .contains("::error title=Invalid input `results_dir`::"),
            "{}",
            done.log
        );
    }
    assert!(sim.requests().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn an_oversized_page_is_asked_for_again_with_fewer_rows() {
    let mut s = scenario(2500, 30_000, "");
    s.faults = Scenario::from_yaml_or_json(
        "faults:\n  - endpoint: execution_results_csv\n    node: 2\n    responses: [{oversized: 30000000}]",
    )
    .expect("faults")
    .faults;
    let sim = Simulator::start(s).await.expect("simulator");
    let (action, ws) = in_workspace(run(&sim).input("results_dir", "out"));
    let done = action.run().await;
    assert_eq!(done.exit_code, 0, "{}", done.log);
    let first = done.json("results")[0].clone();
    assert_eq!(
        read(&ws.path().join(first["path"].as_str().expect("path")))
            .lines()
            .count(),
        2501
    );
    let exec = first["execution_id"].as_str().expect("execution id");
    let limits: Vec<u64> = result_requests(&sim)
        .iter()
        .filter(|r| r.path.ends_with("/csv") && r.path.contains(exec))
        .take(2)
        .map(|r| {
            q(r).split('&')
                .find_map(|kv| kv.strip_prefix("limit="))
                .and_then(|v| v.parse().ok())
                .expect("limit")
        })
        .collect();
    assert_eq!(limits.len(), 2);
    assert_eq!(limits[1], limits[0] / 2, "{limits:?}");
}
