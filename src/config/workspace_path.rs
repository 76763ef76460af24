//! Paths the runner hands over absolute (`${{ github.workspace }}/out`), made relative to the workspace:
//! shared by `pipeline_file` (in `mod.rs`) and `results_dir` (in `results.rs`), below both.

/// An absolute path as the runner hands it over: it rewrites every input that starts with the host's
/// workspace path to `/github/workspace/…`, so `${{ github.workspace }}/out` arrives absolute. Inside the
/// workspace it becomes the relative path the user means (`Ok(Some("out"))`); a relative path, or any path
/// when there is no workspace (a terminal), is left alone (`Ok(None)`); outside the workspace it is an
/// error, saying why.
pub(crate) fn within_workspace(
    raw: &str,
    workspace: Option<&str>,
) -> Result<Option<String>, &'static str> {
    use std::path::{Component, Path};
    let path = Path::new(raw);
    let Some(workspace) = workspace.filter(|_| path.is_absolute()) else {
        return Ok(None);
    };
    const OUTSIDE: &str = "is an absolute path outside the workspace: give a path inside GITHUB_WORKSPACE, preferably relative to it (such as `results`)";
    let Ok(rest) = path.strip_prefix(workspace) else {
        return Err(OUTSIDE);
    };
    let mut parts: Vec<String> = Vec::new();
    for c in rest.components() {
        match c {
            Component::Normal(p) => parts.push(p.to_string_lossy().into_owned()),
            Component::CurDir => {}
            Component::ParentDir if parts.pop().is_some() => {}
            _ => return Err(OUTSIDE),
        }
    }
    if parts.is_empty() {
        return Err("is the workspace itself: give a path inside it (such as `results`)");
    }
    Ok(Some(parts.join("/")))
}
