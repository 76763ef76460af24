//! The GitHub side channel end to end: the action, in-process, against the Dune API simulator and a local
//! fake of GitHub's REST API (octocrab pointed at it through `GITHUB_API_URL`).

use crate::common::{ActionRun, Finished, keyed};
use crate::fake_github::{FakeGitHub, Mode};
use dune_sim::{Scenario, Simulator};

const SPEED: f64 = 50.0;
pub(crate) const TOKEN: &str = "ghs_FakeToken0123456789abcdef";
pub(crate) const PR: u64 = 7;
const HEAD: &str = "0123456789abcdef0123456789abcdef01234567";
const PUSH_SHA: &str = "fedcba9876543210fedcba9876543210fedcba98";
const MARKER: &str = "<!-- dune-pipeline-action query:3493826 -->";

pub(crate) fn scenario(fail_node: Option<i64>) -> Scenario {
    let outcome = |id: i64| {
        if Some(id) == fail_node {
            "outcome: failed\n        error: \"line 1:8: Column 'x' cannot be resolved\""
        } else {
            "outcome: completed"
        }
    };
    keyed(
        Scenario::from_yaml_or_json(&format!(
            r#"
time_scale: {SPEED}
queries:
  - query_id: 3493826
    nodes:
      - id: 1
        query_id: 101
        duration: 10s
        {o1}
      - id: 2
        query_id: 3493826
        dependencies: [1]
        duration: 10s
        {o2}
"#,
            o1 = outcome(1),
            o2 = outcome(2),
        ))
        .expect("scenario"),
    )
}

/// What the event looks like.
pub(crate) enum Event {
    PullRequest,
    Push,
}

/// A run with GitHub's context set up: repository, run id, event payload, token, and the fake's URL.
pub(crate) fn github_run(sim: &Simulator, gh: &FakeGitHub, event: Event) -> ActionRun {
    let mut run = ActionRun::against(sim, SPEED)
        .input("query_id", "3493826")
        .input("github_token", TOKEN);
    let payload = match event {
        Event::PullRequest => {
            run.env.set("GITHUB_EVENT_NAME", "pull_request");
            serde_json::json!({
                "action": "synchronize",
                "number": PR,
                "pull_request": {"number": PR, "head": {"sha": HEAD, "ref": "model-change"}}
            })
        }
        Event::Push => {
            run.env.set("GITHUB_EVENT_NAME", "push");
            serde_json::json!({"ref": "refs/heads/main", "after": PUSH_SHA})
        }
    };
    let path = run.workspace().join("event.json");
    std::fs::write(&path, payload.to_string()).expect("event payload");
    run.env
        .set("GITHUB_EVENT_PATH", path.to_string_lossy().into_owned());
    run.env.set("GITHUB_API_URL", gh.api_url());
    run.env.set("GITHUB_SERVER_URL", "https://github.com");
    run.env.set("GITHUB_REPOSITORY", "octo-org/data-models");
    run.env.set("GITHUB_RUN_ID", "4242");
    run.env.set("GITHUB_SHA", PUSH_SHA);
    run
}

/// A fake GitHub (API under `prefix`) and a simulator running [`scenario`]`(fail_node)`.
pub(crate) async fn setup(
    prefix: &str,
    mode: Mode,
    fail_node: Option<i64>,
) -> (FakeGitHub, Simulator) {
    let gh = FakeGitHub::start(TOKEN, prefix, mode).await;
    let sim = Simulator::start(scenario(fail_node))
        .await
        .expect("simulator");
    (gh, sim)
}

/// The token appears only in the `::add-mask::` line, nowhere else (log, outputs, summary, state).
fn assert_token_hidden(done: &Finished) {
    let everything = done.everything();
    let hits: Vec<&str> = everything.lines().filter(|l| l.contains(TOKEN)).collect();
    assert_eq!(hits, vec![format!("::add-mask::{TOKEN}")], "{everything}");
}

