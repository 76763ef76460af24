//! A typed client for the parts of the [Dune Analytics API](https://docs.dune.com/api-reference) that
//! query pipelines use: start a pipeline (a saved query's, or an explicit definition), read its status and
//! each node's execution, read results page by page, cancel executions.
//!
//! - **One place for retries**: every request goes through [`Client::send_decoded`], which
//!   applies the rate cap ([`rate`]), the retry policy ([`retry`]), the
//!   per-request timeout and a bounded body read. Starting a pipeline is never retried after an answer
//!   that may have started one.
//! - **Tolerant models** ([`models`]): unknown fields are ignored and status strings are kept verbatim,
//!   because Dune's docs leave them open.
//! - **No secret in any message**: the key ([`ApiKey`]) has a redacted `Debug`, travels in a sensitive
//!   header, and is redacted from transport errors.
//! - **Time is injectable** ([`Clock`]): retries, the rate cap and the caller's waits can run compressed
//!   against a simulator.
//!
//! The crate knows nothing of GitHub or of the action that uses it: diagnostics go to a [`DebugHook`].
//!
//! ```no_run
//! # async fn run() -> Result<(), dune_api::Error> {
//! use std::time::Duration;
//! use dune_api::{ApiKey, Client, Clock, models::{ExecuteQueryPipelineRequest, Performance}};
//!
//! let base = "https://api.dune.com".parse().expect("a URL");
//! let client = Client::new(base, ApiKey::new("…"), Clock::real(), Duration::from_secs(30))?;
//! let request = ExecuteQueryPipelineRequest { performance: Performance::Medium.as_str(), query_parameters: None };
//! let id = client.execute_query_pipeline(3493826, &request).await?;
//! let status = client.pipeline_status(&id, true).await?;
//! println!("{id}: {:?}", status.status);
//! # Ok(()) }
//! ```

#![warn(missing_docs)]

pub mod client;
pub mod clock;
pub mod definition;
pub mod error;
pub mod graph;
pub mod models;
pub mod proxy;
pub mod queries;
pub mod rate;
pub mod retry;
pub mod secret;
pub mod sql;
#[cfg(test)]
mod testing;
pub mod text;

pub use client::{
    AGENT, Client, DebugHook, MAX_ERROR_BODY, MAX_JSON_BODY, MAX_RESULT_PAGE, Priority, Response,
    decode_json, error_message, path_segment,
};
pub use clock::Clock;
pub use error::Error;
pub use retry::Kind;
pub use secret::{ApiKey, redact};
