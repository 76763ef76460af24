//! Fetching one node's result: a small JSON page for the preview (only the rows it shows), then, when
//! `results_dir` is set, the whole result page by page into a file, through `dune_api`'s pager (which
//! follows the next-page pointers and answers Dune's per-request limits). A page is read whole, turned
//! into file bytes, written, and dropped before the next one is asked for, so memory stays at about two
//! pages whatever the result's size.

use std::future::Future;
use std::time::Instant;

use serde_json::Value;
use tokio::sync::watch;

use super::file::{PartFile, file_name};
use super::model::{Column, FetchError, Preview};
use super::settings::{ResultsConfig, ResultsFormat};
use dune_api::models::ResultMetadata;
use dune_api::results::page_rows;
use dune_api::{Client, Page, ResultFormat, ResultsError};

/// Longest cell kept for the preview (characters); longer ones are shortened with `…`.
pub const PREVIEW_CELL_CHARS: usize = 120;

/// What the preview page told.
#[derive(Debug)]
pub struct PreviewPage {
    pub preview: Preview,
    pub metadata: Option<ResultMetadata>,
    pub state: Option<String>,
}

/// What a full download wrote.
#[derive(Debug)]
pub struct Download {
    /// Path relative to the workspace, `/`-separated.
    pub path: String,
    pub rows: u64,
    pub bytes: u64,
    pub pages: u64,
    pub seconds: f64,
}

/// Fetches results for the nodes of one run.
pub struct Fetcher<'a> {
    pub client: &'a Client,
    pub config: &'a ResultsConfig,
    pub stop: watch::Receiver<bool>,
}

impl Fetcher<'_> {
    async fn guard<T>(
        &self,
        fut: impl Future<Output = Result<T, ResultsError>>,
    ) -> Result<T, FetchError> {
        let mut stop = self.stop.clone();
        if *stop.borrow() {
            return Err(FetchError::Stopped);
        }
        tokio::select! {
            r = fut => r.map_err(FetchError::from),
            Ok(_) = stop.wait_for(|s| *s) => Err(FetchError::Stopped),
        }
    }

    /// Reads the first `preview_rows` rows, the columns and the result's size.
    pub async fn preview(
        &self,
        execution_id: &str,
        partial: bool,
    ) -> Result<PreviewPage, FetchError> {
        // `result_rows: 0` with `results_dir`: one row, for the columns and the size; it is not shown.
        let limit = u64::from(self.config.preview_rows.max(1));
        let page = self
            .guard(
                self.client
                    .result_pages(execution_id, ResultFormat::Json)
                    .page_rows(limit)
                    .allow_partial(partial)
                    .first_page(),
            )
            .await?;
        preview_page(page, limit)
    }

    /// Streams the whole result into `<results_dir>/<file name>`.
    pub async fn download(
        &self,
        query_id: Option<i64>,
        execution_id: &str,
        partial: bool,
        metadata: Option<&ResultMetadata>,
    ) -> Result<Download, FetchError> {
        let Some(dir) = &self.config.dir else {
            return Err(FetchError::Inconsistent("no results_dir".into()));
        };
        let format = self.config.format;
        let started = Instant::now();
        let name = file_name(query_id, execution_id, format.extension());
        let io = |source| FetchError::Io {
            path: format!("{}/{name}", dir.relative),
            source,
        };
        let mut file = PartFile::create(&dir.path, &name).await.map_err(io)?;
        let wire = wire_format(format);
        let columns = metadata.map_or(0, |m| m.column_names.len() as u64);
        let mut pager = self
            .client
            .result_pages(execution_id, wire)
            .page_rows(page_rows(metadata, wire))
            .allow_partial(partial)
            .columns(columns);
        let (mut rows, mut pages) = (0u64, 0u64);
        while let Some(page) = self.guard(pager.next_page()).await? {
            let data = match format {
                ResultsFormat::Csv => csv_bytes(&page, pages == 0),
                ResultsFormat::JsonLines => json_lines(&page),
            };
            rows += page.rows;
            // The body goes before the write: about two pages in memory (body, then bytes), not three.
            drop(page);
            file.write(&data).await.map_err(io)?;
            pages += 1;
        }
        if let Some(total) = metadata.and_then(|m| m.total_row_count)
            && total != rows
            && !partial
        {
            return Err(FetchError::Inconsistent(format!(
                "{rows} rows were downloaded but Dune reported {total}"
            )));
        }
        let bytes = file.bytes;
        file.finish().await.map_err(io)?;
        Ok(Download {
            path: format!("{}/{name}", dir.relative),
            rows,
            bytes,
            pages,
            seconds: started.elapsed().as_secs_f64(),
        })
    }
}

