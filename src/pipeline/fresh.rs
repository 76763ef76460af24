//! `max_age`: before anything is executed, the latest result of each of the pipeline's sink queries is read
//! (`GET /api/v1/query/{id}/results`, one row), and the last refresh of each of its materialized views
//! (`GET /api/v1/materialized-views/{name}`, then the newest refresh executions' status); when every sink
//! completed and every view was refreshed within `max_age`, the run reuses the results instead of
//! executing the pipeline again. A root query run by hand on dune.com is fresh, but the views upstream of
//! it may be days old: the views decide too. A view whose age cannot be told counts as stale.
//!
//! The sinks: for a saved query's pipeline, the root query; for a pipeline file, every query node that no
//! other node depends on. The views: every `materialized_view_refresh` node of the definition (a saved
//! query's pipeline whose definition could not be read has views of unknown age: it runs).
//!
//! **Requests.** One per sink, then per view one read of the view and one status read per refresh looked
//! at: the newest refresh first (by its ULID), a second only when the newest has not completed
//! ([`REFRESH_READS`]). With one sink and V views that is 1 + 2V requests, at most 1 + 3V; the check
//! stops at the first node that is not fresh. They go through the one rate cap before the start, when
//! no poll needs a slot.
//!
//! **Whose clock.** A result's age is Dune's `Date` header minus its `execution_ended_at`: both come from
//! Dune's clock, so a runner whose clock is off by minutes still judges ages right (and a simulator that
//! serves fixed, epoch-based timestamps is judged by its own clock); a view's age is the view response's
//! `Date` minus its refresh's `execution_ended_at`. Only a response without a readable `Date` header
//! falls back to the runner's clock. An end time in the future counts as age zero.

use std::time::{Duration, SystemTime};

use dune_api::Client;
use dune_api::definition::Task;
use dune_api::models::{ExecutionStatus, LatestResult, parse_timestamp};

use super::node::{Node, NodeKind, NodeStatus, is_partial, normalize};
use super::plan::Plan;

/// How long (clock time) the reads of the check may take with their retries; then the pipeline runs.
pub const CHECK_BUDGET: Duration = Duration::from_secs(60);

/// Rows asked for with a latest result: the check needs its metadata only (the preview is read later, by
/// execution id, with `result_rows`).
const CHECK_ROWS: u64 = 1;

/// How many of a view's latest refreshes are read, newest first, to find the newest that completed (one
/// still running or failed does not change the view's data).
pub const REFRESH_READS: usize = 2;

/// A query whose latest result decides.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sink {
    /// The node of the pipeline that runs it (0 when the definition could not be read).
    pub node_id: i64,
    pub query_id: u64,
}

/// A latest result young enough to reuse.
#[derive(Debug, Clone, PartialEq)]
pub struct Reused {
    pub node_id: i64,
    pub query_id: u64,
    pub execution_id: String,
    /// `execution_ended_at` as Dune wrote it.
    pub ended_at: String,
    /// How long ago it ended, by Dune's clock.
    pub age: Duration,
    /// The state Dune reported (`QUERY_STATE_COMPLETED`).
    pub state: String,
}

/// A materialized view of the pipeline, whose last refresh decides too.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct View {
    /// The node of the pipeline that refreshes it.
    pub node_id: i64,
    /// Its full name, as the definition gives it.
    pub name: String,
}

/// A view refreshed recently enough.
#[derive(Debug, Clone, PartialEq)]
pub struct Refreshed {
    pub node_id: i64,
    pub name: String,
    /// The refresh execution whose end counts (the newest that completed).
    pub execution_id: String,
    /// `execution_ended_at` as Dune wrote it.
    pub ended_at: String,
    /// How long ago it ended, by Dune's clock.
    pub age: Duration,
    /// What that refresh cost (`execution_cost_credits`), when Dune said: the estimate before the start
    /// takes it from here instead of reading the view again.
    pub credits: Option<f64>,
}

/// What the check found.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// Every sink's latest result completed within `max_age`.
    Fresh(Vec<Reused>),
    /// The pipeline must run; why, in one line.
    Stale(String),
}

