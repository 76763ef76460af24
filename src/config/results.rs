//! The inputs that ask for results (`result_rows`, `result_nodes`, `results_dir`, `results_format`),
//! validated like every
//! other input: before anything is sent to Dune, with the input named in the error.

use std::path::{Component, Path, PathBuf};

use super::input_error::{InputError, err, quoted};
use crate::results::settings::{
    MAX_PREVIEW_ROWS, ResultNodes, ResultsConfig, ResultsDir, ResultsFormat,
};
use crate::runner::env::Env;

/// Reads `result_rows`, `result_nodes`, `results_dir` and `results_format`.
pub fn from_env(env: &Env) -> Result<ResultsConfig, InputError> {
    let raw_rows = env.input("result_rows");
    let preview_rows = if raw_rows.is_empty() {
        10
    } else {
        match raw_rows.parse::<u32>() {
            Ok(n) if n <= MAX_PREVIEW_ROWS => n,
            _ => {
                return Err(err(
                    "result_rows",
                    format!(
                        "must be a whole number from 0 to {MAX_PREVIEW_ROWS} (rows previewed per query node; 0 fetches no results), got {}",
                        quoted(&raw_rows)
                    ),
                ));
            }
        }
    };

    let raw_nodes = env.input("result_nodes");
    let nodes = match raw_nodes.to_ascii_lowercase().as_str() {
        "" | "sinks" => ResultNodes::Sinks,
        "all" => ResultNodes::All,
        _ => {
            return Err(err(
                "result_nodes",
                format!(
                    "must be `sinks` (preview the nodes nothing depends on: for a query's pipeline, the root query) or `all` (every query node), got {}",
                    quoted(&raw_nodes)
                ),
            ));
        }
    };

    let raw_format = env.input("results_format");
    let format = match raw_format.to_ascii_lowercase().as_str() {
        "" | "csv" => ResultsFormat::Csv,
        "jsonl" => ResultsFormat::JsonLines,
        "json" => {
            return Err(err(
                "results_format",
                "`json` is now `jsonl` (the files are JSON Lines, one object per row): write `results_format: jsonl`",
            ));
        }
        _ => {
            return Err(err(
                "results_format",
                format!(
                    "must be `csv` or `jsonl` (JSON Lines), got {}",
                    quoted(&raw_format)
                ),
            ));
        }
    };

    let raw_dir = env.input("results_dir");
    let dir = if raw_dir.is_empty() {
        None
    } else {
        let workspace = env.get("GITHUB_WORKSPACE").filter(|w| !w.trim().is_empty());
        Some(results_dir(&raw_dir, workspace.map(PathBuf::from))?)
    };
    Ok(ResultsConfig {
        preview_rows,
        dir,
        format,
        nodes,
    })
}

