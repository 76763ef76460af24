//! Executions: `GET /execution/{id}/status` and `POST /execution/{id}/cancel`, and the view of one
//! execution (a pipeline node's, a scenario's `latest_results` entry or a view's last refresh) that the
//! result pages also read.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value, json};

use crate::api::reply::Reply;
use crate::engine::{Phase, PipelineRun, Timeline};
use crate::rows;
use crate::scenario::{LatestResult, Outcome, ViewRefresh};
use crate::sql::{self, SqlRun};
use crate::state::Shared;
use crate::util::{fnv1a, format_timestamp, is_ulid};

/// Results are kept this long after the execution ended (`expires_at`).
const RESULT_RETENTION: Duration = Duration::from_secs(90 * 24 * 3600);

/// Everything the execution endpoints need about one execution, copied out of the lock.
pub(super) struct ExecView {
    pub(super) execution_id: String,
    pub(super) query_id: Option<u64>,
    pub(super) phase: Phase,
    /// Timestamps, in nanoseconds since the Unix epoch.
    pub(super) submitted_at: i128,
    pub(super) started_at: Option<i128>,
    pub(super) ended_at: Option<i128>,
    pub(super) queue: Duration,
    pub(super) run_time: Duration,
    pub(super) rows: u64,
    pub(super) columns: u32,
    pub(super) credits: f64,
    pub(super) error: Value,
    pub(super) seed: u64,
    /// The result of raw SQL (`POST /sql/execute`) or of a saved result's `sql`: its own columns and rows.
    pub(super) sql: Option<Arc<sql::Shape>>,
}

pub(super) enum Lookup {
    Found(Box<ExecView>),
    /// A real execution id of a node that has not been submitted (yet, or ever).
    NotSubmitted,
    Unknown,
}

pub(super) fn lookup_execution(shared: &Shared, raw: &str) -> Result<Lookup, Reply> {
    if !is_ulid(raw) {
        return Err(Reply::error(
            400,
            format!("The requested execution ID (ID: {raw}) is invalid."),
        ));
    }
    let id = raw.to_ascii_uppercase();
    let now = shared.clock.now();
    let state = shared.lock();
    if let Some(&li) = state.static_executions.get(&id) {
        return Ok(Lookup::Found(Box::new(static_view(
            shared,
            &shared.scenario.latest_results[li],
            id,
        ))));
    }
    if let Some(&vi) = state.view_executions.get(&id) {
        return Ok(Lookup::Found(Box::new(refresh_view(
            shared,
            &shared.scenario.materialized_views[vi],
            id,
        ))));
    }
    if let Some(run) = state.sql_executions.get(&id) {
        return Ok(Lookup::Found(Box::new(sql_view(shared, &id, run, now))));
    }
    let Some((pid, i)) = state.executions.get(&id) else {
        return Ok(Lookup::Unknown);
    };
    let Some(run) = state.pipelines.get(pid) else {
        return Ok(Lookup::Unknown);
    };
    let t = run.rel(now);
    if !run.submitted(*i, t) {
        return Ok(Lookup::NotSubmitted);
    }
    Ok(Lookup::Found(Box::new(exec_view(shared, run, *i, t))))
}

/// `error` object of a failed execution.
pub(super) fn error_object(
    error_type: Option<&str>,
    message: String,
    line: Option<u64>,
    column: Option<u64>,
) -> Value {
    let mut error = Map::new();
    error.insert(
        "type".into(),
        json!(error_type.unwrap_or("FAILED_TYPE_EXECUTION_FAILED")),
    );
    error.insert("message".into(), json!(message));
    let mut meta = Map::new();
    if let Some(l) = line {
        meta.insert("line".into(), json!(l));
    }
    if let Some(c) = column {
        meta.insert("column".into(), json!(c));
    }
    if !meta.is_empty() {
        error.insert("metadata".into(), Value::Object(meta));
    }
    Value::Object(error)
}

