//! State shared by every connection of one simulator: the scenario, the virtual clock, the pipelines
//! and executions it created, the requests it served, and how far each fault has got.

use std::collections::{HashMap, HashSet};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use crate::clock::Clock;
use crate::engine::PipelineRun;
use crate::scenario::faults::FaultKind;
use crate::scenario::{FaultEndpoint, Scenario};
use crate::util::new_ulid;

/// One request the simulator served (or dropped).
#[derive(Debug, Clone)]
pub struct RecordedRequest {
    pub method: String,
    pub path: String,
    /// Raw query string; an `api_key` value is replaced by `REDACTED`.
    pub query: Option<String>,
    /// The `Accept` header the client sent, if any.
    pub accept: Option<String>,
    /// Request body as text (lossy UTF-8).
    pub body: String,
    /// Whether the request carried an acceptable API key (the key itself is never stored).
    pub api_key_ok: bool,
    /// Status code sent; 0 when the connection was dropped without a response.
    pub status: u16,
    /// Virtual time since the simulator started, at arrival.
    pub at: Duration,
}

/// State shared by every connection of one simulator.
pub(crate) struct Shared {
    pub(crate) scenario: Scenario,
    pub(crate) base_url: String,
    pub(crate) clock: Clock,
    faults: Vec<CompiledFault>,
    state: Mutex<State>,
}

struct CompiledFault {
    endpoint: FaultEndpoint,
    after: usize,
    responses: Vec<(FaultKind, bool)>,
    node: Option<u64>,
}

/// Mutable state, behind one mutex that is never held across an await.
#[derive(Default)]
pub(crate) struct State {
    pub(crate) pipelines: HashMap<String, PipelineRun>,
    /// Execution id -> (pipeline execution id, node index).
    pub(crate) executions: HashMap<String, (String, usize)>,
    pub(crate) pipelines_started: usize,
    pub(crate) cancelled: Vec<String>,
    /// Query id -> the pipeline node executions that ran it (pipeline execution id, node index),
    /// oldest first.
    pub(crate) latest: HashMap<u64, Vec<(String, usize)>>,
    /// Execution ids of the scenario's `latest_results`, by index.
    pub(crate) static_ids: Vec<String>,
    /// Execution id -> index into the scenario's `latest_results`.
    pub(crate) static_executions: HashMap<String, usize>,
    /// Execution ids of the scenario's `materialized_views` refreshes, by index.
    pub(crate) view_ids: Vec<String>,
    /// Execution id -> index into the scenario's `materialized_views`.
    pub(crate) view_executions: HashMap<String, usize>,
    pub(crate) requests: Vec<RecordedRequest>,
    /// Saved queries' SQL and versions, as `PATCH`es left them.
    pub(crate) saved: crate::sql::Saved,
    /// Execution id -> a raw-SQL execution (`POST /sql/execute`).
    pub(crate) sql_executions: HashMap<String, crate::sql::SqlRun>,
    /// Per fault: (matching requests seen, responses used).
    fault_progress: Vec<(usize, usize)>,
    ids: HashSet<String>,
}

impl State {
    /// A fresh ULID for an execution that ended `age` before the clock's start (the epoch).
    fn past_id(&mut self, clock: &Clock, age: Duration) -> String {
        let ended = clock
            .timestamp_nanos(Duration::ZERO)
            .saturating_sub(age.as_nanos() as i128);
        self.new_id(ended / 1_000_000)
    }

    /// A fresh ULID, unique within this simulator.
    pub(crate) fn new_id(&mut self, unix_millis: i128) -> String {
        loop {
            let id = new_ulid(unix_millis);
            if self.ids.insert(id.clone()) {
                return id;
            }
        }
    }
}

impl Shared {
    /// `scenario` must have been validated.
    pub(crate) fn new(scenario: Scenario, base_url: String) -> anyhow::Result<Shared> {
        let clock = Clock::start(scenario.time_scale, scenario.epoch.as_deref())?;
        let mut faults = Vec::new();
        for f in &scenario.faults {
            let mut responses = Vec::new();
            for r in &f.responses {
                responses.push((r.kind()?, r.apply));
            }
            faults.push(CompiledFault {
                endpoint: f.endpoint,
                after: f.after,
                responses,
                node: f.node,
            });
        }
        let mut state = State {
            fault_progress: vec![(0, 0); faults.len()],
            saved: crate::sql::Saved::new(&scenario.saved_queries),
            ..State::default()
        };
        for (i, l) in scenario.latest_results.iter().enumerate() {
            let id = state.past_id(&clock, l.age);
            state.static_executions.insert(id.clone(), i);
            state.static_ids.push(id);
        }
        for (i, v) in scenario.materialized_views.iter().enumerate() {
            let id = state.past_id(&clock, v.age);
            state.view_executions.insert(id.clone(), i);
            state.view_ids.push(id);
        }
        Ok(Shared {
            base_url,
            clock,
            faults,
            state: Mutex::new(state),
            scenario,
        })
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave the state half-updated in a way that matters to
        // a test double; keep serving.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn record(&self, request: RecordedRequest) -> usize {
        let mut state = self.lock();
        state.requests.push(request);
        state.requests.len() - 1
    }

    pub(crate) fn set_status(&self, index: usize, status: u16) {
        if let Some(r) = self.lock().requests.get_mut(index) {
            r.status = status;
        }
    }

    /// Counts this request against every matching fault; returns the response of the first fault
    /// that is due, consuming it.
    pub(crate) fn take_fault(
        &self,
        endpoint: Option<FaultEndpoint>,
        execution: Option<&str>,
    ) -> Option<(FaultKind, bool)> {
        let mut state = self.lock();
        // The node (scenario id) whose execution the request is about, if any.
        let node = execution
            .and_then(|e| state.executions.get(e))
            .and_then(|(pid, i)| state.pipelines.get(pid).and_then(|p| p.nodes.get(*i)))
            .map(|n| n.id);
        let mut fired = None;
        let State { fault_progress, .. } = &mut *state;
        for (fault, progress) in self.faults.iter().zip(fault_progress.iter_mut()) {
            if fault.endpoint != FaultEndpoint::Any && Some(fault.endpoint) != endpoint {
                continue;
            }
            if fault.node.is_some() && fault.node != node {
                continue;
            }
            progress.0 += 1;
            if fired.is_none() && progress.0 > fault.after && progress.1 < fault.responses.len() {
                fired = Some(fault.responses[progress.1].clone());
                progress.1 += 1;
            }
        }
        fired
    }
}
