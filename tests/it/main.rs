//! The integration tests: one binary that drives the action from outside (its `app::run` or its binary)
//! against the Dune simulator and a fake GitHub.

mod action;
mod cli;
mod common;
mod dag;
mod fake_github;
mod faults;
mod github;
mod layers;
mod limits;
mod metadata;
mod polling;
mod post;
mod properties;
mod rate_budget;
mod results;
mod secrets;
mod stop_during_start;
