//! The estimate before the start (`max_credits`, or a dry run): each node's last known cost, from the
//! latest execution of its query (the query's latest result → that execution's status) or the last
//! refresh of its view (`GET /v1/materialized-views/{name}` → the newest refresh's status). It is an
//! estimate: the next run may scan more or less, and on another tier.
//!
//! The reads come before the start, so they spend the rate budget the first minute of polls needs: they
//! take only what the polls the schedule plans for the first window leave (with the definition read, the
//! usage read and the start), two reads a node, and stop at [`TIME_ALLOWED`]. The nodes left out are
//! unknown, and the summary says why. At 40 requests a minute that is a few nodes; at 200, most pipelines.

use std::time::Duration;

use dune_api::definition::Task;
use dune_api::{Client, Clock};

use crate::pipeline::fresh::Refreshed;
use crate::pipeline::plan::Plan;
use crate::pipeline::schedule::Schedule;

/// How long the reads before the start may take in all (clock time).
pub const TIME_ALLOWED: Duration = Duration::from_secs(10);

/// Requests around the start that are not polls: the definition read, the usage read, the start.
const AROUND_START: usize = 3;

/// Reads of one node: where its last execution is, and that execution's status.
const READS_PER_NODE: usize = 2;

/// How many nodes are read at once.
const AT_ONCE: usize = 4;

/// Why a node's last cost is not known.
#[derive(Debug, Clone, PartialEq)]
pub enum Unknown {
    /// Beyond what the rate budget allows before the start.
    NotRead,
    /// The time allowed for the reads ran out first.
    OutOfTime,
    /// The query has no result yet, or the view no refresh.
    NeverRan,
    /// Dune gave no `execution_cost_credits`.
    NoCost,
    /// The read failed (Dune's error, or an unreadable answer).
    ReadFailed(String),
}

impl Unknown {
    /// In the summary's words.
    pub fn describe(&self) -> String {
        match self {
            Unknown::NotRead => {
                "not read: the rate budget before the start has no room for them".into()
            }
            Unknown::OutOfTime => "not read: the time allowed before the start ran out".into(),
            Unknown::NeverRan => "never ran (no latest result or refresh)".into(),
            Unknown::NoCost => "Dune gave no cost".into(),
            Unknown::ReadFailed(e) => format!("the read failed ({e})"),
        }
    }
}

/// One node's last known cost.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeCost {
    pub id: i64,
    /// `query 123` or `view dune.team.name`.
    pub label: String,
    /// The execution whose cost it is.
    pub execution_id: Option<String>,
    pub cost: Result<f64, Unknown>,
}

/// The estimate of a run.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Estimate {
    /// Every node of the definition, in its order.
    pub nodes: Vec<NodeCost>,
    /// The requests the rate budget allowed before the start.
    pub reads_allowed: usize,
    /// Why no node could be estimated at all (no definition, no API key), when that is so.
    pub not_made: Option<String>,
}

impl Estimate {
    /// An estimate that could not be made, and why.
    pub fn not_made(why: impl Into<String>) -> Estimate {
        Estimate {
            not_made: Some(why.into()),
            ..Estimate::default()
        }
    }

    /// The sum of the known costs.
    pub fn total(&self) -> f64 {
        self.nodes.iter().filter_map(|n| n.cost.as_ref().ok()).sum()
    }

    /// How many nodes' costs are known.
    pub fn known(&self) -> usize {
        self.nodes.iter().filter(|n| n.cost.is_ok()).count()
    }

    /// Whether the cost of no node is known: such an estimate stops nothing.
    pub fn all_unknown(&self) -> bool {
        self.known() == 0
    }

    /// Whether the known costs alone already pass `max` (unknown ones only add to them).
    pub fn passes(&self, max: f64) -> bool {
        !self.all_unknown() && self.total() > max
    }

