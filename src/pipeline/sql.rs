//! SQL files in pipeline files: a query node may name `sql: <path>` (relative to the pipeline file), the
//! query's SQL kept in the repository. This is the API the rest of the action uses: the nodes mapped to
//! their files ([`sql_files`], [`SqlNode`]) and when a saved query's SQL differs from its file
//! ([`differs`]). Reading and checking the files is [`super::sql_read`]'s, with the pipeline file.

use super::definition::PipelineFile;
pub use super::sql_read::{SqlNode, differs, normalized};

/// The nodes of a pipeline file that name a SQL file, in the order of the file.
pub fn sql_files(file: &PipelineFile) -> &[SqlNode] {
    &file.sql
}