pub(super) fn exec_view(shared: &Shared, run: &PipelineRun, i: usize, t: Duration) -> ExecView {
    let node = &run.nodes[i];
    let phase = run.phase(i, t);
    let abs = |d: Duration| {
        shared
            .clock
            .timestamp_nanos(shared.clock.event_time(run.created, d))
    };
    let (submit, start, end) = match run.timeline(i) {
        Timeline::Runs {
            submit, start, end, ..
        } => (submit, start, end),
        Timeline::Blocked { at } => (at, None, at),
    };
    let started = start.filter(|s| t >= *s);
    let ended = (t >= end).then_some(end);
    let b = &node.behaviour;
    let credits = match phase {
        Phase::Ended(o) => node.credits(o),
        _ => 0.0,
    };
    ExecView {
        execution_id: node.execution_id.clone(),
        query_id: node.query_id(),
        phase,
        submitted_at: abs(submit),
        started_at: started.map(abs),
        ended_at: ended.map(abs),
        queue: start.unwrap_or(end).saturating_sub(submit),
        run_time: start.map_or(Duration::ZERO, |s| end.saturating_sub(s)),
        rows: node.rows(),
        columns: b.columns.unwrap_or(rows::DEFAULT_COLUMNS),
        credits,
        error: error_object(
            b.error_type.as_deref(),
            node.error_message(),
            b.error_line,
            b.error_column,
        ),
        seed: node.sql_seed.unwrap_or_else(|| fnv1a(&node.execution_id)),
        sql: None,
    }
}

/// An execution that ended `age` before the epoch (or the simulator's start) after `duration` of work: a
/// scenario's `latest_results` entry or a view's last refresh (`materialized_views`).
struct Past {
    execution_id: String,
    query_id: Option<u64>,
    age: Duration,
    duration: Duration,
    state: Outcome,
    credits: f64,
    rows: u64,
    columns: u32,
    error: String,
    sql: Option<Arc<sql::Shape>>,
}

fn past_view(shared: &Shared, p: Past) -> ExecView {
    let end = shared
        .clock
        .timestamp_nanos(Duration::ZERO)
        .saturating_sub(p.age.as_nanos() as i128);
    let start = end.saturating_sub(p.duration.as_nanos() as i128);
    ExecView {
        seed: fnv1a(&p.execution_id),
        execution_id: p.execution_id,
        query_id: p.query_id,
        phase: Phase::Ended(p.state),
        submitted_at: start,
        started_at: Some(start),
        ended_at: Some(end),
        queue: Duration::ZERO,
        run_time: p.duration,
        rows: p.rows,
        columns: p.columns,
        credits: p.credits,
        error: error_object(None, p.error, None, None),
        sql: p.sql,
    }
}

/// A scenario's `latest_results` entry: it ended `age` before the epoch (or the simulator's start).
pub(super) fn static_view(shared: &Shared, l: &LatestResult, execution_id: String) -> ExecView {
    let credits = l.credits.unwrap_or(match l.state {
        Outcome::Failed | Outcome::Cancelled => 0.0,
        _ => crate::scenario::cost(false, false, l.duration),
    });
    let shape = l.sql.as_deref().map(|q| Arc::new(sql::derive(q)));
    past_view(
        shared,
        Past {
            execution_id,
            query_id: Some(l.query_id),
            age: l.age,
            duration: l.duration,
            state: l.state,
            credits,
            rows: shape.as_ref().map_or(l.rows.unwrap_or(5), |s| s.rows),
            columns: shape
                .as_ref()
                .map_or(l.columns.unwrap_or(rows::DEFAULT_COLUMNS), |s| {
                    s.columns.len() as u32
                }),
            error: l
                .error
                .clone()
                .unwrap_or_else(|| "Query execution failed (simulated)".to_owned()),
            sql: shape,
        },
    )
}

