//! What the previews are asked for (`preview`, `preview_rows`, `diff_key`), read and validated in
//! `config::preview`.

/// The most rows of each side a preview shows.
pub const MAX_PREVIEW_ROWS: usize = 100;

/// `preview`, `preview_rows`, `diff_key`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ReviewSettings {
    /// `preview: true`: preview the changed SQL instead of running the pipeline.
    pub enabled: bool,
    /// Rows of each side shown per difference (`preview_rows`, default 10).
    pub rows: usize,
    /// Columns that identify a row (`diff_key`), when rows are matched by key.
    pub key: Option<Vec<String>>,
}
