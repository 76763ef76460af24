//! dune-pipeline-action: runs a Dune Analytics query pipeline from a GitHub Actions step, follows every
//! node until the pipeline ends, and reports it in the step's outputs, log and job summary.
//!
//! The library can be driven in-process: build an [`env::Env`] and an [`app::Runtime`], call [`app::run`].

pub mod app;
pub mod cancel;
pub mod cli;
pub mod clock;
pub mod dag;
pub mod definition;
#[cfg(feature = "demo")]
pub mod demo;
pub mod dune;
pub mod env;
pub mod github;
pub mod inputs;
pub mod mermaid;
pub mod node;
pub mod outcome;
pub mod pipeline;
pub mod plan;
pub mod poll;
pub mod post;
pub mod report;
pub mod results;
pub mod secret;