    /// The unknown nodes grouped by why, in the order the reasons first appear.
    pub fn unknown_by_reason(&self) -> Vec<(String, Vec<i64>)> {
        let mut out: Vec<(String, Vec<i64>)> = Vec::new();
        for n in &self.nodes {
            if let Err(why) = &n.cost {
                let why = why.describe();
                match out.iter_mut().find(|(w, _)| *w == why) {
                    Some((_, ids)) => ids.push(n.id),
                    None => out.push((why, vec![n.id])),
                }
            }
        }
        out
    }
}

/// The log's one line about the estimate, and what it means for `max_credits`.
pub fn log_line(e: &Estimate, max_credits: Option<f64>) -> String {
    if let Some(why) = &e.not_made {
        return format!("No estimate before the start: {why}");
    }
    let mut line = format!(
        "Estimate before the start (each node's last known cost; the next run may cost more or less): {} credits, known for {} of {} nodes",
        credits_text(e.total()),
        e.known(),
        e.nodes.len()
    );
    for (why, ids) in e.unknown_by_reason() {
        line.push_str(&format!("; {} {why}", ids.len()));
    }
    match max_credits {
        Some(max) if e.all_unknown() => line.push_str(&format!(
            ". `max_credits` ({}) cannot be checked before the start: no node's cost is known, so the run starts and the budget is checked as nodes end",
            credits_text(max)
        )),
        Some(max) if e.passes(max) => line.push_str(&format!(
            ". That is more than `max_credits` ({})",
            credits_text(max)
        )),
        Some(max) => line.push_str(&format!(
            ". Within `max_credits` ({}) as far as it is known",
            credits_text(max)
        )),
        None => {}
    }
    line
}

