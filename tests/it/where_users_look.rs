//! Issue 14: pipeline-file problems as annotations on their line and column (YAML and JSON, syntax errors
//! too), a dry run's nodes `planned`, the timeline in the summary, and both clients behind a proxy.

use std::sync::{Arc, Mutex};

use crate::common::{ActionRun, keyed};
use crate::fake_github::{FakeGitHub, Mode};
use dune_sim::{Scenario, Simulator};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

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

/// A simulator running [`simulator_scenario`].
async fn simulator() -> Simulator {
    Simulator::start(simulator_scenario())
        .await
        .expect("simulator")
}

/// An unknown key, a duplicate id and a dependency on a missing id, in YAML.
const BAD_YAML: &str = include_str!("../fixtures/pipeline-with-problems.yml");

/// The same mistakes in JSON.
const BAD_JSON: &str = include_str!("../fixtures/pipeline-with-problems.json");

#[tokio::test(flavor = "multi_thread")]
async fn file_problems_are_annotated_on_their_line_and_column() {
    let sim = simulator().await;
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
    let sim = simulator().await;
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
async fn at_most_eight_file_annotations_then_how_many_more() {
    let sim = simulator().await;
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
    // Issue 19: GitHub shows 10 errors a step; the step's own error comes after these nine.
    assert_eq!(annotations.len(), 9, "{}", done.log);
    assert!(
        annotations[8]
            .ends_with("::and 6 more problems in this file (the step's error lists them)")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_dry_run_plans_every_node() {
    let sim = simulator().await;
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

/// Each forwarded request and the `Proxy-Authorization` it came with.
type Seen = Arc<Mutex<Vec<(String, Option<String>)>>>;

/// A plain-HTTP forward proxy on loopback that forwards absolute-URI requests (one per connection) and
/// records each one as `METHOD absolute-uri`, with the `Proxy-Authorization` it was sent.
struct ForwardProxy {
    url: String,
    seen: Seen,
}

impl ForwardProxy {
    async fn start() -> ForwardProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let seen: Seen = Arc::default();
        let log = seen.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                tokio::spawn(forward(client, log.clone()));
            }
        });
        ForwardProxy { url, seen }
    }

    /// The requests forwarded so far.
    fn requests(&self) -> Vec<String> {
        self.seen
            .lock()
            .expect("lock")
            .iter()
            .map(|(r, _)| r.clone())
            .collect()
    }

    fn authorizations(&self) -> Vec<Option<String>> {
        self.seen
            .lock()
            .expect("lock")
            .iter()
            .map(|(_, a)| a.clone())
            .collect()
    }
}

async fn forward(mut client: TcpStream, seen: Seen) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        match client.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let request_line = lines.next().unwrap_or_default().to_string();
    let parts: Vec<&str> = request_line.split(' ').collect();
    let Some(uri) = parts
        .get(1)
        .and_then(|u| u.parse::<http::Uri>().ok())
        .filter(|u| u.scheme_str() == Some("http"))
    else {
        let _ = client
            .write_all(
                b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
            )
            .await;
        return;
    };
    let mut auth = None;
    let mut out = format!(
        "{} {} {}\r\n",
        parts[0],
        uri.path_and_query().map_or("/", |p| p.as_str()),
        parts.get(2).unwrap_or(&"HTTP/1.1")
    );
    for line in lines.filter(|l| !l.is_empty()) {
        let lower = line.to_ascii_lowercase();
        if lower.starts_with("proxy-authorization:") {
            auth = line.split_once(':').map(|(_, v)| v.trim().to_string());
            continue;
        }
        if lower.starts_with("connection:") || lower.starts_with("proxy-connection:") {
            continue;
        }
        out.push_str(line);
        out.push_str("\r\n");
    }
    out.push_str("connection: close\r\n\r\n");
    seen.lock()
        .expect("lock")
        .push((format!("{} {uri}", parts[0]), auth));
    let authority = uri.authority().map(|a| a.to_string()).unwrap_or_default();
    let Ok(mut upstream) = TcpStream::connect(authority).await else {
        return;
    };
    if upstream.write_all(out.as_bytes()).await.is_err()
        || upstream.write_all(&buf[head_end..]).await.is_err()
    {
        return;
    }
    let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
}

const TOKEN: &str = "ghs_FakeToken0123456789abcdef";

