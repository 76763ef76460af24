//! Issue 19: what GitHub's runner really does with a step, checked from outside. Annotations past 10 of a
//! kind are dropped (the `runner_view` oracle), result files must be usable by a later non-root step,
//! inputs under `${{ github.workspace }}` arrive absolute, a `::debug::` line must never land inside a
//! `::stop-commands::` fence, a cancelled workflow gives the step 7 s, the post step must cancel with its
//! state alone, and outputs must fit in one environment variable.

use std::time::{Duration, Instant};

use crate::common::{ActionRun, Finished, KEY, commands, in_workspace, keyed, orphaned_pipeline};
use crate::fake_github::{FakeGitHub, Mode};
use crate::runner_view::{PER_KIND, RunnerView};
use dune_api::clock::Clock;
use dune_pipeline_action::runner::console::Console;
use dune_pipeline_action::runner::env::Env;
use dune_sim::{Scenario, Simulator};

const SPEED: f64 = 50.0;

fn scenario(yaml: &str) -> Scenario {
    keyed(Scenario::from_yaml_or_json(yaml).expect("scenario"))
}

/// `n` query nodes side by side under root query 900 (node `n` is the root query itself), each
/// `node(i)` the rest of its YAML mapping.
fn side_by_side(n: usize, node: impl Fn(usize) -> String, extra: &str) -> Scenario {
    let mut yaml = format!("time_scale: {SPEED}\nqueries:\n  - query_id: 900\n    nodes:\n");
    for i in 1..=n {
        let query = if i == n { 900 } else { 900 + i };
        yaml.push_str(&format!(
            "      - {{id: {i}, query_id: {query}, {}}}\n",
            node(i)
        ));
    }
    yaml.push_str(extra);
    scenario(&yaml)
}

/// What the runner shows must hold every annotation the action printed (nothing past the runner's
/// limit), and end with the step's own error, titled `title`.
fn assert_step_error_shown(done: &Finished, title: &str) -> RunnerView {
    let view = RunnerView::of(&done.log);
    assert_eq!(
        view.dropped, 0,
        "the runner drops annotations past {PER_KIND} of a kind:\n{}",
        done.log
    );
    assert_eq!(
        view.errors.last().and_then(|a| a.title.as_deref()),
        Some(title),
        "the step's own error is not among the errors GitHub shows: {:?}\n{}",
        view.error_titles(),
        done.log
    );
    view
}

/// A pipeline file whose `n` nodes each have an unknown key.
fn file_with_problems(n: usize) -> String {
    let mut text = String::from("pipeline:\n  nodes:\n");
    for i in 1..=n {
        text.push_str(&format!(
            "    - {{id: {i}, query_execution: {{query_id: 1, x: 1}}}}\n"
        ));
    }
    text
}

#[tokio::test(flavor = "multi_thread")]
async fn pipeline_file_problems_leave_room_for_the_steps_error() {
    let sim = Simulator::start(side_by_side(1, |_| "duration: 1s".into(), ""))
        .await
        .expect("simulator");
    for n in [10, 14] {
        let run = ActionRun::against(&sim, SPEED);
        std::fs::write(run.workspace().join("many.yml"), file_with_problems(n)).expect("write");
        let done = run.input("pipeline_file", "many.yml").run().await;
        assert_eq!(done.exit_code, 2, "{}", done.log);
        let view = assert_step_error_shown(&done, "Invalid input `pipeline_file`");
        let on_file: Vec<_> = view
            .errors
            .iter()
            .filter(|a| a.file.as_deref() == Some("many.yml"))
            .collect();
        // Eight problems on their line, then how many more, then the step's error that lists them all.
        assert_eq!(on_file.len(), 9, "{n}: {}", done.log);
        assert_eq!(
            on_file[8].message,
            format!(
                "and {} more problems in this file (the step's error lists them)",
                n - 8
            )
        );
        assert_eq!(view.errors.len(), 10);
    }
    assert!(sim.requests().is_empty());
}

/// Runs root query 900 of `scenario` with `results_dir: out`.
async fn with_results_dir(scenario: Scenario) -> Finished {
    let sim = Simulator::start(scenario).await.expect("simulator");
    ActionRun::against(&sim, SPEED)
        .input("query_id", "900")
        .input("results_dir", "out")
        .run()
        .await
}

/// 400 on every CSV download (Dune's answer to a bad request: not retried).
const CSV_FAILS: &str = "faults:\n  - endpoint: execution_results_csv\n    responses: [{status: 400}, {status: 400}, {status: 400}, {status: 400}, {status: 400}, {status: 400}, {status: 400}, {status: 400}, {status: 400}, {status: 400}, {status: 400}, {status: 400}]\n";