pub(crate) fn warnings(done: &Finished) -> Vec<&str> {
    done.log
        .lines()
        .filter(|l| l.starts_with("::warning"))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn first_run_posts_one_comment_and_a_rerun_updates_it() {
    let (gh, sim) = setup("", Mode::Normal, None).await;
    // A busy PR: the action's comment will land on the second page of 100.
    for i in 0..120 {
        gh.seed_comment(PR, &format!("review comment {i}"));
    }
    let done = github_run(&sim, &gh, Event::PullRequest)
        .input("pr_comment", "true")
        .run()
        .await;
    assert_eq!(done.exit_code, 0, "{}", done.log);
    assert!(warnings(&done).is_empty(), "{}", done.log);
    assert_eq!(gh.count("POST", "/issues/7/comments"), 1);
    assert_eq!(gh.count("PATCH", ""), 0);
    let comments = gh.comments(PR);
    assert_eq!(comments.len(), 121);
    let body = comments[120]["body"].as_str().expect("body").to_string();
    assert!(body.starts_with(MARKER), "{body}");
    assert!(body.contains("✅ Dune pipeline completed"), "{body}");
    assert!(
        body.contains("[workflow run](https://github.com/octo-org/data-models/actions/runs/4242)")
    );
    assert!(body.contains("https://dune.com/queries/3493826"));
    assert!(body.contains("### Nodes"));
    assert!(
        done.log
            .contains("Added the pipeline's comment to pull request #7")
    );
    // A later step gets the comment's id (issue 21); no check run was asked for.
    assert_eq!(done.outputs["comment_id"], comments[120]["id"].to_string());
    assert_eq!(done.outputs["check_run_id"], "");
    // Every request carried the token.
    assert!(
        gh.requests()
            .iter()
            .all(|r| r.authorization.as_deref() == Some(&format!("Bearer {TOKEN}")))
    );
    assert_token_hidden(&done);

    // The re-run (now failing) finds the comment on page 2 and patches it: still one comment of ours.
    let sim = Simulator::start(scenario(Some(2)))
        .await
        .expect("simulator");
    let done = github_run(&sim, &gh, Event::PullRequest)
        .input("pr_comment", "true")
        .run()
        .await;
    assert_eq!(done.exit_code, 1, "{}", done.log);
    assert!(warnings(&done).is_empty(), "{}", done.log);
    assert_eq!(gh.count("POST", "/issues/7/comments"), 1);
    assert_eq!(
        gh.count(
            "PATCH",
            &format!("/issues/comments/{}", comments[120]["id"])
        ),
        1
    );
    let comments = gh.comments(PR);
    assert_eq!(comments.len(), 121);
    let ours: Vec<_> = comments
        .iter()
        .filter(|c| c["body"].as_str().is_some_and(|b| b.starts_with(MARKER)))
        .collect();
    assert_eq!(ours.len(), 1);
    let body = ours[0]["body"].as_str().expect("body");
    assert!(body.contains("❌ Dune pipeline failed"), "{body}");
    assert!(
        body.contains("### Errors") && body.contains("cannot be resolved"),
        "{body}"
    );
    assert!(
        done.log
            .contains("Updated the pipeline's comment on pull request #7")
    );
    assert_eq!(done.outputs["comment_id"], ours[0]["id"].to_string());
    assert_token_hidden(&done);
}

#[tokio::test(flavor = "multi_thread")]
async fn check_run_is_created_in_progress_then_completed_success() {
    // Like GitHub Enterprise Server: the API lives under /api/v3.
    let (gh, sim) = setup("/api/v3", Mode::Normal, None).await;
    let done = github_run(&sim, &gh, Event::PullRequest)
        .input("check_run", "true")
        .run()
        .await;
    assert_eq!(done.exit_code, 0, "{}", done.log);
    assert!(warnings(&done).is_empty(), "{}", done.log);
    let requests = gh.requests();
    let create = requests
        .iter()
        .find(|r| r.method == "POST")
        .expect("create request");
    assert_eq!(create.path, "/api/v3/repos/octo-org/data-models/check-runs");
    assert_eq!(create.body["status"], "in_progress");
    assert_eq!(
        create.body["head_sha"], HEAD,
        "the PR head, not the merge commit"
    );
    assert_eq!(create.body["name"], "Dune pipeline · query 3493826");
    // A later step gets the check run's id (issue 21).
    let runs = gh.check_runs();
    assert_eq!(runs.len(), 1);
    assert_eq!(done.outputs["check_run_id"], runs[0]["id"].to_string());
    let pid = &done.outputs["pipeline_execution_id"];
    assert_eq!(create.body["external_id"].as_str(), Some(pid.as_str()));
    assert!(
        create.body["output"]["title"]
            .as_str()
            .is_some_and(|t| t.contains(pid.as_str()))
    );
    assert_eq!(
        create.body["details_url"],
        "https://github.com/octo-org/data-models/actions/runs/4242"
    );
    let runs = gh.check_runs();
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0]["status"], "completed");
    assert_eq!(runs[0]["conclusion"], "success");
    let summary = runs[0]["output"]["summary"].as_str().expect("summary");
    assert!(
        summary.contains("### Nodes") && summary.contains("| 2 | query |"),
        "{summary}"
    );
    assert_eq!(gh.count("POST", "/check-runs"), 1);
    assert_eq!(
        gh.count("PATCH", &format!("/check-runs/{}", runs[0]["id"])),
        1
    );
    // The PR comment was not asked for.
    assert_eq!(gh.count("GET", "/comments"), 0);
    assert_token_hidden(&done);
}