/// A run that writes a PR comment and a check run to `gh`, with the pipeline of [`simulator_scenario`].
fn github_run(sim: &Simulator, gh: &FakeGitHub) -> ActionRun {
    let mut run = ActionRun::against(sim, SPEED)
        .input("query_id", "7")
        .input("github_token", TOKEN)
        .input("pr_comment", "true")
        .input("check_run", "true");
    let payload = serde_json::json!({
        "action": "synchronize",
        "number": 7,
        "pull_request": {"number": 7, "head": {"sha": "0123456789abcdef0123456789abcdef01234567"}}
    });
    let path = run.workspace().join("event.json");
    std::fs::write(&path, payload.to_string()).expect("event payload");
    for (k, v) in [
        ("GITHUB_EVENT_NAME", "pull_request"),
        ("GITHUB_EVENT_PATH", path.to_str().expect("utf-8")),
        ("GITHUB_API_URL", gh.api_url()),
        ("GITHUB_SERVER_URL", "https://github.com"),
        ("GITHUB_REPOSITORY", "octo-org/data-models"),
        ("GITHUB_RUN_ID", "4242"),
        ("GITHUB_SHA", "fedcba9876543210fedcba9876543210fedcba98"),
        ("RUNNER_DEBUG", "1"),
    ] {
        run.env.set(k, v);
    }
    run
}

