//! Result pages: an execution's result (JSON rows or CSV text) read page by page, or one page alone.
//!
//! [`Client::result_pages`] gives a [`ResultPages`] pager. Each [`ResultPages::next_page`] reads one page
//! (through the client's one retry loop, as a read), follows Dune's next-page pointers (`next_uri` /
//! `next_offset` in a JSON page, the `x-dune-next-uri` / `x-dune-next-offset` headers of a CSV page; a
//! `next_uri` is followed only when it points back at this API, since the key goes with it), and answers
//! Dune's per-request limits itself: a page larger than the client reads is asked for again with half the
//! rows, and a "limit exceeded" answer (Dune caps the values one request returns, rows × columns) lowers
//! the page size once, under the limit Dune's message names; refused again (or at one row a page), the
//! pager gives up with [`ResultsError::PageLimit`]. [`ResultPages::first_page`] reads one page alone
//! (a preview), and [`Client::query_result_page`] the first page of a saved query's latest result.
//!
//! A page is read whole (bounded by the client's page limit) and handed over with its body: JSON rows as
//! the raw text of each row object ([`Page::json_rows`]), CSV as the header record and the data records
//! ([`Page::csv_header`], [`Page::csv_records`]). Nothing is kept between pages, so memory stays at about
//! one page whatever the result's size.
//!
//! <https://docs.dune.com/api-reference/executions/endpoint/get-execution-result>
//! <https://docs.dune.com/api-reference/executions/endpoint/get-execution-result-csv>
//! <https://docs.dune.com/api-reference/executions/pagination>

use std::ops::Range;

use reqwest::{Method, Url};

use crate::client::{Client, MAX_RESULT_PAGE, Response, content_type, path_segment};
use crate::csv;
use crate::error::{self, Error};
use crate::models::{ResultMetadata, ResultPage};
use crate::retry::RequestKind;

/// About how many bytes a page sized by [`page_rows`] holds: few requests (Dune's read limit is 40 a
/// minute on the free plan), bounded memory.
pub const TARGET_PAGE_BYTES: u64 = 8 * 1024 * 1024;

/// The most rows [`page_rows`] asks for in one page (what Dune's SDKs use; Dune lowers a larger `limit`
/// anyway).
pub const MAX_PAGE_ROWS: u64 = 32_000;

/// Dune's default cap on the values one results request may return (rows × columns); [`page_rows`] asks
/// for no more rows than fit under it.
pub const MAX_DATAPOINTS_PER_REQUEST: u64 = 250_000;

/// The rows a page asks for unless the caller says ([`ResultPages::page_rows`]).
pub const DEFAULT_PAGE_ROWS: u64 = 1000;

/// Which of Dune's two result endpoints a page comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ResultFormat {
    /// `GET /api/v1/execution/{id}/results`: JSON, one object per row, with the result's metadata.
    Json,
    /// `GET /api/v1/execution/{id}/results/csv`: CSV, every page starting with the header record.
    Csv,
}

/// What can go wrong reading a result's pages.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum ResultsError {
    /// The request failed (after the client's retries).
    #[error(transparent)]
    Api(#[from] Error),
    /// Dune has no result for the execution: it did not complete (its state says how far it got), or
    /// its result expired.
    #[error("Dune has no result for execution {execution_id} (state {state})")]
    NoResult {
        /// The execution asked about.
        execution_id: String,
        /// Its state as Dune wrote it (`unknown` when the page named none).
        state: String,
    },
    /// Dune kept refusing pages for exceeding its per-request limit, even after the pager lowered the
    /// page size (or at one row a page).
    #[error("{source} (refused at {rows} rows a page, after the page size was lowered)")]
    PageLimit {
        /// Dune's last refusal.
        source: Error,
        /// The rows a page the last request asked for.
        rows: u64,
    },
    /// The pages did not add up: a next page that does not move past this one, or a next-page URI that
    /// does not point at this API.
    #[error("the result pages of execution {execution_id} are inconsistent: {detail}")]
    Inconsistent {
        /// The execution being read.
        execution_id: String,
        /// What did not add up.
        detail: String,
    },
}

