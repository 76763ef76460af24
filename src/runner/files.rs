//! The runner's file commands: `GITHUB_OUTPUT` and `GITHUB_STATE` (heredoc blocks with a random delimiter,
//! exactly as the toolkit writes them) and `GITHUB_STEP_SUMMARY` (markdown). Outside GitHub Actions the same
//! values are collected and printed on the terminal instead.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::PathBuf;

use rand::RngCore;

/// A fresh 128-bit random token, hex-encoded (delimiters, stop-commands tokens).
pub(crate) fn random_token() -> String {
    let mut bytes = [0u8; 16];
    rand::rng().fill_bytes(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Errors writing a file command.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    /// The output name is not usable as a key.
    #[error("output name {0:?} is empty or contains a line break")]
    BadName(String),
    /// The file could not be written.
    #[error("could not write {what} file {path}: {source}")]
    Io {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Formats one `name<<DELIM … DELIM` block. The delimiter is random (`ghadelimiter_` and 128 random bits,
/// like the toolkit's uuid) and drawn again in the (astronomically unlikely) case the value contains it.
pub(crate) fn heredoc(name: &str, value: &str) -> Result<String, FileError> {
    if name.is_empty() || name.contains(['\n', '\r']) {
        return Err(FileError::BadName(name.to_string()));
    }
    let delimiter = loop {
        let d = format!("ghadelimiter_{}", random_token());
        if !name.contains(&d) && !value.contains(&d) {
            break d;
        }
    };
    Ok(format!("{name}<<{delimiter}\n{value}\n{delimiter}\n"))
}

/// The runner's files: where outputs, state and the summary go (`GITHUB_OUTPUT`, `GITHUB_STATE`,
/// `GITHUB_STEP_SUMMARY`). Not to be confused with a DAG's sinks, the nodes nothing depends on.
#[derive(Debug, Default)]
pub struct RunnerFiles {
    output: Option<PathBuf>,
    state: Option<PathBuf>,
    summary: Option<PathBuf>,
    /// Outputs collected when there is no `GITHUB_OUTPUT` (printed by the CLI at the end).
    pub collected_outputs: Vec<(String, String)>,
    /// The summary when there is no `GITHUB_STEP_SUMMARY`.
    pub collected_summary: String,
}

impl RunnerFiles {
    /// Paths from `GITHUB_OUTPUT`, `GITHUB_STATE` and `GITHUB_STEP_SUMMARY` (empty values count as unset).
    pub fn from_env(get: impl Fn(&str) -> Option<String>) -> Self {
        let path = |name: &str| {
            get(name)
                .filter(|v| !v.trim().is_empty())
                .map(PathBuf::from)
        };
        RunnerFiles {
            output: path("GITHUB_OUTPUT"),
            state: path("GITHUB_STATE"),
            summary: path("GITHUB_STEP_SUMMARY"),
            ..RunnerFiles::default()
        }
    }

    /// Whether outputs go to a runner file (otherwise they are collected for the terminal).
    pub fn has_output_file(&self) -> bool {
        self.output.is_some()
    }

    /// Whether the summary goes to a runner file.
    pub fn has_summary_file(&self) -> bool {
        self.summary.is_some()
    }

    fn append(what: &'static str, path: &PathBuf, text: &str) -> Result<(), FileError> {
        let io = |source| FileError::Io {
            what,
            path: path.clone(),
            source,
        };
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(io)?;
        file.write_all(text.as_bytes()).map_err(io)?;
        file.flush().map_err(io)
    }

    /// Sets a step output.
    pub fn set_output(&mut self, name: &str, value: &str) -> Result<(), FileError> {
        let block = heredoc(name, value)?;
        match &self.output {
            Some(path) => Self::append("GITHUB_OUTPUT", path, &block),
            None => {
                self.collected_outputs
                    .retain(|(existing, _)| existing != name);
                self.collected_outputs
                    .push((name.to_string(), value.to_string()));
                Ok(())
            }
        }
    }

    /// Saves a value for the action's post step (`STATE_<name>` there). Ignored outside GitHub Actions.
    pub fn save_state(&mut self, name: &str, value: &str) -> Result<(), FileError> {
        match &self.state {
            Some(path) => Self::append("GITHUB_STATE", path, &heredoc(name, value)?),
            None => Ok(()),
        }
    }

    /// Appends markdown to the job summary.
    pub fn write_summary(&mut self, markdown: &str) -> Result<(), FileError> {
        match &self.summary {
            Some(path) => Self::append("GITHUB_STEP_SUMMARY", path, markdown),
            None => {
                self.collected_summary.push_str(markdown);
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runner::testing::file_commands::parse_file_commands;
    use crate::runner::testing::hostile;
    use proptest::prelude::*;

    #[test]
    fn heredoc_round_trips_through_the_runner_rules() {
        let values = [
            "simple",
            "",
            "multi\nline\n",
            "EOF\nghadelimiter_x\n",
            "a=b<<c",
            "trailing\r",
        ];
        let mut text = String::new();
        for (i, v) in values.iter().enumerate() {
            text.push_str(&heredoc(&format!("k{i}"), v).expect("heredoc"));
        }
        let parsed = parse_file_commands(&text).expect("parse");
        assert_eq!(parsed.len(), values.len());
        for (i, v) in values.iter().enumerate() {
            assert_eq!(parsed[i], (format!("k{i}"), v.to_string()));
        }
    }

    #[test]
    fn bad_names_are_rejected() {
        assert!(heredoc("", "x").is_err());
        assert!(heredoc("a\nb", "x").is_err());
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn heredoc_round_trips_any_values(values in prop::collection::vec(("[a-z_]{1,12}", hostile()), 1..5)) {
            let mut file = String::new();
            for (name, value) in &values {
                file.push_str(&heredoc(name, value).expect("valid name"));
            }
            let parsed = parse_file_commands(&file).expect("the runner accepts the file");
            prop_assert_eq!(parsed, values);
        }
    }
}