#[tokio::test(flavor = "multi_thread")]
async fn check_run_concludes_failure_on_a_failed_node() {
    let (gh, sim) = setup("", Mode::Normal, Some(1)).await;
    let done = github_run(&sim, &gh, Event::Push)
        .input("check_run", "true")
        .run()
        .await;
    assert_eq!(done.exit_code, 1, "{}", done.log);
    assert!(warnings(&done).is_empty(), "{}", done.log);
    let runs = gh.check_runs();
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0]["head_sha"], PUSH_SHA, "GITHUB_SHA on a push");
    assert_eq!(runs[0]["conclusion"], "failure");
    assert!(
        runs[0]["output"]["title"]
            .as_str()
            .is_some_and(|t| t.starts_with("failed")),
        "{}",
        runs[0]
    );
    assert_token_hidden(&done);
}

#[tokio::test(flavor = "multi_thread")]
async fn check_run_concludes_timed_out() {
    let gh = FakeGitHub::start(TOKEN, "", Mode::Normal).await;
    let slow = keyed(
        Scenario::from_yaml_or_json(&format!(
            "time_scale: {SPEED}\nqueries:\n  - query_id: 3493826\n    nodes:\n      - {{id: 1, query_id: 3493826, duration: 10m}}\n"
        ))
        .expect("scenario"),
    );
    let sim = Simulator::start(slow).await.expect("simulator");
    let done = github_run(&sim, &gh, Event::Push)
        .input("check_run", "true")
        .input("timeout", "20s")
        .run()
        .await;
    assert_eq!(done.exit_code, 3, "{}", done.log);
    assert_eq!(gh.check_runs()[0]["conclusion"], "timed_out");
}

