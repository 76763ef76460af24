//! The built-in scenarios (`Scenario::builtin`, `dune-sim --builtin NAME`) and the small constructors
//! tests use (`Scenario::single_query`, `Scenario::chain`).

use std::time::Duration;

use crate::scenario::dialect::{PipelineStatusNames, StatusNames, StatusStyle};
use crate::scenario::model::{NodeDef, QueryDef, Scenario};

const BUILTIN_NAMES: &[&str] = &[
    "demo",
    "demo-failing",
    "single",
    "query-state",
    "mv-only",
    "vocab-succeeding",
    "vocab-failing",
];

const DEMO_ROOT: u64 = 3_493_826;

impl Scenario {
    /// A built-in scenario by name (see [`Scenario::builtin_names`]).
    pub fn builtin(name: &str) -> Option<Scenario> {
        match name {
            "demo" => Some(demo(false)),
            "demo-failing" => Some(demo(true)),
            "query-state" => Some(Scenario {
                status_style: StatusStyle::QueryState,
                ..demo(false)
            }),
            "single" => Some(Scenario {
                time_scale: 20.0,
                ..Scenario::single_query(1111, Duration::from_secs(5))
            }),
            "mv-only" => Some(mv_only()),
            "vocab-succeeding" => Some(vocab(false)),
            "vocab-failing" => Some(vocab(true)),
            _ => None,
        }
    }

    /// Names accepted by [`Scenario::builtin`].
    pub fn builtin_names() -> &'static [&'static str] {
        BUILTIN_NAMES
    }

    /// One saved query whose pipeline is a single query node (id 1) running for `duration`.
    /// Time scale 1.0.
    pub fn single_query(query_id: u64, duration: Duration) -> Scenario {
        Scenario {
            queries: vec![QueryDef {
                query_id,
                nodes: vec![NodeDef::query(1, query_id).duration(duration)],
            }],
            ..Scenario::default()
        }
    }

    /// A chain of `n` nodes (at least 1), each running for `each`: node 1 is a materialized view
    /// `dune.sim.mv_chain_1`, nodes 2..n-1 are queries `query_id + i - 1`, node n is `query_id` itself.
    /// With `n == 1` the only node is the query. Time scale 1.0.
    pub fn chain(query_id: u64, n: usize, each: Duration) -> Scenario {
        let n = n.max(1) as u64;
        let nodes = (1..=n)
            .map(|i| {
                let node = if i == n {
                    NodeDef::query(i, query_id)
                } else if i == 1 {
                    NodeDef::materialized_view(i, "dune.sim.mv_chain_1")
                } else {
                    NodeDef::query(i, query_id.wrapping_add(i - 1))
                };
                let node = if i > 1 {
                    node.depends_on([i - 1])
                } else {
                    node
                };
                node.duration(each)
            })
            .collect();
        Scenario {
            queries: vec![QueryDef { query_id, nodes }],
            ..Scenario::default()
        }
    }
}

fn demo(failing: bool) -> Scenario {
    let secs = Duration::from_secs;
    let q = |id: u64, query_id: u64, dur: u64, rows: u64| {
        NodeDef::query(id, query_id)
            .depends_on([id - 1])
            .queue(secs(2))
            .duration(secs(dur))
            .rows(rows)
    };
    let mut transform = q(3, 3_493_802, 45, 720);
    if failing {
        transform = transform.failing("line 12:5: Column 'amount_usd' cannot be resolved");
        transform.error_line = Some(12);
        transform.error_column = Some(5);
    }
    Scenario {
        time_scale: 60.0,
        queries: vec![QueryDef {
            query_id: DEMO_ROOT,
            nodes: vec![
                NodeDef::materialized_view(1, "dune.acme.mv_dex_trades_daily")
                    .queue(secs(2))
                    .duration(secs(40)),
                // extract
                q(2, 3_493_801, 30, 1440),
                // transform
                transform,
                // aggregate
                q(4, 3_493_803, 25, 120),
                // metrics (the saved query whose pipeline this is)
                q(5, DEMO_ROOT, 20, 24),
            ],
        }],
        ..Scenario::default()
    }
}

/// Root query of the `vocab-*` builtins.
const VOCAB_ROOT: u64 = 5_550_000;

