//! The fault matrix: one test per row of the table in docs/reliability.md ("The fault matrix"). Each injects one fault
//! with the simulator (or a closed port, a raw socket, a signal) and checks what the action does and what
//! the user sees.

use std::io::{Read as _, Write as _};
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::common::{
    ActionRun, Finished, KEY, keyed, long_running, outside_code_blocks, unescaped_pipes,
};
use dune_sim::{Fault, FaultEndpoint, FaultResponse, RecordedRequest, Scenario, Simulator};

const SPEED: f64 = 50.0;
const ROOT: &str = "500";

/// Two chained queries, 10 s each.
fn two_nodes(speed: f64) -> Scenario {
    keyed(
        Scenario::from_yaml_or_json(&format!(
            r#"
time_scale: {speed}
queries:
  - query_id: 500
    nodes:
      - {{id: 1, query_id: 501, duration: 10s}}
      - {{id: 2, query_id: 500, dependencies: [1], duration: 10s}}
"#
        ))
        .expect("scenario"),
    )
}

fn with(mut s: Scenario, faults: impl IntoIterator<Item = Fault>) -> Scenario {
    s.faults.extend(faults);
    s
}

async fn sim(s: Scenario) -> Simulator {
    Simulator::start(s).await.expect("simulator")
}

fn action(sim: &Simulator) -> ActionRun {
    debug(ActionRun::against(sim, SPEED).input("query_id", ROOT))
}

/// Turns on `RUNNER_DEBUG` (every retry is logged).
fn debug(mut run: ActionRun) -> ActionRun {
    run.env.set("RUNNER_DEBUG", "1");
    run
}

fn is_start(r: &RecordedRequest) -> bool {
    r.method == "POST" && r.path.ends_with("/pipeline/execute")
}

fn is_status(r: &RecordedRequest) -> bool {
    r.path.starts_with("/api/v1/pipelines/executions/")
}

fn is_cancel(r: &RecordedRequest) -> bool {
    r.path.ends_with("/cancel")
}

fn count(sim: &Simulator, f: fn(&RecordedRequest) -> bool) -> usize {
    sim.requests().iter().filter(|r| f(r)).count()
}

fn assert_completed(done: &Finished, sim: &Simulator) {
    assert_eq!(done.exit_code, 0, "{}", done.log);
    assert_eq!(done.outputs["status"], "completed");
    assert_eq!(sim.pipelines_started(), 1, "exactly one pipeline");
    assert_eq!(count(sim, is_start), 1, "exactly one start request");
    let nodes = done.json("nodes");
    assert!(
        nodes
            .as_array()
            .is_some_and(|a| a.len() == 2 && a.iter().all(|n| n["status"] == "completed")),
        "{nodes}"
    );
}

/// The `::error::` line of the run (there is exactly one on a failure).
fn error_line(done: &Finished) -> String {
    let errors: Vec<&str> = done
        .log
        .lines()
        .filter(|l| l.starts_with("::error"))
        .collect();
    assert_eq!(errors.len(), 1, "{}", done.log);
    errors[0].to_string()
}

// ── Starting the pipeline ──────────────────────────────────────────────────────────────────────────────

#[tokio::test(flavor = "multi_thread")]
async fn start_429_then_success_starts_exactly_one_pipeline() {
    let sim = sim(with(
        two_nodes(SPEED),
        [Fault::new(
            FaultEndpoint::PipelineExecute,
            [FaultResponse::rate_limited("1")],
        )],
    ))
    .await;
    let done = action(&sim).run().await;
    assert_eq!(done.exit_code, 0, "{}", done.log);
    assert_eq!(sim.pipelines_started(), 1);
    let starts: Vec<u16> = sim
        .requests()
        .iter()
        .filter(|r| is_start(r))
        .map(|r| r.status)
        .collect();
    assert_eq!(starts, [429, 200]);
}

async fn assert_start_not_retried(fault: FaultResponse, configure: fn(ActionRun) -> ActionRun) {
    let sim = sim(with(
        two_nodes(SPEED),
        [Fault::new(FaultEndpoint::PipelineExecute, [fault])],
    ))
    .await;
    let done = configure(action(&sim)).run().await;
    assert_eq!(done.exit_code, 4, "{}", done.log);
    assert_eq!(count(&sim, is_start), 1, "the start is never repeated");
    assert_eq!(done.outputs["status"], "error");
    assert_eq!(done.outputs["pipeline_execution_id"], "");
    let error = error_line(&done);
    assert!(
        error.contains("may have started a pipeline anyway")
            && error.contains("https://dune.com/queries/500"),
        "{error}"
    );
    assert!(done.summary.contains("may have started a pipeline anyway"));
}

