//! dune-pipeline-action: runs a Dune Analytics query pipeline from a GitHub Actions step, follows every
//! node until the pipeline ends, and reports it in the step's outputs, log and job summary.
//!
//! The library can be driven in-process: build a [`runner::env::Env`] and an [`app::Runtime`], call
//! [`app::run`]. `ARCHITECTURE.md` draws the layers; imports point down only.
//!
//! Public: what `main`, the benches and the integration tests use (`app`, `cli`, `post`, `demo`, the
//! runner's console, environment and files, the poll schedule); everything else is the crate's own.

pub mod app;
pub mod cli;
pub(crate) mod config;
#[cfg(feature = "demo")]
pub mod demo;
pub(crate) mod github;
pub(crate) mod outcome;
pub mod pipeline;
pub mod post;
pub(crate) mod report;
pub(crate) mod results;
pub(crate) mod review;
pub mod runner;
