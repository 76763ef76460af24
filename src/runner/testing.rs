//! Test-only support for the unit tests of `src/`, from the dev-only `test-support` crate: text an attacker
//! would send (a proptest strategy) and the oracles the integration tests use too (how the runner reads
//! workflow commands and file commands, how GitHub renders the summary, the Mermaid `gantt` subset).

pub(crate) use test_support::{file_commands, gantt_subset, gfm, hostile, workflow_commands};
