//! Stopping what the action started. What the action knows about a pipeline can be up to one poll
//! interval old (30 s late in a run), and a node may have started since; so before cancelling it reads the
//! pipeline's status once more, then cancels every node execution still pending or executing. Used when
//! `timeout` passes, when the workflow is cancelled (a signal), and by the post step.

use std::time::{Duration, Instant};

use tokio::task::JoinSet;

use crate::pipeline::node::NodeStatus;
use crate::pipeline::tracked::Tracked;
use crate::runner::console::{Console, Level};
use dune_api::{Client, Clock};

/// What [`stop_pipeline`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stopped {
    /// How many node executions were still running (and so were asked to cancel).
    pub running: usize,
    /// The ids of the nodes Dune confirmed as cancelled.
    pub cancelled: Vec<i64>,
}

/// Reads the pipeline's status once (within half of `budget`, real time), folds it into `run` (the
/// follower's fold, [`Tracked::fold_status`], without its log lines or execution reads), then cancels
/// every node execution still pending or executing within what is left of `budget`. A failed read is a
/// warning: the cancels then go by what `run` already knew. `client` should not retry for long (give it a
/// deadline).
pub async fn stop_pipeline(
    client: &Client,
    console: &Console,
    clock: Clock,
    run: &mut Tracked,
    budget: Duration,
) -> Stopped {
    let started = Instant::now();
    if let Some(id) = run.pipeline_execution_id.clone() {
        let why = match tokio::time::timeout(budget / 2, client.pipeline_status(&id, false)).await {
            Ok(Ok(status)) => {
                run.fold_status(&status, clock.elapsed());
                None
            }
            Ok(Err(e)) => Some(e.to_string()),
            Err(_) => Some(format!(
                "no answer within {}",
                humantime::format_duration(budget / 2)
            )),
        };
        if let Some(why) = why {
            console.annotate(
                Level::Warning,
                Some("Could not read the pipeline status before cancelling"),
                &format!("{why}; cancelling what the action saw last"),
            );
        }
    }
    let running = run.cancellable().len();
    let left = budget.saturating_sub(started.elapsed());
    let cancelled = cancel_running(client, console, run, left).await;
    Stopped { running, cancelled }
}