/// One page of a result.
#[derive(Debug)]
#[non_exhaustive]
pub struct Page {
    /// Which endpoint it came from.
    pub format: ResultFormat,
    /// The index of its first row in the whole result.
    pub offset: u64,
    /// How many rows it holds.
    pub rows: u64,
    /// The execution's state, verbatim (JSON pages: `QUERY_STATE_COMPLETED`,
    /// `QUERY_STATE_COMPLETED_PARTIAL`, ...).
    pub state: Option<String>,
    /// The result's columns and sizes (JSON pages).
    pub metadata: Option<ResultMetadata>,
    /// The execution the page belongs to, when the page names it (a saved query's latest result does).
    pub execution_id: Option<String>,
    /// Whether Dune says that more rows follow.
    pub has_next: bool,
    body: Vec<u8>,
    /// JSON: where each row's text lies in `body`.
    json_rows: Vec<Range<usize>>,
    /// CSV: where the header record ends in `body`.
    header_end: usize,
}

impl Page {
    /// Each row's JSON text, as Dune wrote it (an object keyed by column name; it may hold line breaks
    /// between tokens). Empty for a CSV page.
    pub fn json_rows(&self) -> impl ExactSizeIterator<Item = &[u8]> + '_ {
        self.json_rows.iter().map(|r| &self.body[r.clone()])
    }

    /// The CSV header record with its line break (every CSV page starts with it). Empty for a JSON page.
    pub fn csv_header(&self) -> &[u8] {
        match self.format {
            ResultFormat::Csv => &self.body[..self.header_end],
            ResultFormat::Json => &[],
        }
    }

    /// The CSV data records (each ending with a line break, the last one possibly without). Empty for a
    /// JSON page.
    pub fn csv_records(&self) -> &[u8] {
        match self.format {
            ResultFormat::Csv => &self.body[self.header_end..],
            ResultFormat::Json => &[],
        }
    }

    /// The whole response body.
    pub fn body(&self) -> &[u8] {
        &self.body
    }
}

/// A page's body read and checked, before it is handed over.
struct Parsed {
    rows: u64,
    json_rows: Vec<Range<usize>>,
    header_end: usize,
    state: Option<String>,
    metadata: Option<ResultMetadata>,
    execution_id: Option<String>,
    next_uri: Option<String>,
    next_offset: Option<u64>,
    /// A JSON page without a `result`.
    no_result: bool,
}

/// Reads an execution's result page by page: built by [`Client::result_pages`], set up with its
/// builder methods, then [`ResultPages::next_page`] until `None` (or [`ResultPages::first_page`] for one
/// page alone).
#[derive(Debug)]
#[must_use]
pub struct ResultPages<'a> {
    client: &'a Client,
    execution_id: String,
    format: ResultFormat,
    limit: u64,
    allow_partial: bool,
    columns: u64,
    /// The next page's URL (`None` before the first page).
    url: Option<Url>,
    /// The next page's first row.
    offset: u64,
    /// Whether the page size was lowered after a "limit exceeded" answer.
    lowered: bool,
    done: bool,
}

