//! Fetching one node's result: a small JSON page for the preview (only the rows it shows), then, when
//! `results_dir` is set, the whole result page by page into a file. A page is read whole (bounded by
//! [`MAX_RESULT_PAGE`]), turned into file bytes, written, and dropped before the next one is asked for, so
//! memory stays at about two pages whatever the result's size.

use std::future::Future;
use std::time::Instant;

use reqwest::Url;
use serde_json::Value;
use tokio::sync::watch;

use super::csv;
use super::file::{PartFile, file_name};
use super::model::{Column, FetchError, Preview};
use super::settings::{ResultsConfig, ResultsFormat};
use dune_api::models::{ResultMetadata, ResultPage};
use dune_api::{Client, MAX_RESULT_PAGE, Response};

/// Longest cell kept for the preview (characters); longer ones are shortened with `…`.
pub const PREVIEW_CELL_CHARS: usize = 120;

/// About how many bytes a page of the full download should hold: few requests (Dune's read limit is 40 a
/// minute on the free plan), bounded memory.
pub const TARGET_PAGE_BYTES: u64 = 8 * 1024 * 1024;

/// The most rows asked for in one page (what Dune's SDKs use; Dune lowers a larger `limit` anyway).
pub const MAX_PAGE_ROWS: u64 = 32_000;

/// Dune's default cap on the values one results request may return (rows × columns); a page asks for no
/// more rows than fit under it.
pub const MAX_DATAPOINTS_PER_REQUEST: u64 = 250_000;

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

