//! A local simulator of the Dune Analytics HTTP API (query pipelines, executions, results), driven by a
//! [`Scenario`], for testing clients without network, credits or flakiness, and for demos.
//!
//! Pipelines progress on a deterministic schedule in *virtual* time (`time_scale` virtual seconds per
//! real second); faults (errors, 429s, dropped connections, truncated, garbage, oversized or slow
//! bodies) are injected per endpoint; every request is recorded for assertions.
//!
//! Built-in scenarios ([`Scenario::builtin`], `dune-sim --builtin NAME`):
//!
//! - `demo`: root query 3493826, a chain of five nodes (a materialized view, then four queries);
//!   `demo-failing`: the same with node 3 failing, so nodes 4 and 5 never start.
//! - `single`: query 1111, one 5 s node. `query-state`: `demo` with `QUERY_STATE_*` node statuses.
//! - `mv-only`: root query 4242, two materialized views and a query depending on both.
//! - `vocab-succeeding` / `vocab-failing`: root query 5550000; a materialized view
//!   `dune.acme.mv_daily_volume`, queries 5550001 and 5550002 reading it, and the root depending on
//!   both, reported in an entirely different vocabulary: top-level
//!   `PIPELINE_EXECUTION_STATUS_{PENDING,RUNNING,SUCCEEDED,ERRORED,ABORTED}`, nodes `scheduled`,
//!   `in_progress`, `succeeded`, `errored`, `aborted`. In `vocab-failing` node 2 (query 5550001)
//!   fails, node 4 is `aborted` and the pipeline ends `PIPELINE_EXECUTION_STATUS_ERRORED`.
//!
//! Server variants a client must cope with are scenario fields (and `dune-sim` flags):
//! `status_names` / `pipeline_status_names` (any string for any state), `both_status_objects`,
//! `view_names_in_status` / `view_names_in_definition`, `max_datapoints_per_request` with
//! `datapoint_limit_response` and per-node `columns`, `partial_results_without_allow`,
//! `latest_results` (`GET /query/{id}/results`), `materialized_views` (a view's last refresh, for
//! `GET /materialized-views/{name}`), and 402/403 fault presets
//! ([`FaultResponse::billing_limit_exceeded`], [`FaultResponse::forbidden`]).
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! let sim = dune_sim::Simulator::start(dune_sim::Scenario::builtin("demo").expect("builtin")).await?;
//! println!("POST {}/api/v1/query/3493826/pipeline/execute", sim.base_url());
//! sim.shutdown().await;
//! # Ok(()) }
//! ```

mod api;
mod clock;
mod engine;
mod rows;
pub mod scenario;
mod server;
mod sql;
mod state;
mod util;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use scenario::*;
pub use sql::{BROKEN, broken_at};
pub use state::RecordedRequest;

use state::Shared;

/// A running simulator. Dropping it stops the server; [`Simulator::shutdown`] also waits for it.
pub struct Simulator {
    shared: Arc<Shared>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for Simulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Simulator")
            .field("base_url", &self.shared.base_url)
            .finish_non_exhaustive()
    }
}

impl Simulator {
    /// Binds 127.0.0.1 on an ephemeral port and serves in a background tokio task.
    pub async fn start(scenario: Scenario) -> anyhow::Result<Simulator> {
        Self::start_on(
            scenario,
            SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0),
        )
        .await
    }

    /// Same, on a given address. An unspecified address (0.0.0.0) listens everywhere but advertises
    /// the loopback address in [`Simulator::base_url`] and in `next_uri`s.
    pub async fn start_on(scenario: Scenario, addr: SocketAddr) -> anyhow::Result<Simulator> {
        scenario.validate().context("invalid scenario")?;
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("cannot listen on {addr}"))?;
        let local = listener
            .local_addr()
            .context("cannot read the listening address")?;
        let host = match local.ip() {
            IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
            ip => ip,
        };
        let base_url = format!("http://{}", SocketAddr::new(host, local.port()));
        let shared = Arc::new(Shared::new(scenario, base_url)?);
        let (stop, stopped) = oneshot::channel();
        let task = tokio::spawn(server::serve(listener, shared.clone(), stopped));
        Ok(Simulator {
            shared,
            stop: Some(stop),
            task: Some(task),
        })
    }

    /// `http://127.0.0.1:PORT`, without a trailing slash.
    pub fn base_url(&self) -> String {
        self.shared.base_url.clone()
    }

    /// Every request served so far, in arrival order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.lock().requests.clone()
    }

    /// Pipeline executions created by either execute endpoint (including `apply` faults).
    pub fn pipelines_started(&self) -> usize {
        self.shared.lock().pipelines_started
    }

    /// Execution ids that a cancel call actually cancelled, in order.
    pub fn cancelled_executions(&self) -> Vec<String> {
        self.shared.lock().cancelled.clone()
    }

    /// Virtual time since the simulator started.
    pub fn virtual_now(&self) -> Duration {
        self.shared.clock.now()
    }

    /// The scenario being served.
    pub fn scenario(&self) -> &Scenario {
        &self.shared.scenario
    }

    /// Stops accepting connections, closes the open ones, and waits for the server task.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for Simulator {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}
