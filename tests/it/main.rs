//! The integration tests: one binary that drives the action from outside (its `app::run` or its binary)
//! against the Dune simulator and a fake GitHub.

mod action;
mod cli;
mod common;
mod credits;
mod dag;
mod fake_github;
mod faults;
mod fresh;
mod github;
mod later_step;
mod layers;
mod matrix;
mod metadata;
mod polling;
mod post;
mod preview;
mod rate_budget;
mod real_dune;
mod results;
mod runner_limits;
mod runner_view;
mod schema;
mod secrets;
mod sql_sync;
mod stop_during_start;
mod tls;
mod where_users_look;
