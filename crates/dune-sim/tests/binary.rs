//! The `dune-sim` binary: prints its URL, serves, exits cleanly on SIGTERM.
#![allow(clippy::unwrap_used)]

use std::io::{BufRead as _, BufReader};
use std::process::{Child, Command, Stdio};

#[test]
fn lists_builtins() {
    let out = Command::new(env!("CARGO_BIN_EXE_dune-sim"))
        .arg("--list")
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let names: Vec<&str> = text.lines().collect();
    assert_eq!(names, dune_sim::Scenario::builtin_names());
}

#[test]
fn rejects_unknown_builtin() {
    let out = Command::new(env!("CARGO_BIN_EXE_dune-sim"))
        .args(["--builtin", "nope"])
        .env("RUST_BACKTRACE", "0")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown built-in scenario"));
}

/// Starts the binary with `args`; returns it and the base URL it printed.
fn spawn_sim<S: AsRef<std::ffi::OsStr>>(args: impl IntoIterator<Item = S>) -> (Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_dune-sim"))
        .args(args)
        .env("RUST_BACKTRACE", "0")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let base = line
        .trim()
        .strip_prefix("dune-sim listening on ")
        .unwrap()
        .to_owned();
    (child, base)
}

#[tokio::test(flavor = "multi_thread")]
async fn serves_until_sigterm() {
    let (mut child, base) = spawn_sim(["--builtin", "single", "--time-scale", "1000"]);
    assert!(base.starts_with("http://127.0.0.1:"), "{base}");
    let r = reqwest::Client::new()
        .post(format!("{base}/api/v1/query/1111/pipeline/execute"))
        .header("X-Dune-Api-Key", "k")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    let pid = child.id().to_string();
    let killed = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(killed.success());
    let status = child.wait().unwrap();
    assert!(status.success(), "{status:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn records_requests_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let record = dir.path().join("requests.jsonl");
    // Real time: the 5 s node is still running when it is cancelled.
    let args = ["--builtin", "single", "--time-scale", "1", "--record"];
    let (mut child, base) = spawn_sim(
        args.map(Into::into)
            .into_iter()
            .chain([record.clone().into_os_string()]),
    );
    let client = reqwest::Client::new();
    let send = |r: reqwest::RequestBuilder| r.header("X-Dune-Api-Key", "k").send();
    let started: serde_json::Value = send(client.post(format!(
        "{base}/api/v1/query/1111/pipeline/execute?api_key=secret"
    )))
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let pipeline = started["pipeline_execution_id"].as_str().unwrap();
    let status_path = format!("/api/v1/pipelines/executions/{pipeline}/status");
    let status: serde_json::Value = send(client.get(format!("{base}{status_path}")))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let exec = status["node_executions"][0]["query_execution_status"]["execution_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let cancel_path = format!("/api/v1/execution/{exec}/cancel");
    let cancel = send(client.post(format!("{base}{cancel_path}")))
        .await
        .unwrap();
    assert_eq!(cancel.status(), 200);
    assert!(!record.exists(), "written only when the simulator stops");

    let pid = child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    assert!(child.wait().unwrap().success());

    let text = std::fs::read_to_string(&record).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let requests: Vec<(&str, &str, u64)> = lines
        .iter()
        .filter(|l| l["type"] == "request")
        .map(|l| {
            (
                l["method"].as_str().unwrap(),
                l["path"].as_str().unwrap(),
                l["status"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        requests,
        [
            ("POST", "/api/v1/query/1111/pipeline/execute", 200),
            ("GET", &*status_path, 200),
            ("POST", &*cancel_path, 200),
        ]
    );
    assert_eq!(lines[0]["query"], "api_key=REDACTED");
    assert!(!text.contains("secret"), "{text}");
    let summary = lines.last().unwrap();
    assert_eq!(summary["type"], "summary");
    assert_eq!(summary["pipelines_started"], 1);
    assert_eq!(summary["cancelled_executions"], serde_json::json!([exec]));
}

#[test]
fn rejects_bad_variant_flags() {
    for args in [
        ["--fault", "pipeline_execute"],
        ["--fault", "nowhere:402"],
        ["--fault", "any:nope"],
        ["--view-names-in-status", "tiny"],
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_dune-sim"))
            .args(args)
            .output()
            .unwrap();
        assert!(!out.status.success(), "{args:?}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn variant_flags() {
    let (mut child, base) = spawn_sim([
        "--builtin",
        "vocab-succeeding",
        "--time-scale",
        "5000",
        "--fault",
        "pipeline_execute:billing_limit",
        "--fault",
        "query_pipeline:forbidden",
        "--both-status-objects",
        "null",
        "--view-names-in-status",
        "short",
        "--max-datapoints-per-request",
        "8",
        "--datapoint-limit-response",
        "error",
        "--partial-results-without-allow",
        "failed_state",
    ]);
    let client = reqwest::Client::new();
    let url = |p: &str| format!("{base}/api/v1{p}");
    let r = client
        .post(url("/query/5550000/pipeline/execute"))
        .header("X-Dune-Api-Key", "k")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 402);
    let body: serde_json::Value = r.json().await.unwrap();
    assert!(body["error"].as_str().unwrap().contains("billing cycle"));
    let r = client
        .get(url("/query/5550000/pipeline"))
        .header("X-Dune-Api-Key", "k")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let started: serde_json::Value = client
        .post(url("/query/5550000/pipeline/execute"))
        .header("X-Dune-Api-Key", "k")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let pid = started["pipeline_execution_id"].as_str().unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    let status = loop {
        let s: serde_json::Value = client
            .get(url(&format!("/pipelines/executions/{pid}/status")))
            .header("X-Dune-Api-Key", "k")
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if s["status"] == "PIPELINE_EXECUTION_STATUS_SUCCEEDED" {
            break s;
        }
        assert!(std::time::Instant::now() < deadline, "{s}");
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    };
    let n0 = &status["node_executions"][0];
    assert_eq!(
        n0["materialized_view_refresh_status"]["name"],
        "mv_daily_volume"
    );
    assert!(n0["query_execution_status"].is_null());
    let exec = status["node_executions"][3]["query_execution_status"]["execution_id"]
        .as_str()
        .unwrap();
    let r = client
        .get(url(&format!("/execution/{exec}/results?limit=5")))
        .header("X-Dune-Api-Key", "k")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400, "5 rows x 4 columns > 8 datapoints");
    let pid = child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    assert!(child.wait().unwrap().success());
}
