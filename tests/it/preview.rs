//! `preview: true` from outside: a pull request that changes one of three SQL files previews exactly that
//! query with `POST /v1/sql/execute` and nothing else that could change what is saved; the summary (the
//! sticky comment's body) and the `preview` output show the known changes the simulator derives from the
//! SQL; a keyed diff marks the changed cell; an unchanged result says so; a broken line is annotated.

use std::time::Duration;

use dune_sim::{LatestResult, SavedQuery, Scenario, Simulator};
use serde_json::{Value, json};

use crate::common::{ActionRun, Finished, commands, keyed, snapshot_settings};
use crate::dag::write_file;
use crate::fake_github::{FakeGitHub, Mode};
use crate::github::{Event, PR, TOKEN, github_run};
use crate::schema::assert_conforms;

const SPEED: f64 = 50.0;

const SAVED_A: &str = "SELECT id, chain, volume FROM dex.trades LIMIT 20";
const SAVED_B: &str = "SELECT id, chain, volume, fee\nFROM dex.trades\nLIMIT 100";
const SAVED_C: &str = "SELECT id, volume FROM daily LIMIT 10";

const PIPELINE: &str = "pipeline:
  nodes:
    - id: 1
      query_execution: {query_id: 101}
      sql: queries/a.sql
    - id: 2
      query_execution: {query_id: 102, performance: large}
      sql: queries/b.sql
    - id: 3
      dependencies: [2]
      query_execution: {query_id: 103}
      sql: queries/c.sql
";

/// Queries 101 to 103 with their saved SQL and a saved result of that SQL.
fn scenario(saved_b: &str) -> Scenario {
    let mut s = keyed(Scenario::default());
    s.time_scale = SPEED;
    for (q, sql) in [(101, SAVED_A), (102, saved_b), (103, SAVED_C)] {
        s.saved_queries.push(SavedQuery::new(q, sql));
        let mut l = LatestResult::new(q, Duration::from_secs(3600));
        l.sql = Some(sql.to_string());
        s.latest_results.push(l);
    }
    s
}

/// A run of the pipeline file with `b.sql` as `file_b` (the others as saved).
fn run(sim: &Simulator, file_b: &str) -> ActionRun {
    with_files(ActionRun::against(sim, SPEED), file_b)
}

/// `run` with the pipeline file and its SQL files, `b.sql` as `file_b`, and `preview: true`.
fn with_files(run: ActionRun, file_b: &str) -> ActionRun {
    write_file(&run, "pipeline.yml", PIPELINE);
    write_file(&run, "queries/a.sql", &format!("{SAVED_A}\n"));
    write_file(&run, "queries/b.sql", file_b);
    write_file(&run, "queries/c.sql", SAVED_C);
    run.input("pipeline_file", "pipeline.yml")
        .input("preview", "true")
}

/// Nothing sent may change what is saved: reads, and raw SQL executions only.
fn assert_nothing_saved_changed(sim: &Simulator) -> Vec<Value> {
    let mut executed = Vec::new();
    for r in sim.requests() {
        match (r.method.as_str(), r.path.as_str()) {
            ("GET", _) => {}
            ("POST", "/api/v1/sql/execute") => {
                executed.push(serde_json::from_str(&r.body).expect("JSON body"));
            }
            (m, p) => panic!("a request that may change something saved: {m} {p}"),
        }
    }
    executed
}

