//! Issue 23: SQL files in pipeline files. `sync_sql` updates the saved queries whose SQL differs from
//! their files, `only_changed` runs what changed and everything downstream, and a failed node's SQL
//! error is annotated on its line of the file.

use dune_sim::{SavedQuery, Scenario, Simulator};
use serde_json::{Value, json};

use crate::common::{ActionRun, Finished, keyed, snapshot_settings};

const SPEED: f64 = 50.0;

/// Five query nodes: 1 → 2 → 4 → 5, and 3 → 4.
const PIPELINE: &str = "pipeline:
  nodes:
    - id: 1
      sql: queries/q1.sql
      query_execution: {query_id: 501}
    - id: 2
      dependencies: [1]
      sql: queries/q2.sql
      query_execution: {query_id: 502}
    - id: 3
      sql: queries/q3.sql
      query_execution: {query_id: 503}
    - id: 4
      dependencies: [2, 3]
      sql: queries/q4.sql
      query_execution: {query_id: 504}
    - id: 5
      dependencies: [4]
      sql: queries/q5.sql
      query_execution: {query_id: 505}
";

fn saved_sql(i: u64) -> String {
    format!("SELECT day, volume\nFROM dune.acme.step_{i}\nWHERE day > now() - interval '7' day\n")
}

/// The five queries saved on Dune with the SQL the repository had before the push.
fn five_saved(key_can_write: bool) -> Scenario {
    let mut s = keyed(Scenario::default().with_time_scale(SPEED));
    s.saved_queries = (1..=5)
        .map(|i| SavedQuery::new(500 + i, saved_sql(i)))
        .collect();
    s.key_can_write = key_can_write;
    s
}

/// The repository: the pipeline file and the five SQL files, in CRLF (line endings do not count).
fn checkout(run: &ActionRun, changed: Option<(u64, &str)>) {
    let dir = run.workspace().join("dune/queries");
    std::fs::create_dir_all(&dir).expect("mkdir");
    std::fs::write(run.workspace().join("dune/pipeline.yml"), PIPELINE).expect("write");
    for i in 1..=5 {
        let text = match changed {
            Some((c, text)) if c == i => text.to_string(),
            _ => saved_sql(i).replace('\n', "\r\n"),
        };
        std::fs::write(dir.join(format!("q{i}.sql")), text).expect("write");
    }
}

fn run(sim: &Simulator) -> ActionRun {
    ActionRun::against(sim, SPEED)
        .input("pipeline_file", "dune/pipeline.yml")
        .input("sync_sql", "true")
        .input("only_changed", "true")
}

fn writes(sim: &Simulator) -> Vec<(String, Value)> {
    sim.requests()
        .iter()
        .filter(|r| r.method == "PATCH")
        .map(|r| {
            (
                r.path.clone(),
                serde_json::from_str(&r.body).expect("json body"),
            )
        })
        .collect()
}

fn started(sim: &Simulator) -> Vec<Value> {
    sim.requests()
        .iter()
        .filter(|r| r.method == "POST" && r.path == "/api/v1/pipelines/execute")
        .map(|r| serde_json::from_str(&r.body).expect("json body"))
        .collect()
}

