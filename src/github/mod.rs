//! GitHub's side: workflow commands on stdout and the runner's files.

pub mod api;
pub mod check_run;
pub mod commands;
pub mod context;
pub mod files;
pub mod markdown;
pub mod pr_comment;
pub mod publish;