/// A materialized view, two queries reading it, and the root query joining them, reported in an
/// entirely different status vocabulary (`PIPELINE_EXECUTION_STATUS_*` at the top, `scheduled`,
/// `in_progress`, `succeeded`, `errored`, `aborted` per node).
fn vocab(failing: bool) -> Scenario {
    let secs = Duration::from_secs;
    let s = |x: &str| Some(x.to_owned());
    let mut left = NodeDef::query(2, 5_550_001)
        .depends_on([1])
        .queue(secs(1))
        .duration(secs(20))
        .rows(30);
    if failing {
        left = left.failing("line 3:14: Table 'dune.acme.mv_daily_volume' is being refreshed");
        left.error_line = Some(3);
        left.error_column = Some(14);
    }
    Scenario {
        time_scale: 60.0,
        status_names: StatusNames {
            waiting: s("scheduled"),
            pending: s("scheduled"),
            executing: s("in_progress"),
            completed: s("succeeded"),
            failed: s("errored"),
            cancelled: s("aborted"),
            completed_partial: s("succeeded"),
            expired: s("errored"),
            blocked: s("aborted"),
        },
        pipeline_status_names: PipelineStatusNames {
            pending: s("PIPELINE_EXECUTION_STATUS_PENDING"),
            executing: s("PIPELINE_EXECUTION_STATUS_RUNNING"),
            completed: s("PIPELINE_EXECUTION_STATUS_SUCCEEDED"),
            failed: s("PIPELINE_EXECUTION_STATUS_ERRORED"),
            cancelled: s("PIPELINE_EXECUTION_STATUS_ABORTED"),
        },
        queries: vec![QueryDef {
            query_id: VOCAB_ROOT,
            nodes: vec![
                NodeDef::materialized_view(1, "dune.acme.mv_daily_volume")
                    .queue(secs(1))
                    .duration(secs(30)),
                left,
                NodeDef::query(3, 5_550_002)
                    .depends_on([1])
                    .queue(secs(1))
                    .duration(secs(25))
                    .rows(30),
                NodeDef::query(4, VOCAB_ROOT)
                    .depends_on([2, 3])
                    .queue(secs(1))
                    .duration(secs(15))
                    .rows(12),
            ],
        }],
        ..Scenario::default()
    }
}

fn mv_only() -> Scenario {
    let secs = Duration::from_secs;
    Scenario {
        time_scale: 60.0,
        queries: vec![QueryDef {
            query_id: 4242,
            nodes: vec![
                NodeDef::materialized_view(1, "dune.acme.mv_prices_hourly")
                    .queue(secs(1))
                    .duration(secs(20)),
                NodeDef::materialized_view(2, "dune.acme.mv_volumes_hourly")
                    .queue(secs(1))
                    .duration(secs(30)),
                NodeDef::query(3, 4242)
                    .depends_on([1, 2])
                    .queue(secs(1))
                    .duration(secs(15))
                    .rows(48),
            ],
        }],
        ..Scenario::default()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::scenario::model::Outcome;

    #[test]
    fn builtins_are_valid_and_listed() {
        for name in Scenario::builtin_names() {
            let s = Scenario::builtin(name).unwrap();
            s.validate().unwrap();
            // Round-trips through YAML.
            let yaml = serde_yaml_ng::to_string(&s).unwrap();
            assert_eq!(Scenario::from_yaml_or_json(&yaml).unwrap(), s, "{name}");
        }
        assert!(Scenario::builtin("nope").is_none());
        let failing = Scenario::builtin("demo-failing").unwrap();
        let n3 = &failing.queries[0].nodes[2];
        assert_eq!(n3.outcome, Outcome::Failed);
        assert_eq!(n3.error_line, Some(12));
    }

    #[test]
    fn chain_shape() {
        let s = Scenario::chain(99, 3, Duration::from_secs(2));
        let nodes = &s.queries[0].nodes;
        assert_eq!(nodes.len(), 3);
        assert!(nodes[0].materialized_view.is_some());
        assert_eq!(nodes[2].query_id, Some(99));
        assert_eq!(nodes[2].dependencies, vec![2]);
        s.validate().unwrap();
        let one = Scenario::chain(5, 0, Duration::from_secs(1));
        assert_eq!(one.queries[0].nodes[0].query_id, Some(5));
    }
}
