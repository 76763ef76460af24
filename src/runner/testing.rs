//! Test-only support for the unit tests of `src/`: text an attacker would send (a proptest strategy), and
//! the tests' oracles from `tests/it/` (how the runner reads workflow commands and file commands, how
//! GitHub renders the summary), included here so one copy serves the unit and the integration tests.

#[path = "../../crates/dune-api/src/testing.rs"]
mod strategies;
/// Text that looks like what an attacker would send (shared with dune-api's tests).
pub(crate) use strategies::hostile;

#[path = "../../tests/it/file_commands.rs"]
pub(crate) mod file_commands;
#[path = "../../tests/it/gantt_subset.rs"]
pub(crate) mod gantt_subset;
#[path = "../../tests/it/gfm.rs"]
pub(crate) mod gfm;
#[path = "../../tests/it/workflow_commands.rs"]
pub(crate) mod workflow_commands;
