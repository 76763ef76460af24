//! A result file in `results_dir`: written under a `.part` name and renamed when complete, so a later step
//! never sees half a result under the final name; removed if the download fails.

use std::path::{Path, PathBuf};

use tokio::io::AsyncWriteExt;

/// A file name that says which node's result it holds: `query-<query id>-<execution id>.<ext>` (ids from
/// Dune reduced to letters, digits, `-` and `_`).
pub fn file_name(query_id: Option<i64>, execution_id: &str, extension: &str) -> String {
    let clean: String = execution_id
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'))
        .take(64)
        .collect();
    let query = query_id.map_or_else(|| "unknown".to_string(), |q| q.to_string());
    format!("query-{query}-{clean}.{extension}")
}

/// A file being written.
pub struct PartFile {
    part: PathBuf,
    target: PathBuf,
    file: Option<tokio::fs::File>,
    /// Bytes written so far.
    pub bytes: u64,
}

impl PartFile {
    /// Creates `dir` (and its parents) and `<dir>/<name>.part`.
    pub async fn create(dir: &Path, name: &str) -> std::io::Result<PartFile> {
        tokio::fs::create_dir_all(dir).await?;
        let target = dir.join(name);
        let part = dir.join(format!("{name}.part"));
        let file = tokio::fs::File::create(&part).await?;
        Ok(PartFile {
            part,
            target,
            file: Some(file),
            bytes: 0,
        })
    }

    /// Appends `data`.
    pub async fn write(&mut self, data: &[u8]) -> std::io::Result<()> {
        if let Some(f) = &mut self.file {
            f.write_all(data).await?;
            self.bytes += data.len() as u64;
        }
        Ok(())
    }

    /// Flushes, closes and renames the file to its final name; returns that path.
    pub async fn finish(mut self) -> std::io::Result<PathBuf> {
        if let Some(mut f) = self.file.take() {
            f.flush().await?;
            drop(f);
        }
        tokio::fs::rename(&self.part, &self.target).await?;
        Ok(self.target.clone())
    }
}

impl Drop for PartFile {
    fn drop(&mut self) {
        // Not finished: the download failed; leave nothing half-written behind.
        if self.file.take().is_some() {
            let _ = std::fs::remove_file(&self.part);
        }
    }
}

/// What [`hand_over`] did with `results_dir`.
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
/// `results_dir` and its files as root in the bind-mounted workspace, where a later `run:` step (user
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_carry_query_and_execution() {
        assert_eq!(
            file_name(Some(101), "01HKZJ2683PHF9Q9PHHQ8FW4Q1", "csv"),
            "query-101-01HKZJ2683PHF9Q9PHHQ8FW4Q1.csv"
        );
        assert_eq!(file_name(None, "../x/y", "jsonl"), "query-unknown-xy.jsonl");
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

    #[tokio::test]
    async fn unfinished_files_are_removed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut f = PartFile::create(&dir.path().join("a/b"), "x.csv")
            .await
            .expect("create");
        f.write(b"abc").await.expect("write");
        drop(f);
        assert_eq!(
            std::fs::read_dir(dir.path().join("a/b"))
                .expect("dir")
                .count(),
            0
        );
        let mut f = PartFile::create(dir.path(), "y.csv").await.expect("create");
        f.write(b"abc").await.expect("write");
        let p = f.finish().await.expect("finish");
        assert_eq!(std::fs::read(p).expect("read"), b"abc");
    }
}