/// Checks `results_dir`: relative (or absolute inside the workspace, as the runner rewrites
/// `${{ github.workspace }}/out`), never above the workspace (lexically, and through symbolic links of the
/// part that already exists).
pub fn results_dir(raw: &str, workspace: Option<PathBuf>) -> Result<ResultsDir, InputError> {
    let bad = |why: &str| err("results_dir", format!("{} {why}", quoted(raw)));
    if raw.contains('\0') {
        return Err(bad("contains a NUL character"));
    }
    let inside =
        super::workspace_path::within_workspace(raw, workspace.as_deref().and_then(Path::to_str))
            .map_err(bad)?;
    let path = Path::new(inside.as_deref().unwrap_or(raw));
    let mut parts: Vec<String> = Vec::new();
    for c in path.components() {
        match c {
            Component::Normal(p) => parts.push(p.to_string_lossy().into_owned()),
            Component::CurDir => {}
            Component::ParentDir => {
                if parts.pop().is_none() {
                    return Err(bad(
                        "leaves the workspace: give a directory inside it, relative to GITHUB_WORKSPACE (such as `results`)",
                    ));
                }
            }
            Component::RootDir | Component::Prefix(_) => {
                return Err(bad(
                    "is an absolute path: give a directory relative to GITHUB_WORKSPACE (such as `results`)",
                ));
            }
        }
    }
    if parts.is_empty() {
        return Err(bad(
            "is the workspace itself: give a directory inside it (such as `results`)",
        ));
    }
    let relative = parts.join("/");
    let dir = match &workspace {
        Some(w) => w.join(&relative),
        None => PathBuf::from(&relative),
    };
    if let Some(w) = &workspace
        && let Ok(root) = w.canonicalize()
    {
        // The deepest part that exists already must resolve inside the workspace.
        let existing = dir.ancestors().find(|a| a.exists());
        if let Some(Ok(real)) = existing.map(Path::canonicalize)
            && !real.starts_with(&root)
        {
            return Err(bad(
                "leads out of the workspace through a symbolic link: give a directory inside it",
            ));
        }
    }
    Ok(ResultsDir {
        relative,
        path: dir,
        workspace,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Env {
        Env::from_pairs(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())))
    }

    #[test]
    fn defaults_preview_ten_rows_and_write_nothing() {
        let c = from_env(&env(&[])).expect("valid");
        assert_eq!(c.preview_rows, 10);
        assert_eq!(c.dir, None);
        assert_eq!(c.format, ResultsFormat::Csv);
        assert_eq!(c.nodes, ResultNodes::Sinks);
        let all = from_env(&env(&[("INPUT_RESULT_NODES", "All")])).expect("valid");
        assert_eq!(all.nodes, ResultNodes::All);
    }

    #[test]
    fn directory_stays_inside_the_workspace() {
        let ws = tempfile::tempdir().expect("tempdir");
        let w = Some(ws.path().to_path_buf());
        let d = results_dir("./out/../res/x/", w.clone()).expect("valid");
        assert_eq!(d.relative, "res/x");
        assert_eq!(d.path, ws.path().join("res/x"));
        for bad in ["/tmp/x", "..", "a/../..", "../sibling", ".", "a/.."] {
            let e = results_dir(bad, w.clone()).expect_err(bad);
            assert_eq!(e.input, "results_dir", "{bad}");
        }
        #[cfg(unix)]
        {
            let outside = tempfile::tempdir().expect("tempdir");
            std::os::unix::fs::symlink(outside.path(), ws.path().join("link")).expect("symlink");
            let e = results_dir("link/x", w).expect_err("symlink out");
            assert!(e.message.contains("symbolic link"), "{e}");
        }
    }

    #[test]
    fn an_absolute_path_inside_the_workspace_is_shown_relative() {
        let c = from_env(&env(&[
            ("GITHUB_WORKSPACE", "/github/workspace"),
            ("INPUT_RESULTS_DIR", "/github/workspace/out"),
        ]))
        .expect("inside the workspace");
        let dir = c.dir.expect("dir");
        assert_eq!(dir.relative, "out");
        assert_eq!(dir.path, PathBuf::from("/github/workspace/out"));
        for outside in ["/tmp/out", "/github/workspace", "/github/workspace/../x"] {
            let e = from_env(&env(&[
                ("GITHUB_WORKSPACE", "/github/workspace"),
                ("INPUT_RESULTS_DIR", outside),
            ]))
            .expect_err(outside);
            assert_eq!(e.input, "results_dir", "{outside}");
        }
    }

    #[test]
    fn bad_values_name_their_input() {
        for (k, v, input) in [
            ("INPUT_RESULT_ROWS", "-1", "result_rows"),
            ("INPUT_RESULT_ROWS", "1001", "result_rows"),
            ("INPUT_RESULT_ROWS", "ten", "result_rows"),
            ("INPUT_RESULTS_FORMAT", "xlsx", "results_format"),
            ("INPUT_RESULT_NODES", "some", "result_nodes"),
        ] {
            let e = from_env(&env(&[(k, v)])).expect_err(v);
            assert_eq!(e.input, input);
        }
        // Files without previews (issue 21).
        let c = from_env(&env(&[
            ("INPUT_RESULT_ROWS", "0"),
            ("INPUT_RESULTS_DIR", "out"),
        ]))
        .expect("files, no previews");
        assert_eq!(c.preview_rows, 0);
        assert!(c.dir.is_some());
        let c = from_env(&env(&[("INPUT_RESULTS_FORMAT", "JSONL")])).expect("ok");
        assert_eq!(c.format, ResultsFormat::JsonLines);
        // `json` is gone (CHANGELOG.md); the error names the new word.
        let e = from_env(&env(&[("INPUT_RESULTS_FORMAT", "json")])).expect_err("json");
        assert_eq!(e.input, "results_format");
        assert!(e.to_string().contains("`jsonl`"), "{e}");
    }
}