/// The `max_age` check of one run.
#[derive(Debug, Clone, PartialEq)]
pub struct FreshCheck {
    pub max_age: Duration,
    pub verdict: Verdict,
    /// The views found refreshed within `max_age` (all of them when fresh; those checked before the
    /// stale node otherwise).
    pub views: Vec<Refreshed>,
}

/// `10m 5s` (whole seconds).
pub fn age_text(d: Duration) -> String {
    humantime::format_duration(Duration::from_secs(d.as_secs())).to_string()
}

impl FreshCheck {
    /// Whether nothing needs to run.
    pub fn is_fresh(&self) -> bool {
        matches!(self.verdict, Verdict::Fresh(_))
    }

    /// The reused results (empty unless fresh).
    pub fn reused(&self) -> &[Reused] {
        match &self.verdict {
            Verdict::Fresh(r) => r,
            Verdict::Stale(_) => &[],
        }
    }

    /// The reused executions as completed query nodes, for the result previews and files.
    pub fn nodes(&self) -> Vec<Node> {
        self.reused()
            .iter()
            .map(|r| {
                let mut n = Node::new(
                    r.node_id,
                    NodeKind::Query {
                        query_id: i64::try_from(r.query_id).ok(),
                    },
                );
                n.status = NodeStatus::Completed;
                n.raw_status = Some(r.state.clone());
                n.execution_id = Some(r.execution_id.clone());
                n.ended_at = Some(r.ended_at.clone());
                n
            })
            .collect()
    }

    /// One line for the log: what was reused, or why the pipeline runs.
    pub fn describe(&self) -> String {
        let max = age_text(self.max_age);
        match &self.verdict {
            Verdict::Fresh(reused) => {
                let each: Vec<String> = reused
                    .iter()
                    .map(|r| {
                        format!(
                            "query {} (execution {}) ended {} ago",
                            r.query_id,
                            r.execution_id,
                            age_text(r.age)
                        )
                    })
                    .collect();
                let views = self.views.iter().map(|v| {
                    format!(
                        "materialized view {} (execution {}) refreshed {} ago",
                        v.name,
                        v.execution_id,
                        age_text(v.age)
                    )
                });
                let each: Vec<String> = each.into_iter().chain(views).collect();
                format!(
                    "the latest result is younger than max_age {max}: {}",
                    each.join("; ")
                )
            }
            Verdict::Stale(why) => format!("max_age {max}: {why}"),
        }
    }
}

/// The queries whose latest results decide, or why the plan has none that can be checked.
pub fn sinks(plan: &Plan) -> Result<Vec<Sink>, String> {
    match plan {
        Plan::Followed { .. } => Err(
            "the pipeline was started elsewhere (`pipeline_execution_id`): nothing to reuse".into(),
        ),
        Plan::Lineage {
            query_id,
            definition,
        } => {
            let root = i64::try_from(*query_id).ok();
            let node_id = definition
                .as_ref()
                .and_then(|d| {
                    d.nodes.iter().rev().find(
                        |n| matches!(&n.task, Task::Query { query_id, .. } if Some(*query_id) == root),
                    )
                })
                .map_or(0, |n| n.id);
            Ok(vec![Sink {
                node_id,
                query_id: *query_id,
            }])
        }
        Plan::File { definition, .. } => {
            let depended_on: Vec<i64> = definition
                .nodes
                .iter()
                .flat_map(|n| n.dependencies.iter().copied())
                .collect();
            let mut out = Vec::new();
            for n in definition
                .nodes
                .iter()
                .filter(|n| !depended_on.contains(&n.id))
            {
                match &n.task {
                    Task::Query { query_id, .. } => out.push(Sink {
                        node_id: n.id,
                        query_id: u64::try_from(*query_id).map_err(|_| {
                            format!("node {} has an invalid query id {query_id}", n.id)
                        })?,
                    }),
                    // A view that nothing depends on is judged by its last refresh, with the others.
                    Task::View { .. } => {}
                }
            }
            Ok(out)
        }
    }
}