impl Client {
    /// A pager over the result of execution `execution_id`, in `format`: [`DEFAULT_PAGE_ROWS`] rows a
    /// page from the first row, partial results refused, unless set otherwise.
    pub fn result_pages(&self, execution_id: &str, format: ResultFormat) -> ResultPages<'_> {
        ResultPages {
            client: self,
            execution_id: execution_id.to_string(),
            format,
            limit: DEFAULT_PAGE_ROWS,
            allow_partial: false,
            columns: 0,
            url: None,
            offset: 0,
            lowered: false,
            done: false,
        }
    }

    /// The first page (`limit` rows, partial results allowed) of saved query `query_id`'s latest result,
    /// as JSON; its [`Page::execution_id`] names the execution whose later pages
    /// [`Client::result_pages`] reads (the latest result may change meanwhile).
    /// <https://docs.dune.com/api-reference/executions/endpoint/get-query-result>
    pub async fn query_result_page(&self, query_id: u64, limit: u64) -> Result<Page, ResultsError> {
        let mut url = self.url(&format!("/api/v1/query/{query_id}/results"));
        url.query_pairs_mut()
            .append_pair("limit", &limit.to_string())
            .append_pair("offset", "0")
            .append_pair("allow_partial_results", "true");
        let (parsed, body) = self.results_page(&url, ResultFormat::Json).await?;
        if parsed.no_result {
            return Err(ResultsError::NoResult {
                execution_id: parsed
                    .execution_id
                    .unwrap_or_else(|| format!("(the latest of query {query_id})")),
                state: parsed.state.unwrap_or_else(|| "unknown".into()),
            });
        }
        Ok(page(ResultFormat::Json, 0, parsed, body))
    }

    /// The URL of a page of an execution's results: `…/results` (JSON) or `…/results/csv`, `limit` rows
    /// from `offset`, with `allow_partial_results=true` when asked.
    pub(crate) fn execution_results_url(
        &self,
        execution_id: &str,
        format: ResultFormat,
        limit: u64,
        offset: u64,
        allow_partial: bool,
    ) -> Url {
        let suffix = match format {
            ResultFormat::Json => "",
            ResultFormat::Csv => "/csv",
        };
        let mut url = self.url(&format!(
            "/api/v1/execution/{}/results{suffix}",
            path_segment(execution_id)
        ));
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("limit", &limit.to_string());
            q.append_pair("offset", &offset.to_string());
            if allow_partial {
                q.append_pair("allow_partial_results", "true");
            }
        }
        url
    }

    /// Checks a `next_uri` (or `x-dune-next-uri`) before following it as-is: it must point at the results
    /// of an execution on this API (same scheme, host, port and base path), because the key goes with it.
    pub(crate) fn next_results_url(&self, raw: &str) -> Result<Url, String> {
        let base = self.base_url();
        let url = Url::options()
            .base_url(Some(base))
            .parse(raw.trim())
            .map_err(|e| format!("next page URI {raw:?} is not a URL ({e})"))?;
        let prefix = format!("{}/api/v1/execution/", base.path().trim_end_matches('/'));
        if url.scheme() != base.scheme()
            || url.host_str() != base.host_str()
            || url.port_or_known_default() != base.port_or_known_default()
            || !url.path().starts_with(&prefix)
            || !url.path().contains("/results")
        {
            return Err(format!(
                "next page URI {:?} does not point at this API's results; the client does not send the key elsewhere",
                error::excerpt(raw.as_bytes(), 200)
            ));
        }
        Ok(url)
    }

    /// Reads one page of results and checks its body. Transport failures and HTTP errors are retried by
    /// the one retry loop as a [`RequestKind::Read`]; a body that is not a page of `format` (a garbled
    /// page) is fetched again like any unreadable answer. The body is bounded by [`MAX_RESULT_PAGE`]. A
    /// CSV page (`…/csv`) is asked for with `Accept: text/csv`.
    async fn results_page(
        &self,
        url: &Url,
        format: ResultFormat,
    ) -> Result<(Parsed, Vec<u8>), Error> {
        let decode = |endpoint: &str, resp: Response| {
            let read = match format {
                ResultFormat::Json => read_json(&resp),
                ResultFormat::Csv => read_csv(&resp),
            };
            match read {
                Ok(parsed) => Ok((parsed, resp.body)),
                Err(reason) => Err(Error::Decode {
                    endpoint: endpoint.to_string(),
                    status: resp.status,
                    content_type: content_type(&resp.headers),
                    reason,
                    excerpt: error::excerpt(&resp.body[..resp.body.len().min(4096)], 120),
                }),
            }
        };
        self.send_decoded(
            RequestKind::Read,
            Method::GET,
            url.clone(),
            None,
            MAX_RESULT_PAGE,
            decode,
        )
        .await
    }
}

