//! GitHub's side: workflow commands on stdout and the runner's files.

pub mod commands;
pub mod files;