/// Credits as the reports write them: whole numbers without decimals, others with up to two.
pub fn credits_text(c: f64) -> String {
    if c.fract() == 0.0 && c.abs() < 1e15 {
        format!("{}", c as i64)
    } else {
        // `1.0004` is `1`, not `1.`.
        let s = format!("{c:.2}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

/// The requests the estimate may spend before the start at `requests_per_minute`: what is left of one
/// window after the polls `schedule` plans for the first window of the run and the requests around the
/// start. A dry run starts nothing, so only the requests before it count.
pub fn reads_allowed(
    requests_per_minute: usize,
    window: Duration,
    schedule: &Schedule,
    dry_run: bool,
) -> usize {
    let polls = if dry_run {
        0
    } else {
        schedule.plan(Duration::ZERO, Duration::ZERO, window).len()
    };
    requests_per_minute.saturating_sub(polls + AROUND_START)
}

/// Reads the last known cost of each node of `plan`'s definition, within `reads_allowed` requests and
/// [`TIME_ALLOWED`]. The views the `max_age` check already read (`refreshed`) are not read again: their
/// refresh and its cost are taken from there.
pub async fn estimate(
    plan: &Plan,
    client: &Client,
    clock: Clock,
    reads_allowed: usize,
    refreshed: &[Refreshed],
) -> Estimate {
    let Some(definition) = plan.definition() else {
        return Estimate::not_made(
            "the pipeline's definition could not be read, so its nodes are not known before the start",
        );
    };
    let until = clock.elapsed() + TIME_ALLOWED;
    // Retries stop with the time allowed.
    let client = client.clone().with_deadline(until);
    let readable = reads_allowed / READS_PER_NODE;
    let mut nodes: Vec<NodeCost> = definition
        .nodes
        .iter()
        .map(|n| NodeCost {
            id: n.id,
            label: match &n.task {
                Task::Query { query_id, .. } => format!("query {query_id}"),
                Task::View { name, .. } => format!("view {name}"),
            },
            execution_id: None,
            cost: Err(Unknown::NotRead),
        })
        .collect();
    let mut to_read = Vec::new();
    for (i, n) in definition.nodes.iter().enumerate() {
        match refreshed.iter().find(|r| r.node_id == n.id) {
            Some(r) => {
                nodes[i].execution_id = Some(r.execution_id.clone());
                nodes[i].cost = r.credits.ok_or(Unknown::NoCost);
            }
            None => to_read.push((i, n)),
        }
    }
    let semaphore = std::sync::Arc::new(tokio::sync::Semaphore::new(AT_ONCE));
    let mut reads = tokio::task::JoinSet::new();
    for (i, n) in to_read.into_iter().take(readable) {
        let (client, task, semaphore) = (client.clone(), n.task.clone(), semaphore.clone());
        reads.spawn(async move {
            let left = until.saturating_sub(clock.elapsed());
            let read = async {
                let _permit = semaphore.acquire_owned().await;
                last_cost(&client, &task).await
            };
            let found = tokio::select! {
                r = read => r,
                _ = clock.sleep(left) => (None, Err(Unknown::OutOfTime)),
            };
            (i, found)
        });
    }
    while let Some(done) = reads.join_next().await {
        // A read task cannot panic short of a bug; its node then stays "not read".
        if let Ok((i, (execution_id, cost))) = done
            && let Some(node) = nodes.get_mut(i)
        {
            node.execution_id = execution_id;
            node.cost = cost;
        }
    }
    Estimate {
        nodes,
        reads_allowed,
        not_made: None,
    }
}

/// The last known cost of one node, and the execution it is from.
async fn last_cost(client: &Client, task: &Task) -> (Option<String>, Result<f64, Unknown>) {
    let found = match task {
        Task::Query { query_id, .. } => match u64::try_from(*query_id) {
            Ok(q) => client
                .query_latest_result(q, 1)
                .await
                .map(|l| l.execution_id),
            Err(_) => Ok(None),
        },
        Task::View { name, .. } => client
            .materialized_view(name)
            .await
            .map(|v| v.newest_executions(1).first().map(|id| id.to_string())),
    };
    let execution_id = match found {
        Ok(Some(id)) => id,
        Ok(None) => return (None, Err(Unknown::NeverRan)),
        Err(e) if e.status() == Some(404) => return (None, Err(Unknown::NeverRan)),
        Err(e) => return (None, Err(Unknown::ReadFailed(e.to_string()))),
    };
    let cost = match client.execution_status(&execution_id).await {
        Ok(s) => s.credits.ok_or(Unknown::NoCost),
        Err(e) => Err(Unknown::ReadFailed(e.to_string())),
    };
    (Some(execution_id), cost)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(id: i64, cost: Result<f64, Unknown>) -> NodeCost {
        NodeCost {
            id,
            label: format!("query {id}"),
            execution_id: None,
            cost,
        }
    }

    #[test]
    fn known_costs_add_up_and_only_they_can_stop_a_run() {
        let e = Estimate {
            nodes: vec![
                node(1, Ok(4.0)),
                node(2, Ok(8.5)),
                node(3, Err(Unknown::NotRead)),
                node(4, Err(Unknown::NeverRan)),
                node(5, Err(Unknown::NotRead)),
            ],
            reads_allowed: 4,
            not_made: None,
        };
        assert_eq!(e.total(), 12.5);
        assert_eq!(e.known(), 2);
        assert!(e.passes(12.0));
        assert!(!e.passes(12.5));
        let reasons = e.unknown_by_reason();
        assert_eq!(reasons.len(), 2);
        assert_eq!(reasons[0].1, vec![3, 5]);
        assert_eq!(reasons[1].1, vec![4]);
        let none = Estimate {
            nodes: vec![node(1, Err(Unknown::NotRead))],
            ..Estimate::default()
        };
        assert!(none.all_unknown());
        assert!(!none.passes(0.1));
    }

    #[test]
    fn the_reads_leave_room_for_the_first_minute_of_polls() {
        let schedule = Schedule::default();
        let window = Duration::from_secs(61);
        let polls = schedule.plan(Duration::ZERO, Duration::ZERO, window).len();
        // The first window's polls and the three requests around the start fit under 40 beside them.
        assert_eq!(
            reads_allowed(40, window, &schedule, false),
            40 - polls - AROUND_START
        );
        assert!(polls + AROUND_START + reads_allowed(40, window, &schedule, false) <= 40);
        assert!(reads_allowed(200, window, &schedule, false) >= 2 * 30 * 2);
        assert_eq!(reads_allowed(10, window, &schedule, false), 0);
        assert_eq!(reads_allowed(40, window, &schedule, true), 37);
    }
}