impl ResultPages<'_> {
    /// Rows asked for in each page (at least one; Dune may serve fewer). Size it from the result's
    /// metadata with [`page_rows`].
    pub fn page_rows(mut self, rows: u64) -> Self {
        self.limit = rows.max(1);
        self
    }

    /// Whether to read the result of an execution that completed only in part
    /// (`allow_partial_results=true`); without it Dune refuses such a result.
    pub fn allow_partial(mut self, allow: bool) -> Self {
        self.allow_partial = allow;
        self
    }

    /// How many columns the result has, when the caller knows (from a first page's metadata): a
    /// "limit exceeded" answer that names its cap in datapoints then gives the largest page under it.
    pub fn columns(mut self, columns: u64) -> Self {
        self.columns = columns;
        self
    }

    /// Starts at row `offset` instead of the first.
    pub fn starting_at(mut self, offset: u64) -> Self {
        self.offset = offset;
        self
    }

    /// The rows a page asks for now (lower than set after a "limit exceeded" answer).
    pub fn current_page_rows(&self) -> u64 {
        self.limit
    }

    fn url(&self) -> Url {
        self.client.execution_results_url(
            &self.execution_id,
            self.format,
            self.limit,
            self.offset,
            self.allow_partial,
        )
    }

    fn no_result(&self, parsed: Parsed) -> ResultsError {
        ResultsError::NoResult {
            execution_id: self.execution_id.clone(),
            state: parsed.state.unwrap_or_else(|| "unknown".into()),
        }
    }

    fn inconsistent(&self, detail: String) -> ResultsError {
        ResultsError::Inconsistent {
            execution_id: self.execution_id.clone(),
            detail,
        }
    }

    /// Reads the first page alone, as set up (no next page is followed, and a refusal for Dune's
    /// per-request limit is returned as it is): a preview of the result.
    pub async fn first_page(self) -> Result<Page, ResultsError> {
        let url = self.url();
        let (parsed, body) = self.client.results_page(&url, self.format).await?;
        if parsed.no_result {
            return Err(self.no_result(parsed));
        }
        Ok(page(self.format, self.offset, parsed, body))
    }

    /// The next page, or `None` after the last one. After an error the pager is spent: it answers
    /// `None`.
    pub async fn next_page(&mut self) -> Result<Option<Page>, ResultsError> {
        if self.done {
            return Ok(None);
        }
        let mut url = match &self.url {
            Some(u) => u.clone(),
            None => self.url(),
        };
        let result = self.read(&mut url).await;
        let (parsed, body) = match result {
            Ok(p) => p,
            Err(e) => {
                self.done = true;
                return Err(e);
            }
        };
        if parsed.no_result {
            self.done = true;
            return Err(self.no_result(parsed));
        }
        let next = match (&parsed.next_uri, parsed.next_offset) {
            (Some(u), _) => match self.client.next_results_url(u) {
                Ok(next) => Some(next),
                Err(detail) => {
                    self.done = true;
                    return Err(self.inconsistent(detail));
                }
            },
            (None, Some(o)) => {
                let mut u = url.clone();
                set_query(&mut u, "offset", o);
                Some(u)
            }
            (None, None) => None,
        };
        let offset = self.offset;
        let rows = parsed.rows;
        match next {
            None => self.done = true,
            Some(next) => {
                let next_offset = query_u64(&next, "offset")
                    .or(parsed.next_offset)
                    .unwrap_or(offset + rows);
                if rows == 0 || next_offset <= offset {
                    self.done = true;
                    return Err(self.inconsistent(format!(
                        "the next page (offset {next_offset}) does not move past this one (offset {offset}, {rows} rows)"
                    )));
                }
                self.offset = next_offset;
                self.url = Some(next);
            }
        }
        Ok(Some(page(self.format, offset, parsed, body)))
    }

    /// Reads the page at `url`, asking again for fewer rows when Dune (or the client's bound on a page)
    /// says that the page is too large.
    async fn read(&mut self, url: &mut Url) -> Result<(Parsed, Vec<u8>), ResultsError> {
        loop {
            match self.client.results_page(url, self.format).await {
                Ok(p) => return Ok(p),
                Err(Error::TooLarge { .. }) if self.limit > 1 => {
                    // Wider rows than the page size assumed: ask for fewer.
                    self.limit = (self.limit / 2).max(1);
                }
                Err(e) if is_limit_error(&e) => {
                    // Dune's per-request limit is lower than the page size assumed: lower it once, then
                    // give up with Dune's own words.
                    if self.lowered || self.limit <= 1 {
                        return Err(ResultsError::PageLimit {
                            source: e,
                            rows: self.limit,
                        });
                    }
                    self.lowered = true;
                    self.limit = lowered_limit(self.limit, &e, self.columns);
                }
                Err(e) => return Err(e.into()),
            }
            set_query(url, "limit", self.limit);
        }
    }
}

