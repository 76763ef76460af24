//! dune-pipeline-action: runs a Dune Analytics query pipeline from a GitHub Actions step, follows every
//! node until the pipeline ends, and reports it in the step's outputs, log and job summary.
//!
//! The library can be driven in-process: build a [`runner::env::Env`] and an [`app::Runtime`], call
//! [`app::run`]. `ARCHITECTURE.md` draws the layers; imports point down only.

pub mod app;
pub mod cli;
pub mod config;
#[cfg(feature = "demo")]
pub mod demo;
pub mod github;
pub mod outcome;
pub mod pipeline;
pub mod post;
pub mod report;
pub mod results;
pub mod runner;