#[tokio::test(flavor = "multi_thread")]
async fn both_clients_go_through_the_proxy_and_no_proxy_goes_direct() {
    let gh = FakeGitHub::start(TOKEN, "/api/v3", Mode::Normal).await;
    let proxy = ForwardProxy::start().await;
    let sim = simulator().await;
    let proxy_port = proxy.url.rsplit(':').next().expect("port").to_string();
    let with_credentials = proxy.url.replace("http://", "http://alice:pr0xy-secret@");

    // Lower-case http_proxy, with credentials: every request of both clients goes through the proxy.
    let mut run = github_run(&sim, &gh);
    run.env.set("http_proxy", &with_credentials);
    let done = run.run().await;
    assert_eq!(done.exit_code, 0, "{}", done.log);
    assert_eq!(gh.count("POST", "/issues/7/comments"), 1, "{}", done.log);
    assert_eq!(gh.check_runs().len(), 1, "{}", done.log);
    let forwarded = proxy.requests();
    // REST under /api/v3, and GraphQL beside it (the token's identity, for the comment).
    let to_github: Vec<&String> = forwarded
        .iter()
        .filter(|r| r.contains("/api/v3/") || r.contains("/api/graphql"))
        .collect();
    assert_eq!(to_github.len(), gh.requests().len(), "{forwarded:#?}");
    assert!(
        to_github
            .iter()
            .any(|r| r.starts_with("POST ") && r.ends_with("/issues/7/comments"))
    );
    assert!(
        to_github
            .iter()
            .any(|r| r.starts_with("POST ") && r.ends_with("/check-runs"))
    );
    let to_dune = forwarded.iter().filter(|r| r.contains("/api/v1/")).count();
    assert_eq!(to_dune, sim.requests().len(), "{forwarded:#?}");
    assert!(to_dune >= 3);
    // The proxy's credentials went to the proxy, and nowhere into the log.
    assert!(
        proxy
            .authorizations()
            .iter()
            .all(|a| a.as_deref() == Some("Basic YWxpY2U6cHIweHktc2VjcmV0"))
    );
    assert!(!done.everything().contains("pr0xy-secret"));
    let debug = format!("through proxy http://127.0.0.1:{proxy_port} (HTTP_PROXY)");
    assert!(
        done.log
            .lines()
            .any(|l| l.starts_with("::debug::Dune API") && l.ends_with(&debug)),
        "{}",
        done.log
    );
    assert!(
        done.log
            .lines()
            .any(|l| l.starts_with("::debug::GitHub API") && l.ends_with(&debug)),
        "{}",
        done.log
    );

    // NO_PROXY (upper case) covering the host: both go direct, the proxy sees nothing more.
    let before = proxy.requests().len();
    let github_before = gh.requests().len();
    let mut run = github_run(&sim, &gh);
    run.env.set("HTTP_PROXY", &proxy.url);
    run.env.set("NO_PROXY", "localhost,127.0.0.1");
    let done = run.run().await;
    assert_eq!(done.exit_code, 0, "{}", done.log);
    assert_eq!(proxy.requests().len(), before, "{:#?}", proxy.requests());
    assert!(gh.requests().len() > github_before);
    assert_eq!(gh.check_runs().len(), 2);
    assert!(
        done.log.contains("::debug::GitHub API")
            && done.log.contains("direct (NO_PROXY covers 127.0.0.1)"),
        "{}",
        done.log
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unusable_proxy_is_reported_without_its_value() {
    let sim = simulator().await;
    let mut run = ActionRun::against(&sim, SPEED).input("query_id", "7");
    run.env.set("HTTP_PROXY", "http://");
    let done = run.run().await;
    assert_eq!(done.exit_code, 4, "{}", done.log);
    assert!(
        done.log.contains("HTTP_PROXY is not a usable proxy URL"),
        "{}",
        done.log
    );
    assert_eq!(sim.requests().len(), 0);
}

/// 1 → {2, 3} → 4, where node 2 is the slow branch.
fn diamond() -> Scenario {
    keyed(
        Scenario::from_yaml_or_json(&format!(
            r#"
time_scale: {SPEED}
epoch: "2026-01-01T00:00:00Z"
queries:
  - query_id: 400
    nodes:
      - {{id: 1, materialized_view: dune.acme.mv_base, dependencies: [], duration: 10s}}
      - {{id: 2, query_id: 200, dependencies: [1], duration: 30s}}
      - {{id: 3, query_id: 300, dependencies: [1], duration: 10s}}
      - {{id: 4, query_id: 400, dependencies: [2, 3], duration: 5s}}
"#
        ))
        .expect("scenario"),
    )
}

/// The ```mermaid block that holds a gantt chart.
fn gantt_block(summary: &str) -> &str {
    let start = summary.find("```mermaid\ngantt\n").expect("a gantt block") + "```mermaid\n".len();
    let end = summary[start..].find("```").expect("closed") + start;
    &summary[start..end]
}

#[tokio::test(flavor = "multi_thread")]
async fn the_timeline_of_a_diamond_names_its_critical_path() {
    let sim = Simulator::start(diamond()).await.expect("simulator");
    let done = ActionRun::against(&sim, SPEED)
        .input("query_id", "400")
        .run()
        .await;
    assert_eq!(done.exit_code, 0, "{}", done.log);
    let chart = gantt_block(&done.summary);
    test_support::gantt_subset::check(chart).unwrap_or_else(|e| panic!("{e}\n{chart}"));
    let bars: Vec<&str> = chart.lines().skip(5).collect();
    assert_eq!(bars.len(), 4, "{chart}");
    assert!(
        bars[0].starts_with("  1 view dune.acme.mv_base completed :done, n1, 2000-01-01 00:00:00,")
    );
    assert!(
        bars.iter()
            .any(|b| b.starts_with("  2 query 200 completed :done, n2, "))
    );
    assert!(bars[3].starts_with("  4 query 400 completed :done, n4, "));
    assert!(
        done.summary.contains("Critical path 1 → 2 → 4: 45s of "),
        "{}",
        done.summary
    );
    assert!(
        done.summary
            .contains("Waited longest for its inputs: node 4, 40s until node 2 ended"),
        "{}",
        done.summary
    );
    // The timeline follows the DAG and precedes the node table.
    let at = |s: &str| done.summary.find(s).expect(s);
    assert!(at("```mermaid\nflowchart") < at("### Timeline"));
    assert!(at("### Timeline") < at("### Nodes"));
}

#[tokio::test(flavor = "multi_thread")]
async fn no_timeline_above_200_nodes() {
    let mut yaml = format!(
        "time_scale: {SPEED}\nepoch: \"2026-01-01T00:00:00Z\"\nqueries:\n  - query_id: 9000\n    nodes:\n"
    );
    for i in 1..=201 {
        let query = if i == 201 { 9000 } else { 8000 + i };
        yaml.push_str(&format!(
            "      - {{id: {i}, query_id: {query}, dependencies: [], duration: 1s}}\n"
        ));
    }
    let sim = Simulator::start(keyed(Scenario::from_yaml_or_json(&yaml).expect("scenario")))
        .await
        .expect("simulator");
    let done = ActionRun::against(&sim, SPEED)
        .input("query_id", "9000")
        .run()
        .await;
    assert_eq!(done.exit_code, 0, "{}", done.log);
    assert!(!done.summary.contains("gantt"), "{}", done.summary);
    assert!(!done.summary.contains("### Timeline"));
}
