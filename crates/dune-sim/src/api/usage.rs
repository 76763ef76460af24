//! `POST /usage`: the account's billing period, whose `credits_used` grows by the cost of every
//! execution that ended since the simulator started (shaped like the spec's `models.GetUsageResponse`).

use serde_json::json;

use crate::api::reply::Reply;
use crate::engine::Phase;
use crate::state::Shared;

/// `POST /usage` (free: it counts towards no execution).
pub(super) fn usage(shared: &Shared) -> Reply {
    let now = shared.clock.now();
    let spent: f64 = {
        let state = shared.lock();
        state
            .pipelines
            .values()
            .map(|run| {
                let t = run.rel(now);
                (0..run.nodes.len())
                    .filter_map(|i| match run.phase(i, t) {
                        Phase::Ended(o) => Some(run.nodes[i].credits(o)),
                        _ => None,
                    })
                    .sum::<f64>()
            })
            .sum()
    };
    let u = &shared.scenario.usage;
    Reply::json(
        200,
        &json!({
            "billing_periods": [{
                "start_date": u.start_date,
                "end_date": u.end_date,
                "credits_used": u.credits_used + spent,
                "credits_included": u.credits_included,
            }],
            "bytes_used": 0,
            "bytes_allowed": 1_000_000_000u64,
            "private_queries": shared.scenario.queries.len(),
            "private_dashboards": 0,
        }),
    )
}