#[tokio::test(flavor = "multi_thread")]
async fn forbidden_gives_warnings_and_keeps_the_pipelines_result() {
    for (fail, code) in [(None, 0), (Some(2), 1)] {
        let (gh, sim) = setup("", Mode::Forbidden, fail).await;
        let done = github_run(&sim, &gh, Event::PullRequest)
            .input("pr_comment", "true")
            .input("check_run", "true")
            .run()
            .await;
        assert_eq!(done.exit_code, code, "{}", done.log);
        let w = warnings(&done);
        assert_eq!(w.len(), 2, "{}", done.log);
        assert!(
            w.iter()
                .any(|l| l.contains("Pull-request comment not written")
                    && l.contains("403")
                    && l.contains("`pull-requests: write`")),
            "{w:?}"
        );
        assert!(
            w.iter().any(|l| l.contains("Check run not written")
                && l.contains("403")
                && l.contains("`checks: write`")),
            "{w:?}"
        );
        // The pipeline's own reports are all there.
        let expected = if code == 0 { "completed" } else { "failed" };
        assert_eq!(done.outputs["status"], expected);
        assert!(done.outputs.contains_key("nodes"));
        assert!(done.summary.contains("### Nodes"));
        // The check run creation failed, so no completion was attempted.
        assert_eq!(gh.count("PATCH", ""), 0);
        assert_token_hidden(&done);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn rate_limit_and_dead_api_are_warnings_and_bounded() {
    for (mode, says) in [
        (Mode::RateLimited, "rate limit"),
        (Mode::Hang, "did not finish"),
    ] {
        let (gh, sim) = setup("", mode, None).await;
        let started = std::time::Instant::now();
        let done = github_run(&sim, &gh, Event::PullRequest)
            .input("pr_comment", "true")
            .input("check_run", "true")
            .run()
            .await;
        let took = started.elapsed();
        assert_eq!(done.exit_code, 0, "{}", done.log);
        let w = warnings(&done);
        assert_eq!(w.len(), 2, "{mode:?}: {}", done.log);
        assert!(w.iter().all(|l| l.contains(says)), "{mode:?}: {w:?}");
        assert!(w.iter().any(|l| l.contains("`checks: write`")), "{w:?}");
        assert!(
            w.iter().any(|l| l.contains("`pull-requests: write`")),
            "{w:?}"
        );
        assert_eq!(done.outputs["status"], "completed");
        // A dead API costs at most the budgets (20 s of clock time each, at SPEED), not the step.
        assert!(
            took < std::time::Duration::from_secs(10),
            "{mode:?} took {took:?}"
        );
        assert_token_hidden(&done);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn push_event_gives_a_notice_and_no_comment() {
    let (gh, sim) = setup("", Mode::Normal, None).await;
    let done = github_run(&sim, &gh, Event::Push)
        .input("pr_comment", "true")
        .run()
        .await;
    assert_eq!(done.exit_code, 0, "{}", done.log);
    assert!(warnings(&done).is_empty(), "{}", done.log);
    assert!(
        done.log.lines().any(
            |l| l.starts_with("::notice title=No pull-request comment::")
                && l.contains("(`push`) has no pull request")
        ),
        "{}",
        done.log
    );
    assert!(gh.requests().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn no_token_is_one_warning() {
    let (gh, sim) = setup("", Mode::Normal, None).await;
    let done = github_run(&sim, &gh, Event::PullRequest)
        .input("github_token", "")
        .input("pr_comment", "true")
        .input("check_run", "true")
        .run()
        .await;
    assert_eq!(done.exit_code, 0, "{}", done.log);
    let w = warnings(&done);
    assert_eq!(w.len(), 1, "{}", done.log);
    assert!(
        w[0].contains("`github_token` is empty")
            && w[0].contains("`pull-requests: write` and `checks: write`"),
        "{w:?}"
    );
    assert!(gh.requests().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn features_off_by_default_touch_nothing() {
    let (gh, sim) = setup("", Mode::Normal, None).await;
    let done = github_run(&sim, &gh, Event::PullRequest).run().await;
    assert_eq!(done.exit_code, 0, "{}", done.log);
    assert!(warnings(&done).is_empty(), "{}", done.log);
    assert!(!done.log.contains("::notice title=No pull-request"));
    assert!(gh.requests().is_empty());
    assert_token_hidden(&done);
}

#[tokio::test(flavor = "multi_thread")]
async fn invalid_booleans_exit_2() {
    let (gh, sim) = setup("", Mode::Normal, None).await;
    for input in ["pr_comment", "check_run"] {
        let done = github_run(&sim, &gh, Event::PullRequest)
            .input(input, "yes")
            .run()
            .await;
        assert_eq!(done.exit_code, 2, "{}", done.log);
        assert!(
            done.log.contains(&format!("Invalid input `{input}`")),
            "{}",
            done.log
        );
    }
    assert_eq!(sim.pipelines_started(), 0);
    assert!(gh.requests().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_pipeline_that_never_started_still_leaves_a_completed_check() {
    let (gh, sim) = setup("", Mode::Normal, None).await;
    let done = github_run(&sim, &gh, Event::PullRequest)
        .input("api_key", "wrong-key-123")
        .input("check_run", "true")
        .input("pr_comment", "true")
        .run()
        .await;
    assert_eq!(done.exit_code, 4, "{}", done.log);
    assert!(warnings(&done).is_empty(), "{}", done.log);
    let runs = gh.check_runs();
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0]["status"], "completed");
    assert_eq!(runs[0]["conclusion"], "failure");
    assert_eq!(gh.count("PATCH", "/check-runs"), 0);
    let body = gh.comments(PR)[0]["body"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(body.contains("Dune API error"), "{body}");
}
