//! Materialized views: `GET /materialized-views/{name}` (`matviews.MatviewsGetResponse`), answered from
//! the scenario's views: the refreshes of the view by this simulator's pipelines (newest first, once
//! submitted) and the scenario's `materialized_views` entry for it (its last refresh before the start).
//! Each id in `last_execution_ids` is an execution that `GET /execution/{id}/status` serves, with its
//! `execution_ended_at` and `execution_cost_credits`. A view the scenario does not know is a 404.

use std::time::Duration;

use serde_json::json;

use crate::api::reply::Reply;
use crate::engine::NodeKind;
use crate::state::Shared;

/// `table_size_bytes` of every simulated view (Dune's free tier allows 1 MB).
const TABLE_SIZE_BYTES: u64 = 65_536;

/// Whether the scenario names the view anywhere: a `materialized_views` entry or a pipeline node.
fn known(shared: &Shared, name: &str) -> bool {
    shared
        .scenario
        .materialized_views
        .iter()
        .any(|v| v.name.eq_ignore_ascii_case(name))
        || shared.scenario.queries.iter().any(|q| {
            q.nodes.iter().any(|n| {
                n.materialized_view
                    .as_deref()
                    .is_some_and(|v| v.eq_ignore_ascii_case(name))
            })
        })
}

/// `GET /materialized-views/{name}`: `name` is the full name (`dune.<team>.<name>`), as Dune requires.
pub(crate) fn materialized_view(shared: &Shared, name: &str) -> Reply {
    let now = shared.clock.now();
    let entry = shared
        .scenario
        .materialized_views
        .iter()
        .position(|v| v.name.eq_ignore_ascii_case(name));
    let (refreshes, entry_id) = {
        let state = shared.lock();
        // (created, node index, execution id) of every submitted refresh of the view, newest first.
        let mut refreshes: Vec<(Duration, usize, String)> = state
            .pipelines
            .values()
            .flat_map(|run| {
                let t = run.rel(now);
                run.nodes.iter().enumerate().filter_map(move |(i, n)| {
                    let NodeKind::View { name: refreshed } = &n.kind else {
                        return None;
                    };
                    (refreshed.eq_ignore_ascii_case(name) && run.submitted(i, t))
                        .then(|| (run.created, i, n.execution_id.clone()))
                })
            })
            .collect();
        refreshes.sort_by_key(|r| std::cmp::Reverse((r.0, r.1)));
        (
            refreshes,
            entry.and_then(|vi| state.view_ids.get(vi).cloned()),
        )
    };
    if refreshes.is_empty() && entry.is_none() && !known(shared, name) {
        return Reply::error(404, "Materialized view not found");
    }
    let ids: Vec<String> = refreshes
        .into_iter()
        .map(|(_, _, id)| id)
        .chain(entry_id)
        .collect();
    let view = entry.map(|vi| &shared.scenario.materialized_views[vi]);
    let full_name = view.map_or(name, |v| v.name.as_str());
    let mut body = json!({
        "id": full_name,
        "sql_id": full_name,
        "is_private": false,
        "table_size_bytes": TABLE_SIZE_BYTES,
        "owner_team_id": 1,
        "last_execution_ids": ids,
    });
    if let Some(q) = view.and_then(|v| v.query_id) {
        body["query_id"] = json!(q);
    }
    Reply::json(200, &body)
}