/// One page turned into the bytes that go to the file.
struct PageOut {
    data: Vec<u8>,
    rows: u64,
    next_uri: Option<String>,
    next_offset: Option<u64>,
    /// The execution's state when the page has no result.
    no_result: Option<String>,
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
        fut: impl Future<Output = Result<T, dune_api::Error>>,
    ) -> Result<T, FetchError> {
        let mut stop = self.stop.clone();
        if *stop.borrow() {
            return Err(FetchError::Stopped);
        }
        tokio::select! {
            r = fut => r.map_err(FetchError::Api),
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
        let url = self
            .client
            .execution_results_url(execution_id, false, limit, partial);
        let page = self
            .guard(
                self.client
                    .execution_results_page(&url, |r| preview_page(r, limit)),
            )
            .await?;
        match page {
            Ok(p) => Ok(p),
            Err(state) => Err(FetchError::NoResult {
                execution_id: execution_id.to_string(),
                state,
            }),
        }
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
        let csv = format == ResultsFormat::Csv;
        let name = file_name(query_id, execution_id, format.extension());
        let io = |source| FetchError::Io {
            path: format!("{}/{name}", dir.relative),
            source,
        };
        let mut file = PartFile::create(&dir.path, &name).await.map_err(io)?;
        let mut limit = page_rows(metadata, format);
        let columns = metadata.map_or(0, |m| m.column_names.len() as u64);
        let mut lowered = false;
        let mut url = self
            .client
            .execution_results_url(execution_id, csv, limit, partial);
        let (mut rows, mut pages, mut offset) = (0u64, 0u64, 0u64);
        loop {
            let first = pages == 0;
            let read = |r: &Response| {
                if csv {
                    csv_page(r, first)
                } else {
                    json_lines_page(r)
                }
            };
            let page = match self
                .guard(self.client.execution_results_page(&url, read))
                .await
            {
                Ok(p) => p,
                Err(FetchError::Api(dune_api::Error::TooLarge { .. })) if limit > 1 => {
                    // Wider rows than the metadata suggested: ask for fewer.
                    limit = (limit / 2).max(1);
                    set_query(&mut url, "limit", limit);
                    continue;
                }
                Err(FetchError::Api(e)) if is_limit_error(&e) => {
                    // Dune's per-request limit is lower than the action assumed: lower the page size once,
                    // then give up with Dune's own words.
                    if lowered || limit <= 1 {
                        return Err(FetchError::PageLimit {
                            source: e,
                            rows: limit,
                        });
                    }
                    lowered = true;
                    limit = lowered_limit(limit, &e, columns);
                    set_query(&mut url, "limit", limit);
                    continue;
                }
                Err(e) => return Err(e),
            };
            if let Some(state) = page.no_result {
                return Err(FetchError::NoResult {
                    execution_id: execution_id.to_string(),
                    state,
                });
            }
            file.write(&page.data).await.map_err(io)?;
            rows += page.rows;
            pages += 1;
            let next = match (&page.next_uri, page.next_offset) {
                (Some(u), _) => Some(
                    self.client
                        .next_results_url(u)
                        .map_err(FetchError::Inconsistent)?,
                ),
                (None, Some(o)) => {
                    let mut u = url.clone();
                    set_query(&mut u, "offset", o);
                    Some(u)
                }
                (None, None) => None,
            };
            let Some(next) = next else { break };
            let next_offset = query_u64(&next, "offset")
                .or(page.next_offset)
                .unwrap_or(offset + page.rows);
            if page.rows == 0 || next_offset <= offset {
                return Err(FetchError::Inconsistent(format!(
                    "the next page (offset {next_offset}) does not move past this one (offset {offset}, {} rows)",
                    page.rows
                )));
            }
            offset = next_offset;
            url = next;
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

/// Rows per page for the full download, sized from the result's metadata to about
/// [`TARGET_PAGE_BYTES`] (and never more than a page may hold).
pub fn page_rows(metadata: Option<&ResultMetadata>, format: ResultsFormat) -> u64 {
    let Some(m) = metadata else {
        return 1000;
    };
    let rows = m.total_row_count.unwrap_or(0).max(1);
    let values = m.total_result_set_bytes.unwrap_or(0) / rows;
    let overhead: u64 = match format {
        // `"name":` and separators per column, braces and a line break per row.
        ResultsFormat::JsonLines => m
            .column_names
            .iter()
            .map(|c| c.len() as u64 + 6)
            .sum::<u64>()
            .saturating_add(3),
        // Commas, a line break, and room for quoting.
        ResultsFormat::Csv => m.column_names.len() as u64 + 1 + values / 8,
    };
    let per_row = (values + overhead).max(16);
    let target = TARGET_PAGE_BYTES.min(MAX_RESULT_PAGE as u64 / 2);
    let by_datapoints = MAX_DATAPOINTS_PER_REQUEST / (m.column_names.len() as u64).max(1);
    (target / per_row)
        .min(by_datapoints)
        .clamp(1, MAX_PAGE_ROWS)
}

/// Whether Dune refused a results request for asking too much at once (a "limit exceeded" kind of
/// answer), as opposed to a plan limit (402) or rate limit (429).
pub fn is_limit_error(e: &dune_api::Error) -> bool {
    if !matches!(e.status(), Some(400 | 413 | 422)) {
        return false;
    }
    let m = e.dune_message().unwrap_or_default().to_ascii_lowercase();
    m.contains("datapoint")
        || m.contains("limit")
            && ["exceed", "above", "maximum", "too many", "too large"]
                .iter()
                .any(|w| m.contains(w))
}

/// The page size after a "limit exceeded" answer: under the limit Dune's message names (`limit of N
/// datapoints`, divided by the columns), else a quarter; always below `limit`.
fn lowered_limit(limit: u64, e: &dune_api::Error, columns: u64) -> u64 {
    let named = e.dune_message().and_then(|m| {
        let lower = m.to_ascii_lowercase();
        let at = lower.find("limit of")? + "limit of".len();
        let digits: String = lower[at..]
            .trim_start()
            .chars()
            .take_while(|c| c.is_ascii_digit() || *c == ',' || *c == '_')
            .filter(char::is_ascii_digit)
            .collect();
        digits.parse::<u64>().ok()
    });
    let rows = match named {
        Some(cap) if columns > 0 => cap / columns,
        _ => limit / 4,
    };
    rows.min(limit / 2).max(1)
}

/// `url` with `key` set to `value` (replacing any value it had).
pub(crate) fn set_query(url: &mut Url, key: &str, value: u64) {
    let pairs: Vec<(String, String)> = url
        .query_pairs()
        .filter(|(k, _)| k != key)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let mut q = url.query_pairs_mut();
    q.clear();
    for (k, v) in &pairs {
        q.append_pair(k, v);
    }
    q.append_pair(key, &value.to_string());
}

fn query_u64(url: &Url, key: &str) -> Option<u64> {
    url.query_pairs()
        .find(|(k, _)| k == key)
        .and_then(|(_, v)| v.parse().ok())
}

fn header(r: &Response, name: &str) -> Option<String> {
    r.headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

/// A CSV page: the header row only on the first page; the next page from `x-dune-next-uri` /
/// `x-dune-next-offset`.
fn csv_page(r: &Response, first: bool) -> Result<PageOut, String> {
    let ct = header(r, "content-type").unwrap_or_default();
    if ct.contains("json") || ct.contains("html") {
        return Err(format!("expected CSV, got {ct}"));
    }
    let page = csv::split(&r.body);
    let mut data = Vec::with_capacity(
        if first {
            r.body.len()
        } else {
            page.records.len()
        } + 2,
    );
    if first && !page.header.is_empty() {
        data.extend_from_slice(page.header);
        if !page.header.ends_with(b"\n") {
            data.push(b'\n');
        }
    }
    data.extend_from_slice(page.records);
    if !page.records.is_empty() && !page.records.ends_with(b"\n") {
        data.push(b'\n');
    }
    Ok(PageOut {
        data,
        rows: page.rows,
        next_uri: header(r, "x-dune-next-uri"),
        next_offset: header(r, "x-dune-next-offset").and_then(|v| v.parse().ok()),
        no_result: None,
    })
}

/// A JSON page as JSON Lines: each row's own JSON text (line breaks outside strings are only whitespace,
/// and inside strings they are escaped, so dropping them keeps the row intact) on one line.
fn json_lines_page(r: &Response) -> Result<PageOut, String> {
    let page = ResultPage::parse(&r.body)?;
    let Some(rows) = page.rows else {
        return Ok(PageOut {
            data: Vec::new(),
            rows: 0,
            next_uri: None,
            next_offset: None,
            no_result: Some(page.state.unwrap_or_else(|| "unknown".into())),
        });
    };
    let mut data = Vec::with_capacity(r.body.len());
    for row in &rows {
        let text = row.get().as_bytes();
        if text.first() != Some(&b'{') {
            return Err("a row is not a JSON object".into());
        }
        if text.contains(&b'\n') || text.contains(&b'\r') {
            data.extend(text.iter().filter(|b| !matches!(b, b'\n' | b'\r')));
        } else {
            data.extend_from_slice(text);
        }
        data.push(b'\n');
    }
    Ok(PageOut {
        data,
        rows: rows.len() as u64,
        next_uri: page.next_uri,
        next_offset: page.next_offset,
        no_result: None,
    })
}

/// The preview page, or `Err(state)` when Dune has no result for the execution.
fn preview_page(r: &Response, limit: u64) -> Result<Result<PreviewPage, String>, String> {
    let page = ResultPage::parse(&r.body)?;
    let Some(rows) = page.rows else {
        return Ok(Err(page.state.unwrap_or_else(|| "unknown".into())));
    };
    let mut objects = Vec::with_capacity(rows.len().min(limit as usize));
    for row in rows.iter().take(limit as usize) {
        match serde_json::from_str::<Value>(row.get()) {
            Ok(Value::Object(o)) => objects.push(o),
            _ => return Err("a row is not a JSON object".into()),
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
    Ok(Ok(PreviewPage {
        preview: Preview {
            columns,
            rows: cells,
        },
        metadata: meta,
        state: page.state,
    }))
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

    fn meta(rows: u64, bytes: u64, cols: usize) -> ResultMetadata {
        let mut m = ResultMetadata::default();
        m.column_names = (0..cols).map(|i| format!("col{i}")).collect();
        m.total_row_count = Some(rows);
        m.total_result_set_bytes = Some(bytes);
        m
    }

    #[test]
    fn pages_are_sized_from_the_metadata() {
        // Narrow rows: Dune's page cap decides.
        assert_eq!(
            page_rows(Some(&meta(1_000_000, 31_000_000, 4)), ResultsFormat::Csv),
            MAX_PAGE_ROWS
        );
        // 4 KiB rows: about 8 MiB a page.
        let wide = page_rows(Some(&meta(1000, 4_096_000, 50)), ResultsFormat::JsonLines);
        assert!((1500..2100).contains(&wide), "{wide}");
        // Huge rows: at least one.
        assert_eq!(page_rows(Some(&meta(2, 1 << 40, 1)), ResultsFormat::Csv), 1);
        assert_eq!(page_rows(None, ResultsFormat::Csv), 1000);
        // Wide rows: the datapoint cap decides (20 columns: 12,500 rows).
        assert_eq!(
            page_rows(Some(&meta(1_000_000, 20_000_000, 20)), ResultsFormat::Csv),
            12_500
        );
        assert!(
            page_rows(
                Some(&meta(1_000_000, 20_000_000, 20)),
                ResultsFormat::JsonLines
            ) <= 12_500
        );
    }

    fn api(status: u16, message: &str) -> dune_api::Error {
        dune_api::Error::Api {
            endpoint: "GET /api/v1/execution/E/results".into(),
            status,
            message: message.into(),
            retry_after: None,
        }
    }

    #[test]
    fn limit_errors_lower_the_page() {
        let named = api(
            400,
            "This request would return 400000 datapoints, above the limit of 250000 datapoints per request",
        );
        assert!(is_limit_error(&named));
        assert_eq!(lowered_limit(20_000, &named, 20), 10_000);
        assert_eq!(lowered_limit(20_000, &named, 10), 10_000);
        assert_eq!(lowered_limit(8_000, &named, 100), 2_500);
        let vague = api(400, "Result size limit exceeded");
        assert!(is_limit_error(&vague));
        assert_eq!(lowered_limit(1000, &vague, 4), 250);
        assert_eq!(lowered_limit(1, &vague, 4), 1);
        assert!(!is_limit_error(&api(
            402,
            "would exceed your configured limits per request"
        )));
        assert!(!is_limit_error(&api(400, "invalid offset")));
        assert!(!is_limit_error(&api(429, "rate limit exceeded")));
    }

    #[test]
    fn query_values_are_replaced() {
        let mut u =
            Url::parse("http://h/x?limit=10&offset=0&allow_partial_results=true").expect("url");
        set_query(&mut u, "limit", 5);
        assert_eq!(query_u64(&u, "limit"), Some(5));
        assert_eq!(query_u64(&u, "offset"), Some(0));
        assert!(u.as_str().contains("allow_partial_results=true"));
    }

    #[test]
    fn json_rows_become_single_lines() {
        let body = b"{\"result\":{\"rows\":[{\"a\":\n 1},{\"a\":\"x\\ny\"}]}}".to_vec();
        let r = Response {
            status: 200,
            headers: Default::default(),
            body,
        };
        let out = json_lines_page(&r).expect("page");
        assert_eq!(out.rows, 2);
        assert_eq!(
            String::from_utf8(out.data).expect("utf8"),
            "{\"a\": 1}\n{\"a\":\"x\\ny\"}\n"
        );
    }
}
