//! What the inputs ask of results (`result_rows`, `results_dir`, `results_format`), as validated by
//! [`crate::config`].

use std::path::PathBuf;

/// The most rows a preview may show (a summary is limited to 1 MiB).
pub const MAX_PREVIEW_ROWS: u32 = 1000;

/// What the files in `results_dir` hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResultsFormat {
    /// CSV with a header row, as Dune's `/results/csv` serves it.
    Csv,
    /// JSON Lines: one JSON object per row, keyed by column name.
    JsonLines,
}

impl ResultsFormat {
    /// The file extension.
    pub fn extension(self) -> &'static str {
        match self {
            ResultsFormat::Csv => "csv",
            ResultsFormat::JsonLines => "jsonl",
        }
    }
}

/// Whose results the summary previews (`result_nodes`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ResultNodes {
    /// The sink nodes: nothing depends on them (for a query's pipeline, the root query).
    #[default]
    Sinks,
    /// Every completed query node.
    All,
}

/// Where full results go: a directory inside the workspace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResultsDir {
    /// As the user wrote it, normalised (`out/./x/` → `out/x`), relative to the workspace.
    pub relative: String,
    /// The directory on disk (`GITHUB_WORKSPACE` joined with `relative`; relative to the current
    /// directory outside GitHub Actions).
    pub path: PathBuf,
    /// The workspace it must stay inside.
    pub workspace: Option<PathBuf>,
}

/// The validated result inputs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResultsConfig {
    /// Rows previewed per completed query node; 0 fetches no results at all.
    pub preview_rows: u32,
    /// Where the full results are written, when set.
    pub dir: Option<ResultsDir>,
    /// The format of those files.
    pub format: ResultsFormat,
    /// Whose results are previewed (files in `dir` are written for every completed query node).
    pub nodes: ResultNodes,
}