/// The materialized views of the plan, or why their ages cannot be known.
pub fn views(plan: &Plan) -> Result<Vec<View>, String> {
    let Some(definition) = plan.definition() else {
        return Err(
            "the pipeline's definition could not be read, so the age of its materialized views is unknown"
                .into(),
        );
    };
    Ok(definition
        .nodes
        .iter()
        .filter_map(|n| match &n.task {
            Task::View { name, .. } => Some(View {
                node_id: n.id,
                name: name.clone(),
            }),
            Task::Query { .. } => None,
        })
        .collect())
}

/// Reads the latest result of every sink, then the last refresh of every view (stopping at the first
/// node that is not fresh), and judges them against `max_age`.
pub async fn check(plan: &Plan, max_age: Duration, client: &Client) -> FreshCheck {
    let mut check = FreshCheck {
        max_age,
        verdict: Verdict::Fresh(Vec::new()),
        views: Vec::new(),
    };
    let (sinks, views) = match (sinks(plan), views(plan)) {
        (Ok(sinks), Ok(views)) if sinks.is_empty() && views.is_empty() => {
            check.verdict = Verdict::Stale("the pipeline has no node whose age can be read".into());
            return check;
        }
        (Ok(sinks), Ok(views)) => (sinks, views),
        (Err(why), _) | (_, Err(why)) => {
            check.verdict = Verdict::Stale(why);
            return check;
        }
    };
    let mut reused = Vec::new();
    for sink in sinks {
        let read = client.query_latest_result(sink.query_id, CHECK_ROWS).await;
        match judge(&sink, read, max_age) {
            Ok(r) => reused.push(r),
            Err(why) => {
                check.verdict = Verdict::Stale(why);
                return check;
            }
        }
    }
    for view in views {
        match last_refresh(&view, max_age, client).await {
            Ok(r) => check.views.push(r),
            Err(why) => {
                check.verdict = Verdict::Stale(why);
                return check;
            }
        }
    }
    check.verdict = Verdict::Fresh(reused);
    check
}

/// Reads a view and its newest refreshes (at most [`REFRESH_READS`]) until one that completed, and judges
/// it; `Err` says why the view is not fresh, its age when known.
async fn last_refresh(
    view: &View,
    max_age: Duration,
    client: &Client,
) -> Result<Refreshed, String> {
    let unknown = |why: String| {
        format!(
            "the age of materialized view {} (node {}) is unknown: {why}",
            view.name, view.node_id
        )
    };
    let mv = client
        .materialized_view(&view.name)
        .await
        .map_err(|e| unknown(format!("it could not be read ({e})")))?;
    let now = mv.server_date.unwrap_or_else(SystemTime::now);
    let ids = mv.newest_executions(REFRESH_READS);
    if ids.is_empty() {
        return Err(unknown("Dune lists no refresh of it".into()));
    }
    let mut seen = Vec::new();
    for id in &ids {
        let status = client
            .execution_status(id)
            .await
            .map_err(|e| unknown(format!("its refresh {id} could not be read ({e})")))?;
        match judge_refresh(view, id, &status, now, max_age) {
            Some(judged) => return judged,
            None => seen.push(format!(
                "{id} is {}",
                status.state.as_deref().unwrap_or("in no state")
            )),
        }
    }
    Err(unknown(format!(
        "none of its newest {} refreshes completed ({})",
        ids.len(),
        seen.join(", ")
    )))
}

/// Judges one refresh of `view`: `None` when it did not complete (look at an older one), else whether it
/// ended within `max_age` of `now` (Dune's clock).
fn judge_refresh(
    view: &View,
    execution_id: &str,
    status: &ExecutionStatus,
    now: SystemTime,
    max_age: Duration,
) -> Option<Result<Refreshed, String>> {
    let state = status.state.as_deref().unwrap_or_default();
    if normalize(state) != NodeStatus::Completed || is_partial(state) {
        return None;
    }
    let label = format!("materialized view {} (node {})", view.name, view.node_id);
    let (Some(raw), Some(ended)) = (
        status.ended_at.clone(),
        status.ended_at.as_deref().and_then(parse_timestamp),
    ) else {
        return Some(Err(format!(
            "the age of {label} is unknown: its refresh {execution_id} has no readable end time ({:?})",
            status.ended_at.as_deref().unwrap_or_default()
        )));
    };
    let age = now.duration_since(ended).unwrap_or(Duration::ZERO);
    if age > max_age {
        return Some(Err(format!(
            "{label} was last refreshed {} ago (execution {execution_id}), more than max_age",
            age_text(age)
        )));
    }
    Some(Ok(Refreshed {
        node_id: view.node_id,
        name: view.name.clone(),
        execution_id: execution_id.to_string(),
        ended_at: raw,
        age,
        credits: status.credits,
    }))
}