#[tokio::test(flavor = "multi_thread")]
async fn ten_failed_downloads_leave_room_for_the_steps_error() {
    let done = with_results_dir(side_by_side(
        10,
        |_| "duration: 2s, rows: 5".into(),
        CSV_FAILS,
    ))
    .await;
    assert_eq!(done.exit_code, 5, "{}", done.log);
    let view = assert_step_error_shown(&done, "Dune results download failed");
    let downloads = view
        .error_titles()
        .iter()
        .filter(|t| t.ends_with("could not be downloaded"))
        .count();
    assert_eq!(downloads, 8, "{}", done.log);
    assert!(
        view.errors[8].message.starts_with("and 2 more errors"),
        "{:?}",
        view.errors[8]
    );
    // The two held back are still in the log.
    assert_eq!(
        done.log
            .lines()
            .filter(|l| l.starts_with("error: Results of node"))
            .count(),
        2,
        "{}",
        done.log
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn nine_failed_nodes_and_a_result_error_leave_room_for_the_steps_error() {
    let done = with_results_dir(side_by_side(
        10,
        |i| {
            if i < 10 {
                format!("duration: 2s, outcome: failed, error: \"boom {i}\"")
            } else {
                "duration: 2s, rows: 5".into()
            }
        },
        CSV_FAILS,
    ))
    .await;
    assert_eq!(done.exit_code, 1, "{}", done.log);
    let view = assert_step_error_shown(&done, "Dune pipeline failed");
    assert_eq!(view.errors.len(), 10, "{}", done.log);
    assert!(
        view.error_titles()[0].ends_with("could not be downloaded"),
        "{:?}",
        view.error_titles()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn twelve_failed_cancels_stay_within_the_warnings_shown() {
    let sim = Simulator::start(side_by_side(
        12,
        |_| "duration: 1h".into(),
        &format!(
            "faults:\n  - endpoint: execution_cancel\n    responses: [{}]\n",
            ["{status: 500}"; 60].join(", ")
        ),
    ))
    .await
    .expect("simulator");
    let done = ActionRun::against(&sim, SPEED)
        .input("query_id", "900")
        .input("timeout", "20s")
        .run()
        .await;
    assert_eq!(done.exit_code, 3, "{}", done.log);
    let view = assert_step_error_shown(&done, "Dune pipeline timed out");
    let cancels = view
        .warnings
        .iter()
        .filter(|a| {
            a.title
                .as_deref()
                .is_some_and(|t| t.starts_with("Could not cancel node"))
        })
        .count();
    assert_eq!(cancels, 8, "{}", done.log);
    assert!(
        view.warnings
            .iter()
            .any(|a| a.message.starts_with("and 4 more warnings")),
        "{:?}",
        view.warnings
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn absolute_paths_inside_the_workspace_are_shown_relative() {
    let sim = Simulator::start(side_by_side(1, |_| "duration: 2s, rows: 3".into(), ""))
        .await
        .expect("simulator");
    let run = ActionRun::against(&sim, SPEED).input("query_id", "900");
    let out = run.workspace().join("out");
    let done = run
        .input("results_dir", out.to_str().expect("utf-8"))
        .run()
        .await;
    assert_eq!(done.exit_code, 0, "{}", done.log);
    let path = done.json("results")[0]["path"]
        .as_str()
        .expect("path")
        .to_string();
    assert!(path.starts_with("out/"), "{path}");

    // A pipeline file by its absolute path: its annotations name it from the repository root.
    let run = ActionRun::against(&sim, SPEED);
    let file = run.workspace().join("pipelines/p.yml");
    std::fs::create_dir_all(file.parent().expect("dir")).expect("mkdir");
    std::fs::write(&file, file_with_problems(1)).expect("write");
    let done = run
        .input("pipeline_file", file.to_str().expect("utf-8"))
        .run()
        .await;
    assert_eq!(done.exit_code, 2, "{}", done.log);
    let view = RunnerView::of(&done.log);
    assert_eq!(view.errors[0].file.as_deref(), Some("pipelines/p.yml"));
    assert!(
        view.errors[1].message.contains("pipelines/p.yml:3:"),
        "{:?}",
        view.errors[1]
    );
    assert!(!done.log.contains(&*run_dir_text(&file)), "{}", done.log);

    // Outside the workspace: an error naming the input.
    let outside = tempfile::tempdir().expect("tempdir");
    let elsewhere = outside.path().join("p.yml");
    std::fs::write(&elsewhere, file_with_problems(1)).expect("write");
    let done = ActionRun::against(&sim, SPEED)
        .input("pipeline_file", elsewhere.to_str().expect("utf-8"))
        .run()
        .await;
    assert_eq!(done.exit_code, 2, "{}", done.log);
    let view = RunnerView::of(&done.log);
    assert_eq!(
        view.errors[0].title.as_deref(),
        Some("Invalid input `pipeline_file`")
    );
    assert!(
        view.errors[0].message.contains("outside the workspace"),
        "{}",
        done.log
    );
}

/// The absolute path's directory part, which the user never wrote.
fn run_dir_text(file: &std::path::Path) -> String {
    format!("{}:", file.display())
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread")]
async fn result_files_belong_to_the_workspace_owner() {
    use std::os::unix::fs::MetadataExt;
    let sim = Simulator::start(side_by_side(2, |_| "duration: 2s, rows: 3".into(), ""))
        .await
        .expect("simulator");
    let (run, dir) = in_workspace(ActionRun::against(&sim, SPEED).input("query_id", "900"));
    let ws = dir.path().to_path_buf();
    let me = std::fs::metadata(&ws).expect("stat").uid();
    // As on GitHub: the workspace belongs to the runner's user, the container action runs as root.
    let owner = if me == 0 { 1001 } else { me };
    if me == 0 {
        std::os::unix::fs::chown(&ws, Some(owner), Some(owner)).expect("chown");
    }
    let done = run.input("results_dir", "out/daily").run().await;
    assert_eq!(done.exit_code, 0, "{}", done.log);
    let mut seen = 0;
    for dir in [ws.join("out"), ws.join("out/daily")] {
        assert_eq!(
            std::fs::metadata(&dir).expect("stat").uid(),
            owner,
            "{dir:?}"
        );
        for entry in std::fs::read_dir(&dir).expect("dir") {
            let meta = entry.expect("entry").metadata().expect("stat");
            assert_eq!(meta.uid(), owner);
            seen += 1;
        }
    }
    assert_eq!(seen, 3, "out/daily and its two files");
    let nodes_file = done.outputs["nodes_file"].clone();
    assert_eq!(
        std::fs::metadata(ws.join(&nodes_file)).expect("stat").uid(),
        owner
    );
}

#[test]
fn a_fence_holds_the_console_while_debug_lines_are_printed() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    // RUNNER_DEBUG=1: execution reads and cancels print `::debug::` lines from their own tasks while a
    // node's error is printed fenced.
    let (console, buf) = Console::buffer(true);
    let text: String = (0..200).map(|i| format!("error line {i}\n")).collect();
    let fencing = Arc::new(AtomicBool::new(true));
    let debug = {
        let (console, fencing) = (console.clone(), fencing.clone());
        std::thread::spawn(move || {
            let mut printed = 0;
            while fencing.load(Ordering::Relaxed) || printed < 100 {
                console.line(&format!("::debug::GET /api/v1/execution/{printed}/status"));
                printed += 1;
                std::thread::yield_now();
            }
            printed
        })
    };
    for _ in 0..200 {
        console.verbatim(&text);
    }
    fencing.store(false, Ordering::Relaxed);
    let printed = debug.join().expect("thread");
    let read = commands(&buf.contents())
        .into_iter()
        .filter(|c| c.starts_with("::debug::"))
        .count();
    assert_eq!(
        read, printed,
        "::debug:: lines landed inside a ::stop-commands:: fence"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn debug_lines_of_concurrent_reads_are_all_commands() {
    // Failed nodes (printed fenced) while the execution reads print `::debug::` lines.
    let sim = Simulator::start(side_by_side(
        8,
        |i| {
            let error = (0..40)
                .map(|l| format!("line {l}"))
                .collect::<Vec<_>>()
                .join("\\n");
            format!("duration: {}s, outcome: failed, error: \"{error}\"", i + 1)
        },
        "",
    ))
    .await
    .expect("simulator");
    let mut run = ActionRun::against(&sim, SPEED).input("query_id", "900");
    run.env.set("RUNNER_DEBUG", "1");
    let done = run.run().await;
    assert_eq!(done.exit_code, 1, "{}", done.log);
    let printed = done
        .log
        .lines()
        .filter(|l| l.starts_with("::debug::"))
        .count();
    let read = commands(&done.log)
        .into_iter()
        .filter(|c| c.starts_with("::debug::"))
        .count();
    assert!(printed > 0);
    assert_eq!(read, printed, "{}", done.log);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_post_step_cancels_with_its_state_the_key_and_the_url_alone() {
    let sim = Simulator::start(side_by_side(2, |_| "duration: 1h".into(), ""))
        .await
        .expect("simulator");
    let id = orphaned_pipeline(&sim, 900, SPEED).await;
    // The pipeline file the main step ran is gone, and another input became invalid.
    let mut env = Env::default();
    env.set("GITHUB_ACTIONS", "true");
    env.set_input("pipeline_file", "pipelines/gone.yml");
    env.set_input("timeout", "soon");
    env.set_input("api_key", KEY);
    env.set_input("api_url", sim.base_url());
    env.set("STATE_pipeline_execution_id", &id);
    let (console, log) = Console::buffer(true);
    dune_pipeline_action::post::run(&env, &console, Clock::scaled(SPEED)).await;
    let log = log.contents();
    assert_eq!(sim.cancelled_executions().len(), 2, "{log}");
    assert!(log.contains("input `timeout`"), "{log}");
    assert!(!log.contains("::warning"), "{log}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_signal_during_the_start_ends_the_step_within_seven_seconds() {
    // The worst path: the start is answered just before the grace ends, the status read answers (so
    // there is something to cancel), the cancels hang, and GitHub hangs too. The runner sends SIGTERM 7.5 s after its SIGINT.
    let sim = Simulator::start(side_by_side(
        2,
        |_| "duration: 1h".into(),
        &format!(
            "faults:\n  - endpoint: pipeline_execute\n    responses: [{{delay: 80s}}]\n  - endpoint: execution_cancel\n    responses: [{}]\n",
            ["{delay: 1h}"; 4].join(", "),
        ),
    ))
    .await
    .expect("simulator");
    let gh = FakeGitHub::start("ghs_fake", "", Mode::Hang).await;
    let mut run = ActionRun::against(&sim, SPEED)
        .input("query_id", "900")
        .input("pr_comment", "true")
        .input("github_token", "ghs_fake");
    let event = run.workspace().join("event.json");
    std::fs::write(
        &event,
        r#"{"number": 7, "pull_request": {"number": 7, "head": {"sha": "0123456789abcdef0123456789abcdef01234567"}}}"#,
    )
    .expect("event");
    run.env
        .set("GITHUB_EVENT_PATH", event.to_string_lossy().into_owned());
    run.env.set("GITHUB_EVENT_NAME", "pull_request");
    run.env.set("GITHUB_API_URL", gh.api_url());
    run.env.set("GITHUB_REPOSITORY", "octo-org/data-models");
    let running = run.start();
    // The start request is in flight (answered 80 s of clock time later: 1.6 s, before the 2 s grace even on a loaded machine).
    // It leaves after the definition and usage reads: wait for its log line rather than a fixed time.
    running
        .wait_for_log("Starting the pipeline", Duration::from_secs(5))
        .await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    let signalled = Instant::now();
    let _ = running.stop.send(true);
    let done = running.finish().await;
    let took = signalled.elapsed();
    assert_eq!(done.exit_code, 1, "{}", done.log);
    assert_eq!(done.outputs["status"], "cancelled", "{}", done.log);
    assert_eq!(
        done.state.get("pipeline_execution_id").map(String::len),
        Some(26)
    );
    assert!(
        took < Duration::from_secs(7),
        "{took:?} from the signal to the end\n{}",
        done.log
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn big_pipelines_keep_every_output_within_an_environment_variable() {
    // 1500 failed nodes, each with a long error: the full list is far over 128 KiB.
    let sim = Simulator::start(side_by_side(
        1500,
        |i| {
            format!(
                "duration: 1s, outcome: failed, error: \"{} {i}\"",
                "x".repeat(300)
            )
        },
        "",
    ))
    .await
    .expect("simulator");
    let (run, ws) = in_workspace(
        ActionRun::against(&sim, SPEED)
            .input("query_id", "900")
            .input("requests_per_minute", "1000")
            .input("result_rows", "0"),
    );
    let done = run.run().await;
    assert_eq!(done.exit_code, 1);
    let mut total = 0;
    for (name, value) in &done.outputs {
        // Linux's limit of one environment variable (NAME=value and its NUL).
        assert!(
            name.len() + value.len() + 2 <= 128 * 1024,
            "{name}: {} bytes",
            value.len()
        );
        total += (name.encode_utf16().count() + value.encode_utf16().count()) * 2;
    }
    assert!(total < 1_000_000, "outputs: {total} bytes in UTF-16");
    let nodes = done.json("nodes");
    let shown = nodes.as_array().expect("array");
    assert_eq!(
        shown.last().and_then(|m| m.get("truncated")),
        Some(&true.into())
    );
    assert!(done.log.contains("The `nodes` output is cut"), "log");
    // The file has them all.
    let file = done.outputs["nodes_file"].clone();
    assert!(file.starts_with(".dune-pipeline-action/"), "{file}");
    let path = ws.path().join(&file);
    let all: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).expect("nodes_file")).expect("JSON");
    assert_eq!(all.as_array().map(Vec::len), Some(1500));
}