/// A scenario's `materialized_views` entry: the view's refresh that ended `age` before the epoch.
fn refresh_view(shared: &Shared, v: &ViewRefresh, execution_id: String) -> ExecView {
    past_view(
        shared,
        Past {
            execution_id,
            query_id: v.query_id,
            age: v.age,
            duration: v.duration,
            state: v.state,
            credits: v.cost(),
            rows: 5,
            columns: rows::DEFAULT_COLUMNS,
            error: v
                .error
                .clone()
                .unwrap_or_else(|| "Materialized view refresh failed (simulated)".to_owned()),
            sql: None,
        },
    )
}

/// A raw-SQL execution: pending for [`sql::QUEUE`], then [`sql::RUN_TIME`] executing; it fails
/// when its SQL does, at the SQL's line and column.
fn sql_view(shared: &Shared, id: &str, run: &SqlRun, now: Duration) -> ExecView {
    let abs = |d: Duration| shared.clock.timestamp_nanos(d);
    let t = now.saturating_sub(run.created);
    let queue = sql::QUEUE;
    let end = run.cancelled.unwrap_or(queue + sql::RUN_TIME);
    let outcome = match (&run.shape.error, run.cancelled) {
        (_, Some(_)) => Outcome::Cancelled,
        (Some(_), None) => Outcome::Failed,
        (None, None) => Outcome::Completed,
    };
    let phase = if t >= end {
        Phase::Ended(outcome)
    } else if t >= queue {
        Phase::Executing
    } else {
        Phase::Pending
    };
    let error = run.shape.error.as_ref();
    ExecView {
        execution_id: id.to_owned(),
        query_id: Some(0),
        phase,
        submitted_at: abs(run.created),
        started_at: (t >= queue).then(|| abs(run.created + queue)),
        ended_at: (t >= end).then(|| abs(run.created + end)),
        queue,
        run_time: end.saturating_sub(queue),
        rows: run.shape.rows,
        columns: run.shape.columns.len() as u32,
        credits: if outcome == Outcome::Completed {
            sql::credits(&run.shape)
        } else {
            0.0
        },
        error: error_object(
            Some("FAILED_TYPE_EXECUTION_FAILED"),
            error.map_or_else(String::new, |e| e.message.clone()),
            error.map(|e| e.line),
            error.map(|e| e.column),
        ),
        seed: fnv1a(id),
        sql: Some(run.shape.clone()),
    }
}

impl ExecView {
    pub(super) fn state(&self) -> &'static str {
        match self.phase {
            Phase::Waiting | Phase::Blocked | Phase::Pending => "QUERY_STATE_PENDING",
            Phase::Executing => "QUERY_STATE_EXECUTING",
            Phase::Ended(Outcome::Completed) => "QUERY_STATE_COMPLETED",
            Phase::Ended(Outcome::CompletedPartial) => "QUERY_STATE_COMPLETED_PARTIAL",
            Phase::Ended(Outcome::Failed) => "QUERY_STATE_FAILED",
            Phase::Ended(Outcome::Cancelled) => "QUERY_STATE_CANCELLED",
            Phase::Ended(Outcome::Expired) => "QUERY_STATE_EXPIRED",
        }
    }

    pub(super) fn outcome(&self) -> Option<Outcome> {
        match self.phase {
            Phase::Ended(o) => Some(o),
            _ => None,
        }
    }

    /// Fields shared by the status and results responses.
    pub(super) fn common(&self) -> Map<String, Value> {
        let ts = |n: i128| json!(format_timestamp(n));
        let mut m = Map::new();
        m.insert("execution_id".into(), json!(self.execution_id));
        if let Some(q) = self.query_id {
            m.insert("query_id".into(), json!(q));
        }
        m.insert("state".into(), json!(self.state()));
        m.insert(
            "is_execution_finished".into(),
            json!(self.outcome().is_some()),
        );
        m.insert("submitted_at".into(), ts(self.submitted_at));
        if let Some(s) = self.started_at {
            m.insert("execution_started_at".into(), ts(s));
        }
        if let Some(e) = self.ended_at {
            m.insert("execution_ended_at".into(), ts(e));
            match self.outcome() {
                Some(Outcome::Completed | Outcome::CompletedPartial) => {
                    m.insert(
                        "expires_at".into(),
                        ts(e.saturating_add(RESULT_RETENTION.as_nanos() as i128)),
                    );
                }
                Some(Outcome::Expired) => {
                    m.insert("expires_at".into(), ts(e));
                }
                Some(Outcome::Cancelled) => {
                    m.insert("cancelled_at".into(), ts(e));
                }
                Some(Outcome::Failed) => {
                    m.insert("error".into(), self.error.clone());
                }
                None => {}
            }
        }
        m
    }

    pub(super) fn metadata(&self, page_rows: u64, page_bytes: Option<u64>) -> Value {
        let total_bytes = match &self.sql {
            Some(s) => s.total_bytes(),
            None => rows::estimated_total_bytes(self.rows, self.columns),
        };
        let (names, types) = match &self.sql {
            Some(s) => (s.column_names(), s.column_types()),
            None => (
                rows::column_names(self.columns),
                rows::column_types(self.columns)
                    .into_iter()
                    .map(str::to_owned)
                    .collect(),
            ),
        };
        json!({
            "column_names": names,
            "column_types": types,
            "row_count": page_rows,
            "result_set_bytes": page_bytes.unwrap_or(total_bytes),
            "total_row_count": self.rows,
            "total_result_set_bytes": total_bytes,
            "datapoint_count": self.rows.saturating_mul(u64::from(self.columns)),
            "pending_time_millis": self.queue.as_millis() as u64,
            "execution_time_millis": self.run_time.as_millis() as u64,
        })
    }
}

