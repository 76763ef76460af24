//! A typed client for the parts of the [Dune Analytics API](https://docs.dune.com/api-reference) that
//! query pipelines use: start a pipeline (a saved query's, or an explicit definition), read its status and
//! each node's execution, read results page by page, cancel executions, read a materialized view's latest
//! refreshes.
//!
//! - **One place for retries**: every request goes through one loop, which
//!   applies the rate cap ([`rate`]), the retry policy ([`retry`]), the
//!   per-request timeout and a bounded body read. Starting a pipeline is never retried after an answer
//!   that may have started one.
//! - **Tolerant models** ([`models`]): unknown fields are ignored and status strings are kept verbatim,
//!   because Dune's docs leave them open.
//! - **No secret in any message**: the key ([`ApiKey`]) has a redacted `Debug`, travels in a sensitive
//!   header, and is redacted from transport errors.
//! - **Result paging** ([`results`]): [`Client::result_pages`] reads a result (JSON rows or CSV text)
//!   page by page, following Dune's next-page pointers and answering its per-request datapoint limit
//!   with smaller pages (a typed [`ResultsError`] when not even that fits).
//! - **Time is injectable** ([`Clock`]): retries, the rate cap and the caller's waits can run compressed
//!   against a simulator.
//!
//! The crate knows nothing of the program that uses it: diagnostics go to a [`DebugHook`], retries are
//! reported to a [`RetryHook`], and the caller names itself in the `User-Agent`.
//!
//! ```no_run
//! # async fn run() -> Result<(), dune_api::Error> {
//! use std::time::Duration;
//! use dune_api::{ApiKey, Client, Clock, models::{ExecuteQueryPipelineRequest, Performance}};
//!
//! let base = "https://api.dune.com".parse().expect("a URL");
//! let client = Client::builder(base, ApiKey::new("…"))
//!     .user_agent("my-tool/1.0")
//!     .per_request_timeout(Duration::from_secs(30))
//!     .build()?;
//! let request = ExecuteQueryPipelineRequest { performance: Performance::Medium.into(), query_parameters: None };
//! let id = client.execute_query_pipeline(3493826, &request).await?;
//! let status = client.pipeline_status(&id, true).await?;
//! println!("{id}: {:?}", status.status);
//! # let _ = Clock::real();
//! # Ok(()) }
//! ```
//!
//! Reading a result page by page:
//!
//! ```no_run
//! # async fn rows(client: &dune_api::Client) -> Result<(), dune_api::ResultsError> {
//! use dune_api::ResultFormat;
//!
//! let mut pages = client.result_pages("01HKZJ2683PHF9Q9PHHQ8FW4Q1", ResultFormat::Json).page_rows(5000);
//! while let Some(page) = pages.next_page().await? {
//!     for row in page.json_rows() {
//!         let row: serde_json::Value = serde_json::from_slice(row).expect("each row is a JSON object");
//!         println!("{row}");
//!     }
//! }
//! # Ok(()) }
//! ```

#![warn(missing_docs)]

pub mod client;
pub mod clock;
mod csv;
pub mod definition;
pub mod error;
pub mod graph;
pub mod models;
pub mod proxy;
pub mod queries;
pub mod rate;
pub mod results;
pub mod retry;
pub mod secret;
pub mod sql;
#[cfg(test)]
mod testing;
pub mod text;
pub mod tls;

pub use client::{
    Client, ClientBuilder, DEFAULT_USER_AGENT, DebugHook, Priority, Retry, RetryHook,
};
pub use clock::Clock;
pub use error::Error;
pub use results::{Page, ResultFormat, ResultPages, ResultsError};
pub use retry::RequestKind;
pub use secret::{ApiKey, Secret, redact};
