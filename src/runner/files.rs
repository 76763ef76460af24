//! The runner's file commands: `GITHUB_OUTPUT` and `GITHUB_STATE` (heredoc blocks with a random delimiter,
//! exactly as the toolkit writes them) and `GITHUB_STEP_SUMMARY` (markdown). Outside GitHub Actions the same
//! values are collected and printed on the terminal instead.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};

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

/// The directory of the workspace the action writes its own files to (the `nodes_file`).
pub const WORKSPACE_DIR: &str = ".dune-pipeline-action";

/// What [`hand_over`] did with a directory of the workspace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HandOver {
    /// Its files already belong to the workspace's owner (the action does not run as root), or there is
    /// no workspace.
    AlreadyTheirs,
    /// Its directories and files were given to the workspace's owner (`chown uid:gid`).
    Chowned { uid: u32, gid: u32, entries: usize },
    /// `chown` was refused: its directories and files were made writable for everyone instead.
    MadeWritable { entries: usize },
}

/// Gives `dir` (and the directories between the workspace and it) and every file in it to the owner of
/// `workspace`. GitHub's runner starts a container action without `--user`: as root, the action creates
/// `results_dir` (and the `nodes_file`) as root in the bind-mounted workspace, where a later `run:` step (user
/// `runner`) could neither write nor delete them, and the next job's checkout could not clean them
/// (actions/runner#434, #1282). When `chown` is refused, it makes them writable for others instead.
#[cfg(unix)]
pub fn hand_over(workspace: &Path, dir: &Path) -> std::io::Result<HandOver> {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let owner = std::fs::metadata(workspace)?;
    let (uid, gid) = (owner.uid(), owner.gid());
    let mut entries: Vec<PathBuf> = dir
        .ancestors()
        .take_while(|a| a.starts_with(workspace) && *a != workspace)
        .map(Path::to_path_buf)
        .collect();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d)? {
            let entry = entry?;
            let path = entry.path();
            if entry.file_type()?.is_dir() {
                stack.push(path.clone());
            }
            entries.push(path);
        }
    }
    let theirs =
        |p: &PathBuf| std::fs::symlink_metadata(p).is_ok_and(|m| m.uid() == uid && m.gid() == gid);
    if entries.iter().all(theirs) {
        return Ok(HandOver::AlreadyTheirs);
    }
    let chowned = entries
        .iter()
        .filter(|p| !theirs(p))
        .try_for_each(|p| std::os::unix::fs::lchown(p, Some(uid), Some(gid)));
    if chowned.is_ok() {
        return Ok(HandOver::Chowned {
            uid,
            gid,
            entries: entries.len(),
        });
    }
    for p in &entries {
        let meta = std::fs::symlink_metadata(p)?;
        if meta.file_type().is_symlink() {
            continue;
        }
        // Directories rwxrwxrwx, files rw-rw-rw-: a later step of another user can change and delete.
        let mode = if meta.is_dir() { 0o777 } else { 0o666 };
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode))?;
    }
    Ok(HandOver::MadeWritable {
        entries: entries.len(),
    })
}

/// Elsewhere than Unix the files already belong to whoever runs the action.
#[cfg(not(unix))]
pub fn hand_over(_workspace: &Path, _dir: &Path) -> std::io::Result<HandOver> {
    Ok(HandOver::AlreadyTheirs)
}

/// The runner's files: where outputs, state and the summary go (`GITHUB_OUTPUT`, `GITHUB_STATE`,
/// `GITHUB_STEP_SUMMARY`). Not to be confused with a DAG's sinks, the nodes nothing depends on.
#[derive(Debug, Default)]
pub struct RunnerFiles {
    output: Option<PathBuf>,
    state: Option<PathBuf>,
    summary: Option<PathBuf>,
    /// `GITHUB_WORKSPACE`: where files for later steps go.
    workspace: Option<PathBuf>,
    /// `GITHUB_ACTION`, the step's id: it names this step's files.
    step: Option<String>,
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
            workspace: path("GITHUB_WORKSPACE"),
            step: get("GITHUB_ACTION").filter(|v| !v.trim().is_empty()),
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

    /// Writes `contents` to `<workspace>/.dune-pipeline-action/<stem>-<step id>.json` for later steps (given
    /// to the workspace's owner), and returns that path relative to the workspace, which is where a later
    /// `run:` step starts. `None` without a workspace (outside GitHub Actions).
    pub fn write_workspace_file(
        &self,
        stem: &str,
        contents: &str,
    ) -> Result<Option<String>, FileError> {
        let Some(workspace) = &self.workspace else {
            return Ok(None);
        };
        let step: String = self
            .step
            .as_deref()
            .unwrap_or("step")
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || matches!(c, '-' | '_') {
                    c
                } else {
                    '_'
                }
            })
            .take(64)
            .collect();
        let relative = format!("{WORKSPACE_DIR}/{stem}-{step}.json");
        let path = workspace.join(&relative);
        let io = |source| FileError::Io {
            what: "workspace",
            path: path.clone(),
            source,
        };
        let dir = workspace.join(WORKSPACE_DIR);
        std::fs::create_dir_all(&dir).map_err(io)?;
        std::fs::write(&path, contents).map_err(io)?;
        hand_over(workspace, &dir).map_err(io)?;
        Ok(Some(relative))
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

    #[cfg(unix)]
    #[test]
    fn result_files_go_to_the_workspace_owner() {
        use std::os::unix::fs::MetadataExt;
        let ws = tempfile::tempdir().expect("tempdir");
        let dir = ws.path().join("out/x");
        std::fs::create_dir_all(&dir).expect("mkdir");
        std::fs::write(dir.join("a.csv"), "a").expect("write");
        // Same owner: nothing to do.
        assert_eq!(
            hand_over(ws.path(), &dir).expect("hand over"),
            HandOver::AlreadyTheirs
        );
        let me = std::fs::metadata(ws.path()).expect("stat").uid();
        if me != 0 {
            return; // only root can give files away
        }
        std::os::unix::fs::chown(ws.path(), Some(1001), Some(1001)).expect("chown");
        assert_eq!(
            hand_over(ws.path(), &dir).expect("hand over"),
            HandOver::Chowned {
                uid: 1001,
                gid: 1001,
                entries: 3
            }
        );
        for p in [ws.path().join("out"), dir.clone(), dir.join("a.csv")] {
            assert_eq!(std::fs::metadata(&p).expect("stat").uid(), 1001, "{p:?}");
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