/// A JSON number, integral when the value is (`10` rather than `10.0`, like Dune's examples).
fn number(x: f64) -> Value {
    if x.fract() == 0.0 && (0.0..9.0e15).contains(&x) {
        json!(x as u64)
    } else {
        json!(x)
    }
}

pub(super) fn not_found_execution() -> Reply {
    Reply::error(404, "Execution not found")
}

pub(super) fn execution_status(shared: &Shared, raw: &str) -> Reply {
    let view = match lookup_execution(shared, raw) {
        Ok(Lookup::Found(v)) => *v,
        Ok(_) => return not_found_execution(),
        Err(r) => return r,
    };
    let mut m = view.common();
    if view.phase == Phase::Pending {
        m.insert("queue_position".into(), json!(1));
    }
    if view.outcome() == Some(Outcome::Completed) {
        m.insert("result_metadata".into(), view.metadata(view.rows, None));
    }
    m.insert("execution_cost_credits".into(), number(view.credits));
    Reply::json(200, &Value::Object(m))
}

pub(super) fn cancel_execution(shared: &Shared, raw: &str) -> Reply {
    if !is_ulid(raw) {
        return Reply::error(
            400,
            format!("The requested execution ID (ID: {raw}) is invalid."),
        );
    }
    let id = raw.to_ascii_uppercase();
    let now = shared.clock.now();
    let mut state = shared.lock();
    if state.static_executions.contains_key(&id) || state.view_executions.contains_key(&id) {
        return Reply::json(200, &json!({ "success": false }));
    }
    if let Some(run) = state.sql_executions.get_mut(&id) {
        let t = now.saturating_sub(run.created);
        let running = run.cancelled.is_none() && t < sql::QUEUE + sql::RUN_TIME;
        if running {
            run.cancelled = Some(t);
            state.cancelled.push(id);
        }
        return Reply::json(200, &json!({ "success": running }));
    }
    let Some((pid, i)) = state.executions.get(&id).cloned() else {
        return not_found_execution();
    };
    let cancelled = match state.pipelines.get_mut(&pid) {
        Some(run) => {
            let t = run.rel(now);
            run.cancel(i, t)
        }
        None => false,
    };
    if cancelled {
        state.cancelled.push(id);
    }
    Reply::json(200, &json!({ "success": cancelled }))
}