#[tokio::test(flavor = "multi_thread")]
async fn start_502_is_not_retried_and_exits_4() {
    // `applied`: Dune did start the pipeline; only the response was lost.
    assert_start_not_retried(FaultResponse::status(502).applied(), |r| r).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn start_response_dropped_is_not_retried() {
    assert_start_not_retried(FaultResponse::drop_connection().applied(), |r| r).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn start_without_response_within_request_timeout_is_not_retried() {
    // NOTE: `request_timeout` is real time (1 s here); the simulator's delay is virtual (4 s real).
    assert_start_not_retried(
        FaultResponse::delay(Duration::from_secs_f64(4.0 * SPEED)),
        |r| r.input("request_timeout", "1s"),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn start_garbage_200_is_not_retried() {
    assert_start_not_retried(FaultResponse::garbage().applied(), |r| r).await;
}

fn closed_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr").port()
}

#[tokio::test(flavor = "multi_thread")]
async fn start_on_a_connection_never_established_is_retried() {
    // The API is unreachable at first (nothing listens on the port), then comes up.
    let speed = 4.0;
    let port = closed_port();
    let running = debug(
        ActionRun::new(&format!("http://127.0.0.1:{port}"), speed)
            .input("query_id", ROOT)
            .input("timeout", "5m"),
    )
    .start();
    running
        .wait_for_log("attempt 1 failed", Duration::from_secs(20))
        .await;
    let scenario =
        keyed(Scenario::single_query(500, Duration::from_secs(1))).with_time_scale(speed);
    let sim = Simulator::start_on(scenario, ([127, 0, 0, 1], port).into())
        .await
        .expect("simulator on the reserved port");
    let done = running.finish().await;
    assert_eq!(done.exit_code, 0, "{}", done.log);
    assert!(done.log.contains("could not connect"), "{}", done.log);
    assert_eq!(sim.pipelines_started(), 1);
    assert_eq!(count(&sim, is_start), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn api_unreachable_gives_up_after_4_attempts() {
    let done = debug(
        ActionRun::new(&format!("http://127.0.0.1:{}", closed_port()), SPEED)
            .input("query_id", ROOT),
    )
    .run()
    .await;
    assert_eq!(done.exit_code, 4, "{}", done.log);
    let error = error_line(&done);
    assert!(error.contains("gave up after 4 attempts"), "{error}");
    assert!(error.contains("could not connect"), "{error}");
    assert!(error.contains("Check `api_url`"), "{error}");
    // Nothing can have started: no warning about a duplicate.
    assert!(!error.contains("may have started"), "{error}");
}

#[tokio::test(flavor = "multi_thread")]
async fn stop_while_waiting_to_retry_the_start() {
    let sim = sim(with(
        two_nodes(SPEED),
        [Fault::new(
            FaultEndpoint::PipelineExecute,
            [FaultResponse::rate_limited("120")],
        )],
    ))
    .await;
    let running = action(&sim).start();
    running
        .wait_for_log("attempt 1 failed", Duration::from_secs(20))
        .await;
    running.stop.send(true).expect("stop");
    let done = running.finish().await;
    assert_eq!(done.exit_code, 1, "{}", done.log);
    assert_eq!(done.outputs["status"], "cancelled");
    assert!(
        error_line(&done).contains("before the pipeline started"),
        "{}",
        done.log
    );
    assert_eq!(sim.pipelines_started(), 0);
}

// ── Polling ────────────────────────────────────────────────────────────────────────────────────────────

/// The status endpoint misbehaves twice in a row after the first poll; the run must still succeed.
async fn assert_polling_rides_out(fault: FaultResponse, logged: &str) {
    let sim = sim(with(
        two_nodes(SPEED),
        [Fault::new(FaultEndpoint::PipelineStatus, [fault.clone(), fault]).after(1)],
    ))
    .await;
    let done = action(&sim).run().await;
    assert_completed(&done, &sim);
    assert!(
        done.log.contains(logged),
        "expected {logged:?} in the log:\n{}",
        done.log
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn polling_503() {
    assert_polling_rides_out(FaultResponse::status(503), "HTTP 503").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn polling_429() {
    assert_polling_rides_out(FaultResponse::status(429), "HTTP 429").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn polling_500() {
    assert_polling_rides_out(FaultResponse::status(500), "HTTP 500").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn polling_502_html_page() {
    let page = FaultResponse {
        body: Some("<html><body><h1>502 Bad Gateway</h1></body></html>".into()),
        content_type: Some("text/html".into()),
        ..FaultResponse::status(502)
    };
    assert_polling_rides_out(page, "HTTP 502: text/html body: <html>").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn polling_504() {
    assert_polling_rides_out(FaultResponse::status(504), "HTTP 504").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn polling_connection_dropped() {
    assert_polling_rides_out(
        FaultResponse::drop_connection(),
        "the connection was dropped",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn polling_connection_dropped_mid_body() {
    assert_polling_rides_out(FaultResponse::drop_mid_body(), "the connection was dropped").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn polling_garbage_body() {
    assert_polling_rides_out(FaultResponse::garbage(), "not JSON").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn polling_wrong_content_type_extra_and_missing_fields() {
    // JSON is JSON whatever the content type; unknown fields, junk nodes and unknown status strings are
    // tolerated (the next poll sets things right).
    let odd = FaultResponse {
        body: Some(
            r#"{"status": "executing", "surprise": {"x": [1]}, "node_executions": [{"id": 1, "query_execution_status": {"status": "QUERY_STATE_WOBBLING"}}, "junk", 7, null]}"#
                .into(),
        ),
        content_type: Some("text/plain".into()),
        ..FaultResponse::status(200)
    };
    assert_polling_rides_out(odd, "unrecognised status \"QUERY_STATE_WOBBLING\"").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn polling_slow_drip_beyond_request_timeout() {
    // NOTE: `request_timeout` is real time (1 s); the drip lasts 3 s of real time.
    let sim = sim(with(
        two_nodes(SPEED),
        [Fault::new(
            FaultEndpoint::PipelineStatus,
            [FaultResponse::slow_drip(Duration::from_secs_f64(
                3.0 * SPEED,
            ))],
        )
        .after(1)],
    ))
    .await;
    let done = action(&sim).input("request_timeout", "1s").run().await;
    assert_completed(&done, &sim);
    assert!(done.log.contains("no response within 1s"), "{}", done.log);
}

#[tokio::test(flavor = "multi_thread")]
async fn retry_after_2_is_waited_for() {
    let sim = sim(with(
        two_nodes(SPEED),
        [Fault::new(
            FaultEndpoint::PipelineStatus,
            [FaultResponse::rate_limited("2")],
        )
        .after(1)],
    ))
    .await;
    let done = action(&sim).run().await;
    assert_completed(&done, &sim);
    let status: Vec<RecordedRequest> = sim.requests().into_iter().filter(is_status).collect();
    let limited = status
        .iter()
        .position(|r| r.status == 429)
        .expect("a 429 was sent");
    let gap = status[limited + 1].at - status[limited].at;
    // Without Retry-After the first back-off is at most 1 s.
    assert!(gap >= Duration::from_secs(2), "retried after {gap:?}");
    assert!(done.log.contains("retrying in 2.0s"), "{}", done.log);
}

#[tokio::test(flavor = "multi_thread")]
async fn status_404_right_after_the_start_is_retried() {
    assert_polling_rides_out_fresh_404().await;
}

async fn assert_polling_rides_out_fresh_404() {
    let sim = sim(with(
        two_nodes(SPEED),
        [Fault::new(
            FaultEndpoint::PipelineStatus,
            [FaultResponse::status(404), FaultResponse::status(404)],
        )],
    ))
    .await;
    let done = action(&sim).run().await;
    assert_completed(&done, &sim);
    let first: Vec<u16> = sim
        .requests()
        .iter()
        .filter(|r| is_status(r))
        .take(3)
        .map(|r| r.status)
        .collect();
    assert_eq!(first, [404, 404, 200]);
}

#[tokio::test(flavor = "multi_thread")]
async fn status_401_during_polling_is_not_retried() {
    let sim = sim(with(
        two_nodes(SPEED),
        [Fault::new(FaultEndpoint::PipelineStatus, [FaultResponse::status(401)]).after(2)],
    ))
    .await;
    let done = action(&sim).run().await;
    assert_eq!(done.exit_code, 4, "{}", done.log);
    let requests = sim.requests();
    let unauthorized: Vec<_> = requests.iter().filter(|r| r.status == 401).collect();
    assert_eq!(unauthorized.len(), 1, "exactly one 401: no retry storm");
    assert_eq!(
        requests.last().map(|r| r.status),
        Some(401),
        "nothing is sent after the 401"
    );
    let error = error_line(&done);
    assert!(error.contains("HTTP 401"), "{error}");
    assert!(error.contains("Check that the `api_key` input"), "{error}");
}

/// The plain (not `::debug::`) log lines saying that a read is retried and the action keeps trying.
fn still_trying(done: &Finished) -> Vec<&str> {
    done.log
        .lines()
        .filter(|l| l.starts_with("Dune API: ") && l.contains("keeps trying"))
        .collect()
}

/// The regression of issue 18: the status endpoint answers 503, 429, 500, a dropped connection, 502, an
/// HTML page with status 200 and 504 in a row, then works again. The pipeline runs on whatever the action
/// sees, so the action keeps reading (the previous policy gave up at the 6th, the HTML page) and says so
/// in the plain log each time.
#[tokio::test(flavor = "multi_thread")]
async fn status_outage_of_seven_different_faults_is_ridden_out() {
    let html = FaultResponse {
        body: Some("<html><body>Please wait…</body></html>".into()),
        content_type: Some("text/html".into()),
        ..FaultResponse::status(200)
    };
    let faults = [
        FaultResponse::status(503),
        FaultResponse::status(429),
        FaultResponse::status(500),
        FaultResponse::drop_connection(),
        FaultResponse::status(502),
        html,
        FaultResponse::status(504),
    ];
    let sim = sim(with(
        two_nodes(SPEED),
        [Fault::new(FaultEndpoint::PipelineStatus, faults).after(1)],
    ))
    .await;
    // Without RUNNER_DEBUG: the lines that say it is still trying are plain log lines.
    let done = ActionRun::against(&sim, SPEED)
        .input("query_id", ROOT)
        .run()
        .await;
    assert_completed(&done, &sim);
    let lines = still_trying(&done);
    assert_eq!(lines.len(), 7, "{}", done.log);
    for (line, what) in lines.iter().zip([
        "HTTP 503",
        "HTTP 429",
        "HTTP 500",
        "the connection was dropped",
        "HTTP 502",
        "unreadable response (HTTP 200, text/html): not JSON",
        "HTTP 504",
    ]) {
        assert!(line.contains("GET /api/v1/pipelines/executions/"), "{line}");
        assert!(line.contains(what), "{what:?} in {line}");
        assert!(line.contains("next attempt in "), "{line}");
    }
    assert!(!done.log.contains("::debug::"), "{}", done.log);
}

/// An outage of the status endpoint of more than three minutes (twelve 503s in a row: the back-off
/// waits at least 1 + 2 + 4 + 8 + 16 + 7 × 30 s) inside a 30-minute timeout ends with the run completed.
#[tokio::test(flavor = "multi_thread")]
async fn status_outage_of_three_minutes_within_the_timeout_is_ridden_out() {
    let speed = 400.0;
    let sim = sim(with(
        two_nodes(speed),
        [Fault::new(
            FaultEndpoint::PipelineStatus,
            vec![FaultResponse::status(503); 12],
        )
        .after(3)],
    ))
    .await;
    let done = ActionRun::against(&sim, speed)
        .input("query_id", ROOT)
        .input("timeout", "30m")
        .run()
        .await;
    assert_completed(&done, &sim);
    let status: Vec<RecordedRequest> = sim.requests().into_iter().filter(is_status).collect();
    let first = status.iter().position(|r| r.status == 503).expect("a 503");
    let healed = status[first..]
        .iter()
        .position(|r| r.status == 200)
        .expect("an answer after the outage")
        + first;
    assert_eq!(healed - first, 12, "every 503 was retried");
    let outage = status[healed].at - status[first].at;
    assert!(outage >= Duration::from_secs(180), "outage of {outage:?}");
    assert_eq!(still_trying(&done).len(), 12, "{}", done.log);
}

/// An outage that outlasts the run's `timeout` ends as a timeout (exit 3, running nodes cancelled), not as
/// an API error: the patient read gives up at the deadline, not before it.
#[tokio::test(flavor = "multi_thread")]
async fn status_outage_past_the_timeout_is_a_timeout() {
    // 5 virtual minutes in 1.5 real seconds: quick, with room for a loaded machine.
    let speed = 200.0;
    let sim = sim(with(
        long_running(speed, "10m"),
        [Fault::new(
            FaultEndpoint::PipelineStatus,
            vec![FaultResponse::status(503); 1000],
        )
        .after(2)],
    ))
    .await;
    let done = ActionRun::against(&sim, speed)
        .input("query_id", ROOT)
        .input("timeout", "5m")
        .run()
        .await;
    assert_eq!(done.exit_code, 3, "{}", done.log);
    assert_eq!(done.outputs["status"], "timed_out");
    assert!(still_trying(&done).len() >= 10, "{}", done.log);
}

/// A 401 in the middle of an outage stops the patient read at once: it cannot heal.
#[tokio::test(flavor = "multi_thread")]
async fn status_401_during_an_outage_stops_at_once() {
    let sim = sim(with(
        two_nodes(SPEED),
        [Fault::new(
            FaultEndpoint::PipelineStatus,
            [FaultResponse::status(503), FaultResponse::status(401)],
        )
        .after(2)],
    ))
    .await;
    let done = action(&sim).run().await;
    assert_eq!(done.exit_code, 4, "{}", done.log);
    let requests = sim.requests();
    assert_eq!(requests.iter().filter(|r| r.status == 401).count(), 1);
    assert_eq!(requests.last().map(|r| r.status), Some(401));
    assert!(error_line(&done).contains("HTTP 401"), "{}", done.log);
}

#[tokio::test(flavor = "multi_thread")]
async fn html_error_page_from_a_proxy() {
    let page = format!(
        "<html><head><title>403 Forbidden</title></head><body>{}</body></html>",
        "<p>blocked by the corporate proxy</p>".repeat(500)
    );
    let sim = sim(with(
        two_nodes(SPEED),
        [Fault::new(
            FaultEndpoint::PipelineStatus,
            [FaultResponse {
                body: Some(page),
                content_type: Some("text/html; charset=utf-8".into()),
                ..FaultResponse::status(403)
            }],
        )
        .after(1)],
    ))
    .await;
    let done = action(&sim).run().await;
    assert_eq!(done.exit_code, 4, "{}", done.log);
    let error = error_line(&done);
    assert!(
        error.contains("GET /api/v1/pipelines/executions/")
            && error.contains("HTTP 403: text/html; charset=utf-8 body: <html><head><title>403"),
        "{error}"
    );
    assert!(error.len() < 1200, "a short excerpt, not the page: {error}");
    assert!(!done.summary.contains("<html>"), "{}", done.summary);
    assert!(done.summary.contains("&lt;html&gt;"), "{}", done.summary);
}

/// Before the start nothing runs on Dune, so a read then is not patient: the definition read gives up on
/// a garbled body (a proxy's page with a 200) after three looks, and the run goes on without it.
#[tokio::test(flavor = "multi_thread")]
async fn html_page_with_status_200_is_read_again_then_reported() {
    let page = FaultResponse {
        body: Some("<html><body>Please wait…</body></html>".into()),
        content_type: Some("text/html".into()),
        ..FaultResponse::status(200)
    };
    let sim = sim(with(
        two_nodes(SPEED),
        [Fault::new(FaultEndpoint::QueryPipeline, vec![page; 3])],
    ))
    .await;
    let done = action(&sim).run().await;
    assert_completed(&done, &sim);
    let warning = done
        .log
        .lines()
        .find(|l| {
            l.starts_with("::warning") && l.contains("Could not read the pipeline definition")
        })
        .unwrap_or_else(|| panic!("a warning in {}", done.log));
    assert!(warning.contains("gave up after 3 attempts"), "{warning}");
    assert!(
        warning.contains("unreadable response (HTTP 200, text/html): not JSON"),
        "{warning}"
    );
    assert!(
        warning.contains("body starts: <html><body>Please wait"),
        "{warning}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn oversized_body_is_refused() {
    let sim = sim(with(
        two_nodes(SPEED),
        [Fault::new(
            FaultEndpoint::PipelineStatus,
            [FaultResponse::oversized(20_000_000)],
        )
        .after(1)],
    ))
    .await;
    let done = action(&sim).run().await;
    assert_eq!(done.exit_code, 4, "{}", done.log);
    let error = error_line(&done);
    assert!(
        error.contains("response body larger than 8388608 bytes (HTTP 200); refusing to read it"),
        "{error}"
    );
}

/// A server that starts pipelines normally but answers every status read with an endless chunked body
/// (no `Content-Length`), counting the bytes it managed to send.
fn endless_server(sent: Arc<AtomicU64>) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let sent = sent.clone();
            std::thread::spawn(move || {
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") {
                    if stream.read(&mut byte).unwrap_or(0) == 0 {
                        return;
                    }
                    head.push(byte[0]);
                }
                let head = String::from_utf8_lossy(&head).to_string();
                if head.starts_with("POST") {
                    let body = r#"{"pipeline_execution_id": "01HKZJ2683PHF9Q9PHHQ8FW4Q1"}"#;
                    let _ = write!(
                        stream,
                        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    return;
                }
                let _ = write!(
                    stream,
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n"
                );
                let chunk = vec![b' '; 64 * 1024];
                loop {
                    let mut frame = format!("{:x}\r\n", chunk.len()).into_bytes();
                    frame.extend_from_slice(&chunk);
                    frame.extend_from_slice(b"\r\n");
                    if stream.write_all(&frame).is_err() {
                        return;
                    }
                    sent.fetch_add(chunk.len() as u64, Ordering::Relaxed);
                }
            });
        }
    });
    port
}

#[tokio::test(flavor = "multi_thread")]
async fn endless_body_is_cut_at_the_limit() {
    let sent = Arc::new(AtomicU64::new(0));
    let port = endless_server(sent.clone());
    let run = ActionRun::new(&format!("http://127.0.0.1:{port}"), SPEED).input("query_id", ROOT);
    let done = tokio::time::timeout(Duration::from_secs(60), run.run())
        .await
        .expect("an endless body must not hang the action");
    assert_eq!(done.exit_code, 4, "{}", done.log);
    // The definition read (a warning: the run goes on) meets the endless body first and stops at the cap;
    // the run then fails on the same server: the status read by the cap, or (a race of the test server) the
    // start by a reset connection.
    assert!(
        done.log.lines().any(|l| l
            .starts_with("::warning title=Could not read the pipeline definition::")
            && l.contains("response body larger than 8388608 bytes")),
        "{}",
        done.log
    );
    assert!(
        error_line(&done).starts_with("::error title=Dune API error::"),
        "{}",
        done.log
    );
    // The action stops reading at 8 MiB; what else went out sat in socket buffers.
    let sent = sent.load(Ordering::Relaxed);
    println!("the server got {sent} bytes out before the action hung up");
    assert!(sent < 48 * 1024 * 1024, "{sent} bytes were sent");
}

#[tokio::test(flavor = "multi_thread")]
async fn execution_read_fails_then_succeeds() {
    let sim = sim(with(
        two_nodes(SPEED),
        [Fault::new(
            FaultEndpoint::ExecutionStatus,
            [FaultResponse::status(500), FaultResponse::drop_connection()],
        )],
    ))
    .await;
    let done = action(&sim).run().await;
    assert_completed(&done, &sim);
    let nodes = done.json("nodes");
    assert!(nodes[0]["credits"].is_number(), "{nodes}");
}

// ── Timeout and cancellation ───────────────────────────────────────────────────────────────────────────

#[tokio::test(flavor = "multi_thread")]
async fn timeout_cancels_running_executions_and_exits_3() {
    let sim = sim(long_running(SPEED, "5s")).await;
    let done = action(&sim).input("timeout", "40s").run().await;
    assert_eq!(done.exit_code, 3, "{}", done.log);
    assert_eq!(done.outputs["status"], "timed_out");
    assert_eq!(sim.cancelled_executions().len(), 2);
    let nodes = done.json("nodes");
    for i in [1, 2] {
        assert_eq!(nodes[i]["status"], "cancelled", "{nodes}");
        assert_eq!(nodes[i]["cancelled_by_action"], true, "{nodes}");
    }
    assert!(
        done.summary
            .contains("**Cancelled by the action** (timeout): nodes 2, 3"),
        "{}",
        done.summary
    );
    assert!(
        error_line(&done).contains("the action cancelled 2 of 2 running node executions"),
        "{}",
        done.log
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn timeout_with_cancel_on_timeout_false_cancels_nothing() {
    let sim = sim(long_running(SPEED, "5s")).await;
    let done = action(&sim)
        .input("timeout", "40s")
        .input("cancel_on_timeout", "false")
        .run()
        .await;
    assert_eq!(done.exit_code, 3, "{}", done.log);
    assert_eq!(count(&sim, is_cancel), 0, "no cancel request at all");
    assert!(
        error_line(&done).contains("2 node executions are still running on Dune"),
        "{}",
        done.log
    );
    // The post step leaves them alone too.
    assert_eq!(
        done.state.get("leave_running").map(String::as_str),
        Some("true")
    );
    let before = sim.requests().len();
    let state: Vec<(&str, &str)> = done
        .state
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let log = crate::common::post_step(&sim.base_url(), &state, SPEED).await;
    assert_eq!(sim.requests().len(), before, "{log}");
    assert!(log.contains("leaving pipeline execution"), "{log}");
}

#[tokio::test(flavor = "multi_thread")]
async fn cancel_failing_at_timeout_is_a_warning() {
    let sim = sim(with(
        long_running(SPEED, "5s"),
        [Fault::new(
            FaultEndpoint::ExecutionCancel,
            vec![FaultResponse::status(500); 4],
        )],
    ))
    .await;
    let done = action(&sim).input("timeout", "40s").run().await;
    assert_eq!(done.exit_code, 3, "{}", done.log);
    assert!(sim.cancelled_executions().is_empty());
    assert!(
        done.log.contains("::warning title=Could not cancel node"),
        "{}",
        done.log
    );
    assert!(
        error_line(&done).contains("the action cancelled 0 of 2"),
        "{}",
        done.log
    );
}

/// Runs the binary in "GitHub Actions" against `sim`, sends `signal` once the pipeline runs, and checks
/// what reached the simulator and the runner files.
async fn assert_signal_cancels(signal: &str) {
    let speed = 10.0;
    let sim = sim(long_running(speed, "5s")).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let file = |name: &str| dir.path().join(name);
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_dune-pipeline-action"));
    for (k, _) in std::env::vars() {
        if k.starts_with("GITHUB_")
            || k.starts_with("INPUT_")
            || k.starts_with("RUNNER_")
            || k.starts_with("DUNE_")
            || k.starts_with("STATE_")
            || k == "CI"
        {
            cmd.env_remove(k);
        }
    }
    let mut child = cmd
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_OUTPUT", file("output"))
        .env("GITHUB_STATE", file("state"))
        .env("GITHUB_STEP_SUMMARY", file("summary"))
        .env("INPUT_QUERY_ID", ROOT)
        .env("INPUT_API_KEY", KEY)
        .env("INPUT_API_URL", sim.base_url())
        .env("DUNE_ACTION_TIME_SCALE", speed.to_string())
        .env("RUST_BACKTRACE", "0")
        .stdout(Stdio::from(
            std::fs::File::create(file("log")).expect("log file"),
        ))
        .stderr(Stdio::null())
        .spawn()
        .expect("the binary starts");
    // Wait until nodes 2 and 3 run (node 1 takes 5 s of virtual time).
    let start = Instant::now();
    let running = |log: String| {
        log.lines()
            .any(|l| l.contains("node 3 (query 500)") && l.ends_with("executing"))
    };
    while !running(std::fs::read_to_string(file("log")).unwrap_or_default()) {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the run never got going"
        );
        assert!(child.try_wait().expect("wait").is_none(), "exited early");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let sent = Instant::now();
    let killed = Command::new("kill")
        .args([&format!("-{signal}"), &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(killed.success());
    while sim.cancelled_executions().len() < 2 {
        assert!(
            sent.elapsed() < Duration::from_secs(5),
            "cancels did not reach Dune within 5 s of {signal}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let cancelled_after = sent.elapsed();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        assert!(
            sent.elapsed() < Duration::from_secs(10),
            "still running 10 s after {signal}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    println!(
        "{signal}: cancels reached the simulator after {cancelled_after:?}, exit after {:?}",
        sent.elapsed()
    );
    assert_eq!(status.code(), Some(1), "non-zero exit");
    let log = std::fs::read_to_string(file("log")).expect("log");
    assert!(
        log.contains(&format!("Received SIG{signal}: stopping")),
        "{log}"
    );
    let outputs: std::collections::BTreeMap<String, String> = crate::common::parse_file_commands(
        &std::fs::read_to_string(file("output")).expect("outputs written"),
    )
    .expect("outputs follow the runner's rules")
    .into_iter()
    .collect();
    assert_eq!(outputs["status"], "cancelled");
    assert_eq!(outputs["failed_nodes"], "[2,3]");
    let summary = std::fs::read_to_string(file("summary")).expect("summary written");
    assert!(
        summary.contains("**Cancelled by the action** (workflow cancelled): nodes 2, 3"),
        "{summary}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_mid_run() {
    assert_signal_cancels("TERM").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn sigint_mid_run() {
    assert_signal_cancels("INT").await;
}

// ── Hostile remote text ────────────────────────────────────────────────────────────────────────────────

#[tokio::test(flavor = "multi_thread")]
async fn injected_workflow_commands_are_never_issued() {
    let injection = "boom\n::error::PWNED\n  ::set-output name=status::completed\r::add-mask::Failed\n##[set-output name=status;]completed ##[error]PWNED2\n::stop-commands::x\n<script>alert(1)</script> | a | b";
    let s = keyed(
        Scenario::from_yaml_or_json(&format!(
            r#"
time_scale: {SPEED}
queries:
  - query_id: 500
    nodes:
      - {{id: 1, materialized_view: "dune.x.mv ::error::VIEW ##[error]VIEW2", duration: 2s}}
      - id: 2
        query_id: 500
        dependencies: [1]
        duration: 2s
        outcome: failed
        error: {}
"#,
            serde_json::to_string(injection).expect("json string")
        ))
        .expect("scenario"),
    );
    let sim = sim(s).await;
    let done = action(&sim).run().await;
    assert_eq!(done.exit_code, 1, "{}", done.log);
    for line in crate::common::commands(&done.log) {
        let name = line
            .trim_start_matches("::")
            .split([' ', ':'])
            .next()
            .unwrap_or("");
        assert!(
            matches!(
                name,
                "add-mask"
                    | "notice"
                    | "warning"
                    | "error"
                    | "group"
                    | "endgroup"
                    | "debug"
                    | "stop-commands"
            ),
            "unexpected command: {line}"
        );
        // A `##[` inside a `::` command is data (the runner parses the `::` form first); anywhere else the
        // line would have failed the name check above.
        assert!(!line.starts_with("::error::PWNED"), "{line}");
        if name == "add-mask" {
            assert_eq!(line, format!("::add-mask::{KEY}"));
        }
    }
    // The error itself is shown, escaped, in the annotation and verbatim inside the fenced group.
    assert!(
        done.log
            .contains("::error title=Node 2 (query 500) failed::boom%0A::error::PWNED%0A"),
        "{}",
        done.log
    );
    // Outputs: exactly these (issue 21 added six), the error kept verbatim inside the JSON.
    let names: Vec<&str> = done.outputs.keys().map(String::as_str).collect();
    assert_eq!(
        names,
        [
            "check_run_id",
            "comment_id",
            "credits",
            "credits_unknown_nodes",
            "duration_seconds",
            "execution_id",
            "failed_nodes",
            "nodes",
            "nodes_file",
            "pipeline_execution_id",
            "preview",
            "results",
            "status",
            "url",
        ]
    );
    assert_eq!(done.outputs["status"], "failed");
    assert_eq!(done.json("nodes")[1]["error"]["message"], injection);
    // Summary: no raw HTML, tables intact.
    assert!(
        !outside_code_blocks(&done.summary).contains("<script>"),
        "{}",
        done.summary
    );
    assert!(done.summary.contains("```text\n"), "{}", done.summary);
    for row in done.summary.lines().filter(|l| l.starts_with("| 1 |")) {
        assert_eq!(
            unescaped_pipes(row),
            8,
            "the view's row keeps its 7 cells: {row}"
        );
    }
}
