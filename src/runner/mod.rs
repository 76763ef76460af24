//! The runner's side: what GitHub's runner hands the action (environment, `INPUT_*`, the event payload)
//! and what it reads back (workflow commands on stdout, the `GITHUB_OUTPUT`/`GITHUB_STATE`/summary files).
//! Nothing here knows about Dune or about the run; every other module writes to the runner through it.

pub mod console;
pub(crate) mod context;
pub mod env;
pub mod files;
pub(crate) mod secret;
#[cfg(test)]
pub(crate) mod testing;