/// The one previewed query of the `preview` output, which conforms to its schema.
fn only_preview(done: &Finished) -> Value {
    let p = done.json("preview");
    assert_conforms("preview", &p);
    let items = p.as_array().expect("preview is an array");
    assert_eq!(items.len(), 1, "{p}");
    items[0].clone()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_change_to_one_of_three_sql_files_previews_exactly_that_query() {
    let sim = Simulator::start(scenario(SAVED_B))
        .await
        .expect("simulator");
    let changed = "SELECT id, chain, volume, fee, tx_count\nFROM dex.trades\nLIMIT 80\n";
    let done = run(&sim, changed).run().await;
    assert_eq!(done.exit_code, 0, "{}", done.log);
    assert_eq!(done.outputs["status"], "previewed");
    let executed = assert_nothing_saved_changed(&sim);
    assert_eq!(
        executed,
        vec![json!({"sql": changed, "performance": "large"})],
        "exactly the changed query, on its node's tier"
    );
    let p = only_preview(&done);
    assert_eq!(
        (
            p["query_id"].clone(),
            p["sql_file"].clone(),
            p["status"].clone()
        ),
        (json!(102), json!("queries/b.sql"), json!("changed"))
    );
    assert_eq!(
        (p["rows_before"].clone(), p["rows_after"].clone()),
        (json!(100), json!(80))
    );
    assert_eq!(
        p["columns_added"],
        json!([{"name": "tx_count", "type": "bigint"}])
    );
    assert_eq!(p["columns_removed"], json!([]));
    // A column more: every whole row differs.
    assert_eq!(
        (p["rows_removed"].clone(), p["rows_added"].clone()),
        (json!(100), json!(80))
    );
    assert!(p["credits"].as_f64().is_some_and(|c| c > 0.0), "{p}");
    let s = &done.summary;
    assert!(s.contains("| Rows | 100 | 80 (−20) |"), "{s}");
    assert!(s.contains("Columns added: `tx_count` (bigint)"), "{s}");
    assert!(s.contains("[102](https://dune.com/queries/102)"), "{s}");
    assert!(s.contains("credits spent"), "{s}");
    assert!(
        s.contains("Node 3 (query [103](https://dune.com/queries/103)): runs after node 2"),
        "{s}"
    );
    assert!(
        s.contains("2 more queries with a SQL file equal to the saved SQL were not previewed"),
        "{s}"
    );
    let mut settings = snapshot_settings();
    settings.add_filter(r"in \d+(\.\d+)? ?m?s\.", "in [WALL].");
    settings.bind(|| insta::assert_snapshot!("preview_changed", done.summary));
}

#[tokio::test(flavor = "multi_thread")]
async fn fewer_rows_of_the_same_columns_are_rows_only_in_the_saved_result() {
    let sim = Simulator::start(scenario(SAVED_B))
        .await
        .expect("simulator");
    let done = run(
        &sim,
        "SELECT id, chain, volume, fee\nFROM dex.trades\nLIMIT 95\n",
    )
    .input("preview_rows", "2")
    .run()
    .await;
    assert_eq!(done.exit_code, 0, "{}", done.log);
    let p = only_preview(&done);
    assert_eq!(
        (p["rows_removed"].clone(), p["rows_added"].clone()),
        (json!(5), json!(0))
    );
    let s = &done.summary;
    assert!(
        s.contains("Rows only in the saved result (first 2 shown)"),
        "{s}"
    );
    // The rows the LIMIT dropped are the last five ids: the second look found two of them.
    let shown = s
        .split("Rows only in the saved result (first 2 shown)")
        .nth(1)
        .unwrap_or("");
    assert!(shown.contains("| 96 |") || shown.contains("| 97 |"), "{s}");
    assert_nothing_saved_changed(&sim);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_keyed_diff_marks_the_changed_cell() {
    let saved = "SELECT id, volume, fee FROM t LIMIT 5";
    let sim = Simulator::start(scenario(saved)).await.expect("simulator");
    let done = run(&sim, "SELECT id, volume * 2 AS volume, fee FROM t LIMIT 6")
        .input("diff_key", "id")
        .run()
        .await;
    assert_eq!(done.exit_code, 0, "{}", done.log);
    let p = only_preview(&done);
    assert_eq!(
        p["keyed"],
        json!({"key": ["id"], "changed": 5, "only_before": 0, "only_after": 1, "missing_columns": []})
    );
    let s = &done.summary;
    assert!(s.contains("**Rows matched by `id`**: 5 changed, 0 keys only in the saved result, 1 only in the preview."), "{s}");
    // Each changed row: `id` and `fee` plain, `volume` marked before → after.
    let table = s
        .split("Changed rows, before → after in bold")
        .nth(1)
        .expect("a changed-rows table");
    let first_row = table
        .lines()
        .find(|l| l.starts_with("| 1 |"))
        .expect("the row of id 1");
    let cells: Vec<&str> = first_row
        .trim_matches('|')
        .split(" | ")
        .map(str::trim)
        .collect();
    assert_eq!(cells.len(), 3, "{first_row}");
    assert!(
        !cells[0].contains("**") && !cells[2].contains("**"),
        "{first_row}"
    );
    assert!(
        cells[1].starts_with("**") && cells[1].contains(" → "),
        "{first_row}"
    );
    let mut settings = snapshot_settings();
    settings.add_filter(r"in \d+(\.\d+)? ?m?s\.", "in [WALL].");
    settings.bind(|| insta::assert_snapshot!("preview_keyed", done.summary));
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unchanged_result_says_so() {
    let sim = Simulator::start(scenario(SAVED_B))
        .await
        .expect("simulator");
    let reformatted =
        "-- daily fees\nselect id, chain, volume, fee\n  from dex.trades\n  limit 100\n";
    let done = run(&sim, reformatted).run().await;
    assert_eq!(done.exit_code, 0, "{}", done.log);
    let p = only_preview(&done);
    assert_eq!(p["status"], "unchanged");
    assert!(
        done.summary.contains("**No change in the data**"),
        "{}",
        done.summary
    );
    assert_nothing_saved_changed(&sim);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_broken_sql_line_is_annotated_and_the_step_fails() {
    let sim = Simulator::start(scenario(SAVED_B))
        .await
        .expect("simulator");
    let done = run(&sim, "SELECT id,\n  chain,\n  volume,\nFROM dex.trades\n")
        .run()
        .await;
    assert_eq!(done.exit_code, 1, "{}", done.log);
    assert_eq!(done.outputs["status"], "failed");
    let annotations: Vec<String> = commands(&done.log)
        .into_iter()
        .filter(|c| c.starts_with("::error file=queries/b.sql"))
        .collect();
    assert_eq!(annotations.len(), 1, "{}", done.log);
    assert!(
        annotations[0].starts_with("::error file=queries/b.sql,line=4,col=1,"),
        "{}",
        annotations[0]
    );
    let p = only_preview(&done);
    assert_eq!(p["status"], "failed");
    assert_eq!(
        (p["error"]["line"].clone(), p["error"]["column"].clone()),
        (json!(4), json!(1))
    );
    assert!(
        done.summary
            .contains("The SQL failed at line 4, column 1 of `queries/b.sql`"),
        "{}",
        done.summary
    );
    assert_nothing_saved_changed(&sim);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_dry_run_lists_what_would_be_previewed_and_executes_nothing() {
    let sim = Simulator::start(scenario(SAVED_B))
        .await
        .expect("simulator");
    let done = run(&sim, "SELECT id FROM dex.trades\n")
        .input("dry_run", "true")
        .run()
        .await;
    assert_eq!(done.exit_code, 0, "{}", done.log);
    assert_eq!(done.outputs["status"], "planned");
    assert!(assert_nothing_saved_changed(&sim).is_empty());
    let p = only_preview(&done);
    assert_eq!(
        (p["query_id"].clone(), p["status"].clone()),
        (json!(102), json!("planned"))
    );
    assert!(
        done.log
            .contains("Dry run: query 102 (queries/b.sql) would be previewed on large"),
        "{}",
        done.log
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn without_a_saved_result_the_preview_says_so() {
    let mut s = scenario(SAVED_B);
    for l in &mut s.latest_results {
        if l.query_id == 102 {
            l.state = dune_sim::Outcome::Failed;
        }
    }
    let sim = Simulator::start(s).await.expect("simulator");
    let done = run(&sim, "SELECT id, fee FROM dex.trades LIMIT 7")
        .run()
        .await;
    assert_eq!(done.exit_code, 0, "{}", done.log);
    let p = only_preview(&done);
    assert_eq!(
        (
            p["status"].clone(),
            p["saved_result"].clone(),
            p["rows_after"].clone()
        ),
        (json!("no_saved_result"), json!(false), json!(7))
    );
    assert!(
        done.summary.contains("**No saved result to compare with**"),
        "{}",
        done.summary
    );
    assert_nothing_saved_changed(&sim);
}

#[tokio::test(flavor = "multi_thread")]
async fn without_preview_the_output_is_an_empty_array() {
    let sim = Simulator::start(scenario(SAVED_B))
        .await
        .expect("simulator");
    let done = run(&sim, SAVED_B)
        .input("preview", "false")
        .input("dry_run", "true")
        .run()
        .await;
    assert_eq!(done.exit_code, 0, "{}", done.log);
    assert_eq!(done.json("preview"), json!([]));
    assert_conforms("preview", &done.json("preview"));
}

#[tokio::test(flavor = "multi_thread")]
async fn preview_needs_a_pipeline_file() {
    let sim = Simulator::start(scenario(SAVED_B))
        .await
        .expect("simulator");
    let done = ActionRun::against(&sim, SPEED)
        .input("query_id", "102")
        .input("preview", "true")
        .run()
        .await;
    assert_eq!(done.exit_code, 2, "{}", done.log);
    assert!(done.log.contains("Invalid input `preview`"), "{}", done.log);
    assert!(sim.requests().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn the_sticky_comment_shows_the_known_changes() {
    let gh = FakeGitHub::start(TOKEN, "", Mode::Normal).await;
    let sim = Simulator::start(scenario(SAVED_B))
        .await
        .expect("simulator");
    let pr = github_run(&sim, &gh, Event::PullRequest).without("query_id");
    let done = with_files(
        pr,
        "SELECT id, chain, volume, fee, tx_count\nFROM dex.trades\nLIMIT 80\n",
    )
    .input("pr_comment", "true")
    .run()
    .await;
    assert_eq!(done.exit_code, 0, "{}", done.log);
    let comments = gh.comments(PR);
    assert_eq!(comments.len(), 1, "{}", done.log);
    let body = comments[0]["body"].as_str().expect("body");
    assert!(body.contains("🔎 Data preview"), "{body}");
    assert!(body.contains("| Rows | 100 | 80 (−20) |"), "{body}");
    assert!(
        body.contains("Columns added: `tx_count` (bigint)"),
        "{body}"
    );
    assert!(
        body.contains("[102](https://dune.com/queries/102)"),
        "{body}"
    );
    assert_nothing_saved_changed(&sim);
}
