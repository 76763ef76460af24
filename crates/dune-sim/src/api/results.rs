//! Result pages: `GET /execution/{id}/results[/csv]` and `GET /query/{id}/results[/csv]` (a query's
//! latest result), with paging, the datapoint cap and partial results.

use serde_json::{Value, json};

use crate::api::executions::{
    ExecView, Lookup, error_object, exec_view, lookup_execution, not_found_execution, static_view,
};
use crate::api::params::{Params, parse_query_id};
use crate::api::reply::Reply;
use crate::engine::Phase;
use crate::rows;
use crate::scenario::{DatapointLimitResponse, Outcome, PartialResults};
use crate::state::Shared;

const PARTIAL_ERROR: &str = "Partial Result, please request with 'allow_partial_results=true'";

/// Message of the 400 for a page above `max_datapoints_per_request`. A guess: Dune documents the
/// 250,000 datapoints default and the `ignore_max_datapoints_per_request` parameter, but not the
/// status code or wording of the response.
fn datapoint_error(datapoints: u64, cap: u64) -> String {
    format!(
        "This request would return {datapoints} datapoints, above the limit of {cap} datapoints per request. Request fewer rows or columns (limit, columns), or set ignore_max_datapoints_per_request=true."
    )
}

pub(super) fn execution_results(shared: &Shared, raw: &str, params: &Params, csv: bool) -> Reply {
    let view = match lookup_execution(shared, raw) {
        Ok(Lookup::Found(v)) => *v,
        Ok(_) => return not_found_execution(),
        Err(r) => return r,
    };
    let path = format!("/api/v1/execution/{}/results", view.execution_id);
    results_page(shared, &view, &path, params, csv)
}

/// `GET /query/{id}/results[/csv]`: the newest ended execution of the query by a pipeline of this
/// simulator, else the scenario's `latest_results` entry, else 404.
pub(super) fn query_results(shared: &Shared, raw: &str, params: &Params, csv: bool) -> Reply {
    let query_id = match parse_query_id(raw) {
        Ok(q) => q,
        Err(r) => return r,
    };
    let now = shared.clock.now();
    let view = {
        let state = shared.lock();
        let from_pipeline = state.latest.get(&query_id).and_then(|runs| {
            runs.iter().rev().find_map(|(pid, i)| {
                let run = state.pipelines.get(pid)?;
                let t = run.rel(now);
                matches!(run.phase(*i, t), Phase::Ended(_)).then(|| exec_view(shared, run, *i, t))
            })
        });
        from_pipeline.or_else(|| {
            let li = shared
                .scenario
                .latest_results
                .iter()
                .position(|l| l.query_id == query_id)?;
            let id = state.static_ids.get(li)?.clone();
            Some(static_view(shared, &shared.scenario.latest_results[li], id))
        })
    };
    let Some(view) = view else {
        let known = shared.scenario.queries.iter().any(|q| {
            q.query_id == query_id || q.nodes.iter().any(|n| n.query_id == Some(query_id))
        });
        return Reply::error(
            404,
            if known {
                "No execution found for this query"
            } else {
                "Query not found"
            },
        );
    };
    let path = format!("/api/v1/query/{query_id}/results");
    results_page(shared, &view, &path, params, csv)
}