/// The page handed over.
fn page(format: ResultFormat, offset: u64, parsed: Parsed, body: Vec<u8>) -> Page {
    Page {
        format,
        offset,
        rows: parsed.rows,
        state: parsed.state,
        metadata: parsed.metadata,
        execution_id: parsed.execution_id,
        has_next: parsed.next_uri.is_some() || parsed.next_offset.is_some(),
        body,
        json_rows: parsed.json_rows,
        header_end: parsed.header_end,
    }
}

/// A JSON page: every row must be an object; where each row's text lies in the body is kept, so that
/// the rows are handed over without a second parse.
fn read_json(r: &Response) -> Result<Parsed, String> {
    let page = ResultPage::parse(&r.body)?;
    let base = r.body.as_ptr() as usize;
    let mut json_rows = Vec::new();
    let no_result = page.rows.is_none();
    if let Some(rows) = &page.rows {
        json_rows.reserve(rows.len());
        for row in rows {
            let text = row.get();
            if !text.starts_with('{') {
                return Err("a row is not a JSON object".into());
            }
            // The rows are borrowed from the body: each one's place in it.
            let start = (text.as_ptr() as usize)
                .checked_sub(base)
                .filter(|s| s + text.len() <= r.body.len())
                .ok_or("a row is not part of the body")?;
            json_rows.push(start..start + text.len());
        }
    }
    Ok(Parsed {
        rows: json_rows.len() as u64,
        json_rows,
        header_end: 0,
        state: page.state,
        metadata: page.metadata,
        execution_id: page.execution_id,
        next_uri: page.next_uri,
        next_offset: page.next_offset,
        no_result,
    })
}

/// A CSV page: the header record, the data records counted; the next page from `x-dune-next-uri` /
/// `x-dune-next-offset`.
fn read_csv(r: &Response) -> Result<Parsed, String> {
    let ct = header(r, "content-type").unwrap_or_default();
    if ct.contains("json") || ct.contains("html") {
        return Err(format!("expected CSV, got {ct}"));
    }
    let split = csv::split(&r.body);
    Ok(Parsed {
        rows: split.rows,
        json_rows: Vec::new(),
        header_end: split.header.len(),
        state: None,
        metadata: None,
        execution_id: None,
        next_uri: header(r, "x-dune-next-uri"),
        next_offset: header(r, "x-dune-next-offset").and_then(|v| v.parse().ok()),
        no_result: false,
    })
}