fn ids_and_deps(body: &Value) -> Vec<(i64, Value)> {
    body["pipeline"]["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .map(|n| (n["id"].as_i64().expect("id"), n["dependencies"].clone()))
        .collect()
}

/// The summary's SQL sync section, up to the next section.
fn sql_section(summary: &str) -> &str {
    let start = summary.find("### SQL sync").expect("a SQL sync section");
    let rest = &summary[start..];
    let end = rest[3..].find("\n### ").map_or(rest.len(), |e| e + 4);
    &rest[..end]
}

fn status(done: &Finished) -> &str {
    done.outputs.get("status").map_or("", String::as_str)
}

const CHANGED_Q2: &str =
    "SELECT day, volume, fees\nFROM dune.acme.step_2\nWHERE day > now() - interval '7' day\n";

#[tokio::test(flavor = "multi_thread")]
async fn a_push_changing_one_of_five_sql_files_updates_that_query_and_runs_it_and_downstream() {
    let sim = Simulator::start(five_saved(true)).await.expect("simulator");
    let first = run(&sim);
    checkout(&first, Some((2, CHANGED_Q2)));
    let done = first.run().await;
    assert_eq!(done.exit_code, 0, "{}", done.log);
    assert_eq!(status(&done), "completed");
    // Exactly the changed query is updated, with the file's SQL.
    assert_eq!(
        writes(&sim),
        vec![(
            "/api/v1/query/502".to_string(),
            json!({"query_sql": CHANGED_Q2})
        )]
    );
    // Exactly node 2 and what is downstream of it run, with the dependencies among them.
    let posted = started(&sim);
    assert_eq!(posted.len(), 1, "{posted:?}");
    assert_eq!(
        ids_and_deps(&posted[0]),
        vec![(2, json!([])), (4, json!([2])), (5, json!([4]))]
    );
    assert_eq!(posted[0]["pipeline"]["nodes"][0].get("sql"), None);
    let nodes = done.json("nodes");
    let ran: Vec<i64> = nodes
        .as_array()
        .expect("nodes")
        .iter()
        .map(|n| n["id"].as_i64().expect("id"))
        .collect();
    assert_eq!(ran, vec![2, 4, 5]);
    // The summary: the update with its diff and Dune's version after, the others counted, and the DAG
    // saying why each node ran.
    let s = &done.summary;
    assert!(s.contains("### SQL sync"), "{s}");
    assert!(s.contains("1 of 5 queries updated, 4 up to date"), "{s}");
    assert!(s.contains("**Updated** query [502]"), "{s}");
    assert!(s.contains("version 1 → 2"), "{s}");
    assert!(
        s.contains("<details><summary>Diff of query 502</summary>"),
        "{s}"
    );
    assert!(
        s.contains("```diff\n--- query 502 (version 1 on Dune)\n+++ dune/queries/q2.sql\n"),
        "{s}"
    );
    assert!(
        s.contains("-SELECT day, volume\n+SELECT day, volume, fees\n"),
        "{s}"
    );
    assert!(s.contains("2: query 502<br/>SQL changed"), "{s}");
    assert!(s.contains("4: query 504<br/>downstream of 2"), "{s}");
    assert!(s.contains("1: query 501<br/>not run: unchanged"), "{s}");
    assert!(s.contains("class n1,n3 notrun"), "{s}");
    snapshot_settings().bind(|| insta::assert_snapshot!("sql_sync_section", sql_section(s)));

    // The same checkout again: nothing differs, nothing is written, nothing runs.
    let second = run(&sim);
    checkout(&second, Some((2, CHANGED_Q2)));
    let again = second.run().await;
    assert_eq!(again.exit_code, 0, "{}", again.log);
    assert_eq!(status(&again), "unchanged");
    assert_eq!(writes(&sim).len(), 1, "no second update");
    assert_eq!(started(&sim).len(), 1, "no second pipeline");
    assert!(
        again
            .summary
            .contains("0 of 5 queries updated, 5 up to date")
    );
    assert!(
        again.summary.contains("**No query's SQL changed**"),
        "{}",
        again.summary
    );
    assert!(
        again.log.contains("::notice title=No SQL changed::"),
        "{}",
        again.log
    );
    assert_eq!(again.outputs["pipeline_execution_id"], "");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_broken_sql_line_is_annotated_at_its_file_line_and_column() {
    let sim = Simulator::start(five_saved(true)).await.expect("simulator");
    let run = run(&sim);
    // Line 2, column 15: the `!!` the simulator fails on, as Dune points at a syntax error.
    checkout(
        &run,
        Some((
            4,
            "SELECT day,\n       volume !! fees\nFROM dune.acme.step_4\n",
        )),
    );
    let done = run.run().await;
    assert_eq!(done.exit_code, 1, "{}", done.log);
    assert_eq!(status(&done), "failed");
    assert!(
        done.log.contains(
            "::error file=dune/queries/q4.sql,line=2,col=15,title=Node 4 (query 504) failed::line 2:15: mismatched input '!!'"
        ),
        "{}",
        done.log
    );
    assert!(
        done.summary
            .contains("line 2, column 15, of `dune/queries/q4.sql`"),
        "{}",
        done.summary
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_key_without_write_scope_fails_before_anything_runs_naming_the_scope() {
    let sim = Simulator::start(five_saved(false))
        .await
        .expect("simulator");
    let run = run(&sim);
    checkout(&run, Some((2, CHANGED_Q2)));
    let done = run.run().await;
    assert_eq!(done.exit_code, 4, "{}", done.log);
    assert_eq!(status(&done), "error");
    assert!(started(&sim).is_empty(), "nothing runs");
    assert_eq!(writes(&sim).len(), 1, "the one refused update");
    assert!(
        done.log.contains(
            "::error title=Dune API key cannot update queries::PATCH /api/v1/query/502: HTTP 403"
        ),
        "{}",
        done.log
    );
    assert!(
        done.log.contains("needs a key with the Read/Write scope"),
        "{}",
        done.log
    );
    assert!(
        done.log
            .contains("SQL updated: none; not updated: queries 502. Nothing was run."),
        "{}",
        done.log
    );
    assert!(
        done.summary.contains("**Not updated** query [502]"),
        "{}",
        done.summary
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_dry_run_shows_what_would_be_updated_and_updates_nothing() {
    let sim = Simulator::start(five_saved(true)).await.expect("simulator");
    let run = run(&sim).input("dry_run", "true");
    checkout(&run, Some((5, "SELECT 5\n")));
    let done = run.run().await;
    assert_eq!(done.exit_code, 0, "{}", done.log);
    assert_eq!(status(&done), "planned");
    assert!(writes(&sim).is_empty());
    assert!(started(&sim).is_empty());
    assert!(
        done.summary.contains(
            "Dry run: 1 of 5 queries would be updated, 4 up to date. Nothing was updated."
        ),
        "{}",
        done.summary
    );
    assert!(done.summary.contains("**Would update** query [505]"));
    let planned: Vec<i64> = done
        .json("nodes")
        .as_array()
        .expect("nodes")
        .iter()
        .map(|n| n["id"].as_i64().expect("id"))
        .collect();
    assert_eq!(planned, vec![5]);
}

#[tokio::test(flavor = "multi_thread")]
async fn sql_without_a_query_id_and_missing_files_are_input_errors_on_the_pipeline_file() {
    let sim = Simulator::start(five_saved(true)).await.expect("simulator");
    let run = ActionRun::against(&sim, SPEED).input("pipeline_file", "p.yml");
    std::fs::write(
        run.workspace().join("p.yml"),
        "pipeline:\n  nodes:\n    - id: 1\n      sql: new.sql\n      query_execution: {performance: large}\n    - id: 2\n      sql: gone.sql\n      query_execution: {query_id: 7}\n",
    )
    .expect("write");
    std::fs::write(run.workspace().join("new.sql"), "SELECT 1").expect("write");
    let done = run.run().await;
    assert_eq!(done.exit_code, 2, "{}", done.log);
    assert!(
        done.log.contains(
            "::error file=p.yml,line=4,col=7,title=Pipeline file p.yml::node 1: has `sql` but no query id: the action does not create queries. Create the query on Dune first"
        ),
        "{}",
        done.log
    );
    assert!(
        done.log
            .contains("::error file=p.yml,line=7,col=7,title=Pipeline file p.yml::node 2: cannot read the SQL file gone.sql"),
        "{}",
        done.log
    );
    assert!(sim.requests().is_empty(), "nothing was sent");
}

#[tokio::test(flavor = "multi_thread")]
async fn only_changed_needs_sync_sql_and_sync_sql_needs_a_file() {
    let sim = Simulator::start(five_saved(true)).await.expect("simulator");
    let run = ActionRun::against(&sim, SPEED)
        .input("pipeline_file", "dune/pipeline.yml")
        .input("only_changed", "true");
    checkout(&run, None);
    let done = run.run().await;
    assert_eq!(done.exit_code, 2);
    assert!(
        done.log
            .contains("input `only_changed`: needs `sync_sql: true`"),
        "{}",
        done.log
    );
    let done = ActionRun::against(&sim, SPEED)
        .input("query_id", "501")
        .input("sync_sql", "true")
        .run()
        .await;
    assert_eq!(done.exit_code, 2);
    assert!(
        done.log
            .contains("input `sync_sql`: needs a `pipeline_file`"),
        "{}",
        done.log
    );
}