/// Cancels every execution still running, concurrently, within `budget` of real time. Returns the node ids
/// Dune confirmed as cancelled.
async fn cancel_running(
    client: &Client,
    console: &Console,
    run: &mut Tracked,
    budget: Duration,
) -> Vec<i64> {
    let targets = run.cancellable();
    if targets.is_empty() {
        return Vec::new();
    }
    let mut calls = JoinSet::new();
    for (i, (id, exec)) in targets.iter().enumerate() {
        let client = client.clone();
        let (id, exec) = (*id, exec.clone());
        calls.spawn(async move {
            let result = client.cancel_execution(&exec).await;
            (i, id, exec, result)
        });
    }
    let mut results = Vec::new();
    let joined = tokio::time::timeout(budget, async {
        while let Some(done) = calls.join_next().await {
            // A task that panicked: its node stays as it was.
            if let Ok(r) = done {
                results.push(r);
            }
        }
    })
    .await;
    if joined.is_err() {
        // The requests still in flight may yet reach Dune: let them.
        calls.detach_all();
        results.clear();
        console.annotate(
            Level::Warning,
            Some("Cancelling took too long"),
            "some node executions may still be running on Dune",
        );
    }
    // In the order of the nodes, whatever order the answers came in.
    results.sort_by_key(|(i, ..)| *i);
    let mut cancelled = Vec::new();
    for (_, id, exec, result) in results {
        match result {
            Ok(true) => {
                if let Some(n) = run.node_mut(id) {
                    n.status = NodeStatus::Cancelled;
                    n.cancelled_by_action = true;
                }
                console.line(&format!("cancelled node {id} (execution {exec})"));
                cancelled.push(id);
            }
            Ok(false) => console.line(&format!(
                "node {id} (execution {exec}) was not cancelled: Dune says it had already ended"
            )),
            Err(e) => console.annotate(
                Level::Warning,
                Some(&format!("Could not cancel node {id}")),
                &e.to_string(),
            ),
        }
    }
    cancelled
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::node::{Node, NodeKind};
    use dune_api::models::{NodeExecution, PipelineStatus};

    fn ne(id: i64, status: &str, exec: Option<&str>) -> NodeExecution {
        let mut n = NodeExecution::default();
        n.id = id;
        n.status = Some(status.into());
        n.query_id = Some(100 + id);
        n.execution_id = exec.map(str::to_string);
        n
    }

    #[test]
    fn the_fold_brings_stale_nodes_up_to_date() {
        let mut run = Tracked::default();
        let mut n1 = Node::new(
            1,
            NodeKind::Query {
                query_id: Some(101),
            },
        );
        n1.status = NodeStatus::Executing;
        n1.execution_id = Some("E1".into());
        run.nodes.push(n1);
        let mut status = PipelineStatus::default();
        status.status = Some("executing".into());
        status.nodes = vec![
            ne(1, "completed", Some("E1")),
            ne(2, "executing", Some("E2")),
            ne(3, "pending", None),
        ];
        run.fold_status(&status, Duration::ZERO);
        assert_eq!(run.cancellable(), vec![(2, "E2".to_string())]);
        assert_eq!(run.nodes.len(), 3);
        assert_eq!(run.nodes[0].status, NodeStatus::Completed);
    }

    #[test]
    fn the_fold_keeps_what_was_read_from_the_execution() {
        let mut run = Tracked::default();
        let mut n1 = Node::new(
            1,
            NodeKind::Query {
                query_id: Some(101),
            },
        );
        n1.status = NodeStatus::Failed;
        n1.details_read = true;
        run.nodes.push(n1);
        run.fold_status(
            &{
                let mut s = PipelineStatus::default();
                s.nodes = vec![ne(1, "weird", Some("E1"))];
                s
            },
            Duration::ZERO,
        );
        assert_eq!(run.nodes[0].status, NodeStatus::Failed);
        assert_eq!(run.nodes[0].execution_id.as_deref(), Some("E1"));
    }

    /// Against the simulator: what the action saw last is stale (node 1 has ended since, and nodes 2 and
    /// 3, which it never saw running, are executing now); the cancels must reach them.
    #[tokio::test(flavor = "multi_thread")]
    async fn cancelling_reads_the_status_again_first() {
        const SPEED: f64 = 50.0;
        let scenario = dune_sim::Scenario::from_yaml_or_json(
            r#"
time_scale: 50 # SPEED
api_key: k
queries:
  - query_id: 500
    nodes:
      - {id: 1, query_id: 501, duration: 2s}
      - {id: 2, query_id: 502, dependencies: [1], duration: 1h}
      - {id: 3, query_id: 500, dependencies: [1], duration: 1h}
"#,
        )
        .expect("scenario");
        let sim = dune_sim::Simulator::start(scenario)
            .await
            .expect("simulator");
        let client = Client::builder(
            sim.base_url().parse().expect("url"),
            dune_api::ApiKey::new("k"),
        )
        .clock(dune_api::Clock::scaled(SPEED))
        .build()
        .expect("client");
        let request = dune_api::models::ExecuteQueryPipelineRequest {
            performance: dune_api::models::Performance::Medium.into(),
            query_parameters: None,
        };
        // Virtual time counts from the simulator's start; the client's set-up (reading the trusted roots)
        // takes some of it, so the waits below count from the pipeline's start.
        let started = sim.virtual_now();
        let id = client
            .execute_query_pipeline(500, &request)
            .await
            .expect("start");
        let mut stale = Tracked {
            pipeline_execution_id: Some(id.clone()),
            ..Tracked::default()
        };
        let first = client.pipeline_status(&id, true).await.expect("status");
        stale.fold_status(&first, Duration::ZERO);
        assert_eq!(stale.cancellable().len(), 1, "{stale:?}");
        // Let node 1 end and nodes 2 and 3 start (2 s of virtual time, then some).
        while sim.virtual_now() < started + Duration::from_secs(4) {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let (console, _log) = Console::buffer(true);
        let stopped = stop_pipeline(
            &client.clone().with_deadline(Duration::ZERO),
            &console,
            dune_api::Clock::scaled(SPEED),
            &mut stale,
            Duration::from_secs(4),
        )
        .await;
        assert_eq!(stopped.cancelled, vec![2, 3]);
        assert_eq!(sim.cancelled_executions().len(), 2);
    }
}
