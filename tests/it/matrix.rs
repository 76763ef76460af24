//! Matrix-safe reporting (issue 21, point 4), from outside: jobs of a matrix over one query with different
//! parameters keep a comment and a check run each, a re-run of one job edits its own comment, and a comment
//! by another identity is never edited, whatever marker it carries. Against the fake GitHub, which knows
//! whose token wrote which comment.

use serde_json::Value;

use crate::common::Finished;
use crate::fake_github::{Account, FakeGitHub, Mode};
use crate::github::{Event, PR, github_run, scenario, setup, warnings};
use dune_sim::Simulator;

/// One job of the matrix: the query with `params`, a comment and a check run, and `extra` inputs.
async fn job(gh: &FakeGitHub, params: &str, extra: &[(&str, &str)]) -> Finished {
    let sim = Simulator::start(scenario(None)).await.expect("simulator");
    let mut run = github_run(&sim, gh, Event::PullRequest)
        .input("query_parameters", params)
        .input("pr_comment", "true")
        .input("check_run", "true");
    for (k, v) in extra {
        run = run.input(k, v);
    }
    let done = run.run().await;
    assert_eq!(done.exit_code, 0, "{}", done.log);
    assert!(warnings(&done).is_empty(), "{}", done.log);
    done
}

/// PATCHes of any issue comment.
fn comment_edits(gh: &FakeGitHub) -> usize {
    gh.requests()
        .iter()
        .filter(|r| r.method == "PATCH" && r.path.contains("/issues/comments/"))
        .count()
}

fn ids(values: &[Value]) -> Vec<String> {
    values.iter().map(|v| v["id"].to_string()).collect()
}

fn body_of(gh: &FakeGitHub, id: &str) -> String {
    gh.comments(PR)
        .iter()
        .find(|c| c["id"].as_u64().map(|n| n.to_string()).as_deref() == Some(id))
        .and_then(|c| c["body"].as_str().map(str::to_string))
        .expect("the comment")
}

