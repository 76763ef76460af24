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
