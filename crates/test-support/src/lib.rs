//! Test support for the whole workspace, a dev-dependency only (never published, never in the image): the
//! oracles, each written apart from the code it checks (how the runner reads workflow commands and
//! `GITHUB_OUTPUT`, how GitHub renders the summary, the Mermaid `gantt` subset the timeline keeps to), and
//! the proptest strategies that feed hostile text and odd JSON to the parsers and escapers.

pub mod file_commands;
pub mod gantt_subset;
pub mod gfm;
pub mod strategies;
pub mod workflow_commands;

pub use strategies::{hostile, json};