#[tokio::test(flavor = "multi_thread")]
async fn a_matrix_over_parameters_keeps_two_comments_and_two_check_runs_and_a_rerun_edits_its_own()
{
    // Like GitHub Enterprise Server: REST under /api/v3, GraphQL at /api/graphql.
    let (gh, _) = setup("/api/v3", Mode::Normal, None).await;
    let eth = job(&gh, r#"{"chain": "ethereum", "days": 7}"#, &[]).await;
    let base = job(&gh, r#"{"chain": "base", "days": 7}"#, &[]).await;

    let comments = gh.comments(PR);
    assert_eq!(comments.len(), 2, "one comment per job");
    assert_eq!(comment_edits(&gh), 0);
    assert_eq!(
        ids(&comments),
        vec![
            eth.outputs["comment_id"].clone(),
            base.outputs["comment_id"].clone()
        ]
    );
    let (eth_body, base_body) = (
        body_of(&gh, &eth.outputs["comment_id"]),
        body_of(&gh, &base.outputs["comment_id"]),
    );
    let marker = |b: &str| b.lines().next().unwrap_or_default().to_string();
    assert!(
        marker(&eth_body).starts_with("<!-- dune-pipeline-action query:3493826;params:"),
        "{eth_body}"
    );
    assert_ne!(marker(&eth_body), marker(&base_body));
    let runs = gh.check_runs();
    assert_eq!(runs.len(), 2, "one check run per job");
    assert_eq!(
        ids(&runs),
        vec![
            eth.outputs["check_run_id"].clone(),
            base.outputs["check_run_id"].clone()
        ]
    );
    assert!(runs.iter().all(|r| r["conclusion"] == "success"));
    // The job's token is an installation token: `GET /user` is refused, GraphQL's viewer answers.
    assert_eq!(gh.count("GET", "/api/v3/user"), 2);
    assert_eq!(gh.count("POST", "/api/graphql"), 2);

    // A re-run of the ethereum job, its parameters written in another order: it edits its own comment.
    let again = job(&gh, r#"{"days": 7, "chain": "ethereum"}"#, &[]).await;
    assert_eq!(gh.comments(PR).len(), 2);
    assert_eq!(again.outputs["comment_id"], eth.outputs["comment_id"]);
    assert_eq!(
        gh.count(
            "PATCH",
            &format!("/issues/comments/{}", eth.outputs["comment_id"])
        ),
        1
    );
    assert_eq!(comment_edits(&gh), 1);
    assert!(
        again
            .log
            .contains("Updated the pipeline's comment on pull request #7")
    );
    assert_eq!(body_of(&gh, &base.outputs["comment_id"]), base_body);
    // Its check run is a new one on the commit, and the output names it.
    assert_eq!(gh.check_runs().len(), 3);
    assert_eq!(
        again.outputs["check_run_id"],
        gh.check_runs()[2]["id"].to_string()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn comment_tag_keys_the_comment_and_names_the_check_and_check_name_overrides_it() {
    let (gh, _) = setup("", Mode::Normal, None).await;
    let eth = job(
        &gh,
        r#"{"chain": "ethereum"}"#,
        &[("comment_tag", "ethereum")],
    )
    .await;
    let base = job(
        &gh,
        r#"{"chain": "base"}"#,
        &[("comment_tag", "base"), ("check_name", "Dune · Base chain")],
    )
    .await;
    let names: Vec<Value> = gh.check_runs().iter().map(|r| r["name"].clone()).collect();
    assert_eq!(
        names,
        vec![
            Value::from("Dune pipeline · query 3493826 · ethereum"),
            Value::from("Dune · Base chain")
        ]
    );
    assert!(
        body_of(&gh, &eth.outputs["comment_id"])
            .starts_with("<!-- dune-pipeline-action query:3493826;tag:ethereum -->\n")
    );
    assert!(
        body_of(&gh, &base.outputs["comment_id"])
            .starts_with("<!-- dune-pipeline-action query:3493826;tag:base -->\n")
    );
    // The tag, not the parameters, keys the comment: new parameters under the same tag edit it.
    let again = job(
        &gh,
        r#"{"chain": "ethereum", "days": 30}"#,
        &[("comment_tag", "ethereum")],
    )
    .await;
    assert_eq!(again.outputs["comment_id"], eth.outputs["comment_id"]);
    assert_eq!(gh.comments(PR).len(), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_comment_by_another_identity_with_the_same_marker_is_never_edited() {
    let (gh, _) = setup("", Mode::Normal, None).await;
    let marker = "<!-- dune-pipeline-action query:3493826 -->";
    let person = Account::user("octo-reviewer", 583231);
    let other_app = Account::app("other-dune-bot", 90001);
    gh.seed_comment_by(PR, &format!("{marker}\nquoted by a person"), &person);
    gh.seed_comment_by(PR, &format!("{marker}\nanother app's"), &other_app);
    let seeded = gh.comments(PR);

    let sim = Simulator::start(scenario(None)).await.expect("simulator");
    let first = github_run(&sim, &gh, Event::PullRequest)
        .input("pr_comment", "true")
        .run()
        .await;
    assert_eq!(first.exit_code, 0, "{}", first.log);
    assert!(warnings(&first).is_empty(), "{}", first.log);
    assert_eq!(gh.count("PATCH", ""), 0, "no one else's comment is edited");
    assert_eq!(gh.count("POST", "/issues/7/comments"), 1);
    let comments = gh.comments(PR);
    assert_eq!(comments.len(), 3);
    assert_eq!(
        comments[..2],
        seeded[..],
        "the others' comments are untouched"
    );
    assert_eq!(comments[2]["user"]["login"], "github-actions[bot]");
    assert_eq!(first.outputs["comment_id"], comments[2]["id"].to_string());

    // A re-run edits only the comment its own identity wrote.
    let sim = Simulator::start(scenario(Some(2)))
        .await
        .expect("simulator");
    let again = github_run(&sim, &gh, Event::PullRequest)
        .input("pr_comment", "true")
        .run()
        .await;
    assert_eq!(again.exit_code, 1, "{}", again.log);
    assert_eq!(gh.count("PATCH", ""), 1);
    assert_eq!(
        gh.count("PATCH", &format!("/issues/comments/{}", comments[2]["id"])),
        1
    );
    assert_eq!(gh.comments(PR)[..2], seeded[..]);
    assert_eq!(again.outputs["comment_id"], first.outputs["comment_id"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_personal_access_token_is_known_by_get_user_and_keeps_its_own_comment() {
    let (gh, _) = setup("", Mode::Normal, None).await;
    const PAT: &str = "ghp_FakePersonalToken0123456789";
    gh.add_token(PAT, Account::user("octo-dev", 777));
    let run = |fail: Option<i64>| {
        let gh = &gh;
        async move {
            let sim = Simulator::start(scenario(fail)).await.expect("simulator");
            github_run(&sim, gh, Event::PullRequest)
                .input("github_token", PAT)
                .input("pr_comment", "true")
                .run()
                .await
        }
    };
    // The job's own token wrote a comment with the same marker before (another workflow's step).
    let by_job_token = {
        let sim = Simulator::start(scenario(None)).await.expect("simulator");
        github_run(&sim, &gh, Event::PullRequest)
            .input("pr_comment", "true")
            .run()
            .await
    };
    let first = run(None).await;
    assert_eq!(first.exit_code, 0, "{}", first.log);
    assert_ne!(
        first.outputs["comment_id"], by_job_token.outputs["comment_id"],
        "the bot's comment is not the PAT's"
    );
    let second = run(Some(2)).await;
    assert_eq!(second.outputs["comment_id"], first.outputs["comment_id"]);
    let comments = gh.comments(PR);
    assert_eq!(comments.len(), 2);
    assert_eq!(comments[1]["user"]["login"], "octo-dev");
    // `GET /user` answered the PAT: no GraphQL for it.
    let pat_requests: Vec<_> = gh
        .requests()
        .into_iter()
        .filter(|r| r.authorization.as_deref() == Some(&format!("Bearer {PAT}")))
        .collect();
    assert!(pat_requests.iter().any(|r| r.path == "/user"));
    assert!(!pat_requests.iter().any(|r| r.path == "/graphql"));
    // The PAT is masked and appears nowhere else.
    let everything = second.everything();
    let hits: Vec<&str> = everything.lines().filter(|l| l.contains(PAT)).collect();
    assert_eq!(hits, vec![format!("::add-mask::{PAT}")], "{everything}");
}
