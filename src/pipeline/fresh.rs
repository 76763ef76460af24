//! `max_age`: before anything is executed, the latest result of each of the pipeline's sink queries is read
//! (`GET /api/v1/query/{id}/results`, one row); when every one of them completed within `max_age`, the run
//! reuses them instead of executing the pipeline again.
//!
//! The sinks: for a saved query's pipeline, the root query; for a pipeline file, every node that no other
//! node depends on (all must be query nodes: a materialized view's age cannot be read this way).
//!
//! **Whose clock.** A result's age is Dune's `Date` header minus its `execution_ended_at`: both come from
//! Dune's clock, so a runner whose clock is off by minutes still judges ages right (and a simulator that
//! serves fixed, epoch-based timestamps is judged by its own clock). Only a response without a readable
//! `Date` header falls back to the runner's clock. An end time in the future counts as age zero.

use std::time::{Duration, SystemTime};

use dune_api::Client;
use dune_api::definition::Task;
use dune_api::models::LatestResult;

use super::node::{Node, NodeKind, NodeStatus, is_partial, normalize};
use super::plan::Plan;

/// How long (clock time) the reads of the check may take with their retries; then the pipeline runs.
pub const CHECK_BUDGET: Duration = Duration::from_secs(60);

/// Rows asked for with a latest result: the check needs its metadata only (the preview is read later, by
/// execution id, with `result_rows`).
const CHECK_ROWS: u64 = 1;

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
                    Task::View { name, .. } => {
                        return Err(format!(
                            "node {} refreshes the materialized view {name}, whose age cannot be read",
                            n.id
                        ));
                    }
                }
            }
            if out.is_empty() {
                return Err("the pipeline has no query node that nothing depends on".into());
            }
            Ok(out)
        }
    }
}

/// Reads the latest result of every sink (stopping at the first one that is not fresh) and judges them
/// against `max_age`.
pub async fn check(plan: &Plan, max_age: Duration, client: &Client) -> FreshCheck {
    let verdict = match sinks(plan) {
        Err(why) => Verdict::Stale(why),
        Ok(sinks) => {
            let mut reused = Vec::new();
            let mut stale = None;
            for sink in sinks {
                let read = client.query_latest_result(sink.query_id, CHECK_ROWS).await;
                match judge(&sink, read, max_age) {
                    Ok(r) => reused.push(r),
                    Err(why) => {
                        stale = Some(why);
                        break;
                    }
                }
            }
            match stale {
                Some(why) => Verdict::Stale(why),
                None => Verdict::Fresh(reused),
            }
        }
    };
    FreshCheck { max_age, verdict }
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
        let why = sinks(&Plan::File {
            path: "p.yml".into(),
            definition: mv,
        })
        .expect_err("a view sink");
        assert!(why.contains("materialized view"), "{why}");
    }
}
