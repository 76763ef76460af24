//! The error of an invalid input and the helpers that word it, shared by every file of `config` (below
//! them, so that `mod.rs` and its children do not import each other).

use crate::pipeline::definition;

/// An invalid input: which one, and what to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("input `{input}`: {message}")]
pub struct InputError {
    /// The input's name as written in `with:`.
    pub input: &'static str,
    /// What is wrong and how to fix it.
    pub message: String,
    /// For `pipeline_file`: the file's problems, each with its line and column (annotated on the file).
    pub file: Option<Box<definition::PipelineFileError>>,
}

/// An [`InputError`] for `input`.
pub(crate) fn err(input: &'static str, message: impl Into<String>) -> InputError {
    InputError {
        input,
        message: message.into(),
        file: None,
    }
}

/// Quotes a user's value in an input error, shortened and on one line.
pub(crate) fn quoted(value: &str) -> String {
    let v: String = value.chars().take(60).collect();
    let v = crate::runner::console::one_line(&v);
    if value.chars().count() > 60 {
        format!("\"{v}…\"")
    } else {
        format!("\"{v}\"")
    }
}