fn header(r: &Response, name: &str) -> Option<String> {
    r.headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

/// Rows a page for reading a whole result, sized from its metadata to about [`TARGET_PAGE_BYTES`],
/// under [`MAX_DATAPOINTS_PER_REQUEST`] and never more than the client reads in one page; 1000 without
/// metadata.
pub fn page_rows(metadata: Option<&ResultMetadata>, format: ResultFormat) -> u64 {
    let Some(m) = metadata else {
        return DEFAULT_PAGE_ROWS;
    };
    let rows = m.total_row_count.unwrap_or(0).max(1);
    let values = m.total_result_set_bytes.unwrap_or(0) / rows;
    let overhead: u64 = match format {
        // `"name":` and separators per column, braces and a line break per row.
        ResultFormat::Json => m
            .column_names
            .iter()
            .map(|c| c.len() as u64 + 6)
            .sum::<u64>()
            .saturating_add(3),
        // Commas, a line break, and room for quoting.
        ResultFormat::Csv => m.column_names.len() as u64 + 1 + values / 8,
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
pub(crate) fn is_limit_error(e: &Error) -> bool {
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
fn lowered_limit(limit: u64, e: &Error, columns: u64) -> u64 {
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
fn set_query(url: &mut Url, key: &str, value: u64) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderValue};

    fn meta(rows: u64, bytes: u64, cols: usize) -> ResultMetadata {
        ResultMetadata {
            column_names: (0..cols).map(|i| format!("col{i}")).collect(),
            total_row_count: Some(rows),
            total_result_set_bytes: Some(bytes),
            ..ResultMetadata::default()
        }
    }

    #[test]
    fn pages_are_sized_from_the_metadata() {
        // Narrow rows: Dune's page cap decides.
        assert_eq!(
            page_rows(Some(&meta(1_000_000, 31_000_000, 4)), ResultFormat::Csv),
            MAX_PAGE_ROWS
        );
        // 4 KiB rows: about 8 MiB a page.
        let wide = page_rows(Some(&meta(1000, 4_096_000, 50)), ResultFormat::Json);
        assert!((1500..2100).contains(&wide), "{wide}");
        // Huge rows: at least one.
        assert_eq!(page_rows(Some(&meta(2, 1 << 40, 1)), ResultFormat::Csv), 1);
        assert_eq!(page_rows(None, ResultFormat::Csv), 1000);
        // Wide rows: the datapoint cap decides (20 columns: 12,500 rows).
        assert_eq!(
            page_rows(Some(&meta(1_000_000, 20_000_000, 20)), ResultFormat::Csv),
            12_500
        );
        assert!(page_rows(Some(&meta(1_000_000, 20_000_000, 20)), ResultFormat::Json) <= 12_500);
    }

    fn api(status: u16, message: &str) -> Error {
        Error::Api {
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

    fn response(content_type: &str, body: &[u8]) -> Response {
        let mut headers = HeaderMap::new();
        headers.insert(
            CONTENT_TYPE,
            HeaderValue::from_str(content_type).expect("header"),
        );
        Response {
            status: 200,
            headers,
            body: body.to_vec(),
        }
    }

    #[test]
    fn json_rows_are_found_in_the_body() {
        let r = response(
            "application/json",
            b"{\"result\":{\"rows\":[{\"a\":\n 1},{\"a\":\"x\\ny\"}]},\"next_offset\":2}",
        );
        let parsed = read_json(&r).expect("page");
        let p = page(ResultFormat::Json, 0, parsed, r.body.clone());
        let rows: Vec<&[u8]> = p.json_rows().collect();
        assert_eq!(rows, [&b"{\"a\":\n 1}"[..], &b"{\"a\":\"x\\ny\"}"[..]]);
        assert_eq!((p.rows, p.has_next), (2, true));
        assert!(p.csv_records().is_empty());
        assert!(
            read_json(&response(
                "application/json",
                b"{\"result\":{\"rows\":[1]}}"
            ))
            .is_err()
        );
        let none = read_json(&response(
            "application/json",
            b"{\"state\":\"QUERY_STATE_FAILED\"}",
        ))
        .expect("a page without a result");
        assert!(none.no_result);
    }

    #[test]
    fn csv_pages_split_header_and_records() {
        let r = response("text/csv", b"a,b\n1,\"x\ny\"\n3,4\n");
        let parsed = read_csv(&r).expect("page");
        let p = page(ResultFormat::Csv, 0, parsed, r.body.clone());
        assert_eq!((p.csv_header(), p.rows), (&b"a,b\n"[..], 2));
        assert_eq!(p.csv_records(), b"1,\"x\ny\"\n3,4\n");
        assert!(read_csv(&response("text/html", b"<html>")).is_err());
    }

    #[test]
    fn next_pages_are_followed_only_on_this_api() {
        let base = Url::parse("https://api.example/base/").expect("url");
        let client = Client::builder(base, crate::ApiKey::new("k"))
            .build()
            .expect("client");
        let next = client
            .next_results_url("/base/api/v1/execution/E/results?limit=5&offset=5")
            .expect("a relative next page");
        assert_eq!(next.host_str(), Some("api.example"));
        for elsewhere in [
            "https://elsewhere.example/base/api/v1/execution/E/results",
            "http://api.example/base/api/v1/execution/E/results",
            "https://api.example/other/api/v1/execution/E/results",
            "https://api.example/base/api/v1/query/1",
        ] {
            assert!(client.next_results_url(elsewhere).is_err(), "{elsewhere}");
        }
        let url = client.execution_results_url("a/b", ResultFormat::Csv, 7, 14, true);
        assert_eq!(
            url.as_str(),
            "https://api.example/base/api/v1/execution/a%2Fb/results/csv?limit=7&offset=14&allow_partial_results=true"
        );
    }
}