/// Whether one sink's latest result can be reused; `Err` says why not, in words for the log.
fn judge(
    sink: &Sink,
    read: Result<LatestResult, dune_api::Error>,
    max_age: Duration,
) -> Result<Reused, String> {
    let q = sink.query_id;
    let latest = match read {
        Ok(l) => l,
        Err(e) if e.status() == Some(404) => {
            return Err(format!("query {q} has no result to reuse ({e})"));
        }
        Err(e) => {
            return Err(format!(
                "the latest result of query {q} could not be read: {e}"
            ));
        }
    };
    let state = latest.state.clone().unwrap_or_default();
    if normalize(&state) != NodeStatus::Completed || is_partial(&state) {
        let state = if state.is_empty() { "no state" } else { &state };
        return Err(format!(
            "the latest execution of query {q} is {state}, not a complete result"
        ));
    }
    let Some(execution_id) = latest.execution_id.clone() else {
        return Err(format!(
            "the latest result of query {q} has no execution id"
        ));
    };
    let (Some(ended), Some(ended_raw)) = (latest.ended_at, latest.ended_at_raw.clone()) else {
        return Err(format!(
            "the latest result of query {q} has no readable end time ({:?})",
            latest.ended_at_raw.unwrap_or_default()
        ));
    };
    let now = latest.server_date.unwrap_or_else(SystemTime::now);
    let age = now.duration_since(ended).unwrap_or(Duration::ZERO);
    if age > max_age {
        return Err(format!(
            "the latest result of query {q} (execution {execution_id}) ended {} ago, more than max_age",
            age_text(age)
        ));
    }
    Ok(Reused {
        node_id: sink.node_id,
        query_id: q,
        execution_id,
        ended_at: ended_raw,
        age,
        state,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use dune_api::definition::Definition;

    fn latest(state: &str, ended: &str, date_secs: u64) -> LatestResult {
        let mut l = LatestResult::default();
        l.execution_id = Some("01E".into());
        l.state = Some(state.into());
        l.ended_at_raw = Some(ended.into());
        l.ended_at = dune_api::models::parse_timestamp(ended);
        l.server_date = Some(SystemTime::UNIX_EPOCH + Duration::from_secs(date_secs));
        l
    }

    const SINK: Sink = Sink {
        node_id: 3,
        query_id: 7,
    };
    /// 2026-01-01T00:00:00Z.
    const EPOCH: u64 = 1_767_225_600;
    const HOUR: Duration = Duration::from_secs(3600);

    #[test]
    fn age_is_measured_by_dunes_clock() {
        let r = judge(
            &SINK,
            Ok(latest(
                "QUERY_STATE_COMPLETED",
                "2025-12-31T23:50:00Z",
                EPOCH,
            )),
            HOUR,
        )
        .expect("fresh");
        assert_eq!((r.age, r.node_id), (Duration::from_secs(600), 3));
        let why = judge(
            &SINK,
            Ok(latest(
                "QUERY_STATE_COMPLETED",
                "2025-12-31T23:50:00Z",
                EPOCH,
            )),
            Duration::from_secs(300),
        )
        .expect_err("stale");
        assert!(why.contains("ended 10m ago"), "{why}");
        // An end "in the future" (clock skew) is age zero.
        let r = judge(
            &SINK,
            Ok(latest("completed", "2026-01-01T00:00:09Z", EPOCH)),
            Duration::from_secs(1),
        )
        .expect("fresh");
        assert_eq!(r.age, Duration::ZERO);
    }

    #[test]
    fn only_complete_results_count() {
        for state in ["QUERY_STATE_FAILED", "QUERY_STATE_COMPLETED_PARTIAL", ""] {
            let why = judge(
                &SINK,
                Ok(latest(state, "2026-01-01T00:00:00Z", EPOCH)),
                HOUR,
            )
            .expect_err(state);
            assert!(why.contains("not a complete result"), "{why}");
        }
        let mut l = latest("QUERY_STATE_COMPLETED", "yesterday", EPOCH);
        l.ended_at = None;
        assert!(judge(&SINK, Ok(l), HOUR).is_err());
    }

    #[test]
    fn sinks_of_a_file_and_of_a_query() {
        let d = Definition::from_response(&serde_json::json!({"pipeline": {"nodes": [
            {"id": 1, "materialized_view_refresh": {"name": "dune.a.mv"}},
            {"id": 2, "dependencies": [1], "query_execution": {"query_id": 20}},
            {"id": 3, "dependencies": [1], "query_execution": {"query_id": 30}}
        ]}}))
        .expect("definition");
        let file = Plan::File {
            path: "p.yml".into(),
            definition: d.clone(),
        };
        assert_eq!(
            sinks(&file).expect("sinks"),
            [
                Sink {
                    node_id: 2,
                    query_id: 20
                },
                Sink {
                    node_id: 3,
                    query_id: 30
                }
            ]
        );
        let lineage = Plan::Lineage {
            query_id: 30,
            definition: Some(d),
        };
        assert_eq!(sinks(&lineage).expect("sinks")[0].node_id, 3);
        let mv = Definition::from_response(&serde_json::json!({"pipeline": {"nodes": [
            {"id": 1, "materialized_view_refresh": {"name": "dune.a.mv"}}
        ]}}))
        .expect("definition");
        let only_views = Plan::File {
            path: "p.yml".into(),
            definition: mv,
        };
        assert_eq!(
            sinks(&only_views).expect("sinks"),
            [],
            "a view sink is a view"
        );
        assert_eq!(
            views(&only_views).expect("views"),
            [View {
                node_id: 1,
                name: "dune.a.mv".into()
            }]
        );
        let unknown = Plan::Lineage {
            query_id: 30,
            definition: None,
        };
        assert!(
            views(&unknown)
                .expect_err("no definition")
                .contains("unknown")
        );
    }

    fn refresh(state: &str, ended: Option<&str>) -> ExecutionStatus {
        let mut s = ExecutionStatus::default();
        s.state = Some(state.into());
        s.ended_at = ended.map(str::to_string);
        s
    }

    #[test]
    fn a_view_is_as_old_as_its_newest_completed_refresh() {
        let view = View {
            node_id: 1,
            name: "dune.a.mv".into(),
        };
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(EPOCH);
        let judge = |s: &ExecutionStatus, max| judge_refresh(&view, "01R", s, now, max);
        let done = refresh("QUERY_STATE_COMPLETED", Some("2025-12-31T22:00:00Z"));
        let r = judge(&done, 3 * HOUR).expect("completed").expect("fresh");
        assert_eq!((r.age, r.execution_id.as_str()), (2 * HOUR, "01R"));
        let why = judge(&done, HOUR).expect("completed").expect_err("stale");
        assert_eq!(
            why,
            "materialized view dune.a.mv (node 1) was last refreshed 2h ago (execution 01R), more than max_age"
        );
        // Running, failed or partial: not this one, look at an older refresh.
        for state in [
            "QUERY_STATE_EXECUTING",
            "QUERY_STATE_FAILED",
            "QUERY_STATE_COMPLETED_PARTIAL",
        ] {
            assert_eq!(judge(&refresh(state, None), HOUR), None, "{state}");
        }
        let why = judge(&refresh("QUERY_STATE_COMPLETED", Some("soon")), HOUR)
            .expect("completed")
            .expect_err("no end");
        assert!(why.contains("is unknown"), "{why}");
    }
}