/// The endpoint a file format is read from: CSV files from Dune's CSV, JSON Lines from its JSON.
pub(crate) fn wire_format(format: ResultsFormat) -> ResultFormat {
    match format {
        ResultsFormat::Csv => ResultFormat::Csv,
        ResultsFormat::JsonLines => ResultFormat::Json,
    }
}

/// A CSV page as it goes to the file: the header record only on the first page.
fn csv_bytes(page: &Page, first: bool) -> Vec<u8> {
    let (header, records) = (page.csv_header(), page.csv_records());
    let mut data = Vec::with_capacity(
        if first {
            page.body().len()
        } else {
            records.len()
        } + 2,
    );
    if first && !header.is_empty() {
        data.extend_from_slice(header);
        if !header.ends_with(b"\n") {
            data.push(b'\n');
        }
    }
    data.extend_from_slice(records);
    if !records.is_empty() && !records.ends_with(b"\n") {
        data.push(b'\n');
    }
    data
}

/// A JSON page as JSON Lines: each row's own JSON text (line breaks outside strings are only whitespace,
/// and inside strings they are escaped, so dropping them keeps the row intact) on one line.
fn json_lines(page: &Page) -> Vec<u8> {
    let mut data = Vec::with_capacity(page.body().len());
    for text in page.json_rows() {
        one_line(text, &mut data);
    }
    data
}

/// Appends a row's JSON text and a line break, the line breaks in the text dropped.
fn one_line(text: &[u8], data: &mut Vec<u8>) {
    if text.contains(&b'\n') || text.contains(&b'\r') {
        data.extend(text.iter().filter(|b| !matches!(b, b'\n' | b'\r')));
    } else {
        data.extend_from_slice(text);
    }
    data.push(b'\n');
}

/// The preview: the first `limit` rows of the page, each cell as the summary shows it.
fn preview_page(page: Page, limit: u64) -> Result<PreviewPage, FetchError> {
    let mut objects = Vec::with_capacity(page.json_rows().len().min(limit as usize));
    for row in page.json_rows().take(limit as usize) {
        match serde_json::from_slice::<Value>(row) {
            Ok(Value::Object(o)) => objects.push(o),
            _ => {
                return Err(FetchError::Inconsistent(
                    "a row is not a JSON object".into(),
                ));
            }
        }
    }
    let meta = page.metadata;
    let mut columns: Vec<Column> = match &meta {
        Some(m) if !m.column_names.is_empty() => m
            .column_names
            .iter()
            .enumerate()
            .map(|(i, n)| Column {
                name: n.clone(),
                kind: m.column_types.get(i).cloned(),
            })
            .collect(),
        _ => Vec::new(),
    };
    if columns.is_empty()
        && let Some(first) = objects.first()
    {
        columns = first
            .keys()
            .map(|k| Column {
                name: k.clone(),
                kind: None,
            })
            .collect();
    }
    let cells = objects
        .iter()
        .map(|o| {
            columns
                .iter()
                .map(|c| cell_text(o.get(&c.name).unwrap_or(&Value::Null)))
                .collect()
        })
        .collect();
    Ok(PreviewPage {
        preview: Preview {
            columns,
            rows: cells,
        },
        metadata: meta,
        state: page.state,
    })
}

/// A value as the preview shows it (`None` for null), shortened.
fn cell_text(v: &Value) -> Option<String> {
    let text = match v {
        Value::Null => return None,
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    Some(crate::runner::console::truncate_chars(
        &text,
        PREVIEW_CELL_CHARS,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_rows_become_single_lines() {
        let mut data = Vec::new();
        one_line(b"{\"a\":\n 1}", &mut data);
        one_line(b"{\"a\":\"x\\ny\"}", &mut data);
        assert_eq!(
            String::from_utf8(data).expect("utf8"),
            "{\"a\": 1}\n{\"a\":\"x\\ny\"}\n"
        );
    }
}