/// A page of results (JSON or CSV) of `view`; `path` is the endpoint `next_uri` points back to.
fn results_page(shared: &Shared, view: &ExecView, path: &str, params: &Params, csv: bool) -> Reply {
    let (limit, offset, allow_partial, ignore_cap) = match (
        params.u64("limit"),
        params.u64("offset"),
        params.bool("allow_partial_results"),
        params.bool("ignore_max_datapoints_per_request"),
    ) {
        (Ok(l), Ok(o), Ok(a), Ok(i)) => (l, o.unwrap_or(0), a, i),
        (Err(r), _, _, _) | (_, Err(r), _, _) | (_, _, Err(r), _) | (_, _, _, Err(r)) => {
            return r;
        }
    };
    let has_rows = match view.outcome() {
        Some(Outcome::Completed) => true,
        Some(Outcome::CompletedPartial) if allow_partial => true,
        Some(Outcome::CompletedPartial) => match shared.scenario.partial_results_without_allow {
            PartialResults::Error => return Reply::error(400, PARTIAL_ERROR),
            PartialResults::PartialState if !csv => {
                return Reply::json(200, &Value::Object(view.common()));
            }
            PartialResults::FailedState if !csv => {
                let mut m = view.common();
                m.insert("state".into(), json!("QUERY_STATE_FAILED"));
                m.remove("expires_at");
                m.insert(
                    "error".into(),
                    error_object(
                        Some("FAILED_TYPE_RESULT_TOO_LARGE"),
                        PARTIAL_ERROR.to_owned(),
                        None,
                        None,
                    ),
                );
                return Reply::json(200, &Value::Object(m));
            }
            _ => false,
        },
        _ => false,
    };
    if !has_rows {
        if csv {
            return Reply::error(
                400,
                format!(
                    "execution {} is in state {}: no results to download",
                    view.execution_id,
                    view.state()
                ),
            );
        }
        return Reply::json(200, &Value::Object(view.common()));
    }
    let max = shared.scenario.max_page_rows;
    let mut limit = match limit {
        None | Some(0) => max,
        Some(l) => l.min(max),
    };
    let total = view.rows;
    let start = offset.min(total);
    let mut end = start.saturating_add(limit).min(total);
    let cols = u64::from(view.columns.max(1));
    let cap = shared.scenario.max_datapoints_per_request;
    let datapoints = (end - start).saturating_mul(cols);
    if cap > 0 && !ignore_cap && datapoints > cap {
        match shared.scenario.datapoint_limit_response {
            DatapointLimitResponse::Error => {
                return Reply::error(400, datapoint_error(datapoints, cap));
            }
            DatapointLimitResponse::Shorten => {
                limit = (cap / cols).max(1);
                end = start.saturating_add(limit).min(total);
            }
        }
    }
    let next = (end < total).then_some(end);
    let next_uri = |suffix: &str| {
        next.map(|n| {
            let mut uri = format!("{}{path}{suffix}?limit={limit}&offset={n}", shared.base_url);
            if allow_partial {
                uri.push_str("&allow_partial_results=true");
            }
            if ignore_cap {
                uri.push_str("&ignore_max_datapoints_per_request=true");
            }
            uri
        })
    };
    let columns = view.columns;
    if csv {
        let per_row = 10 * u64::from(columns);
        let mut out = String::with_capacity(capacity(end - start, per_row));
        match &view.sql {
            Some(s) => s.write_csv(&mut out, start, end),
            None => rows::write_csv(&mut out, view.seed, start, end, columns),
        }
        let mut reply = Reply::raw(200, "text/csv", out);
        if let (Some(n), Some(uri)) = (next, next_uri("/csv")) {
            reply.headers.push(("x-dune-next-uri", uri));
            reply.headers.push(("x-dune-next-offset", n.to_string()));
        }
        return reply;
    }
    let mut head = view.common();
    if let (Some(n), Some(uri)) = (next, next_uri("")) {
        head.insert("next_uri".into(), json!(uri));
        head.insert("next_offset".into(), json!(n));
    }
    // Write `{...head, "result": {"rows": [...], "metadata": {...}}}` without building a Value per row.
    let head = Value::Object(head).to_string();
    let per_row = 20 * u64::from(columns);
    let mut out = String::with_capacity(capacity(end - start, per_row) + head.len());
    out.push_str(&head[..head.len() - 1]);
    out.push_str(",\"result\":{\"rows\":[");
    let (bytes, header) = match &view.sql {
        Some(s) => (
            s.write_json_rows(&mut out, start, end),
            s.column_names().iter().map(|c| c.len() as u64).sum(),
        ),
        None => (
            rows::write_json_rows(&mut out, view.seed, start, end, columns),
            rows::header_bytes(columns),
        ),
    };
    out.push_str("],\"metadata\":");
    let meta = view.metadata(end - start, Some(header + bytes));
    out.push_str(&meta.to_string());
    out.push_str("}}");
    Reply::raw(200, "application/json", out)
}

/// A buffer size hint for `rows` rows of about `per_row` bytes, capped at 64 MiB.
fn capacity(rows: u64, per_row: u64) -> usize {
    usize::try_from(
        rows.saturating_mul(per_row)
            .saturating_add(512)
            .min(64 << 20),
    )
    .unwrap_or(0)
}
