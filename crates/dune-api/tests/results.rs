//! Result pages against the simulator (`dune-sim`), from outside: several pages of JSON and of CSV
//! followed to the end, one page alone, a saved query's latest result, Dune's per-request datapoint
//! limit (a lower page size, then a typed error), and partial results.

mod common;

use dune_api::{Client, Clock, Page, ResultFormat, ResultsError};
use dune_sim::{RecordedRequest, Simulator};

use common::{client, execution_of, scenario, scenario_with, start, started};

const SPEED: f64 = 100.0;

/// A simulator with `extra` settings and node 2's `node` fields, a client of it, and node 2's execution
/// once the pipeline has ended.
async fn ended(extra: &str, node: &str) -> (Simulator, Client, String) {
    let sim = start(scenario_with(SPEED, extra, node), []).await;
    let (client, _) = client(&sim, SPEED);
    let id = started(&client).await;
    let exec = execution_of(&client, &id, 2, Clock::scaled(SPEED)).await;
    (sim, client, exec)
}

fn results_requests(sim: &Simulator) -> Vec<RecordedRequest> {
    sim.requests()
        .into_iter()
        .filter(|r| r.path.contains("/results"))
        .collect()
}

fn query_value(r: &RecordedRequest, key: &str) -> Option<u64> {
    r.query
        .as_deref()?
        .split('&')
        .find_map(|kv| kv.strip_prefix(key)?.strip_prefix('='))
        .and_then(|v| v.parse().ok())
}

/// Every page of the result, or the error that ended the reading.
async fn all_pages(
    client: &Client,
    exec: &str,
    format: ResultFormat,
    set: impl FnOnce(dune_api::ResultPages<'_>) -> dune_api::ResultPages<'_>,
) -> Result<Vec<Page>, ResultsError> {
    let mut pager = set(client.result_pages(exec, format));
    let mut pages = Vec::new();
    while let Some(page) = pager.next_page().await? {
        pages.push(page);
    }
    assert!(
        pager.next_page().await.expect("after the end").is_none(),
        "the pager stays at its end"
    );
    Ok(pages)
}

#[tokio::test(flavor = "multi_thread")]
async fn json_pages_are_followed_to_the_end() {
    let (sim, client, exec) = ended("max_page_rows: 10", "rows: 25").await;
    let pages = all_pages(&client, &exec, ResultFormat::Json, |p| p.page_rows(100))
        .await
        .expect("pages");
    let shape: Vec<(u64, u64, bool)> = pages
        .iter()
        .map(|p| (p.offset, p.rows, p.has_next))
        .collect();
    assert_eq!(shape, [(0, 10, true), (10, 10, true), (20, 5, false)]);
    for page in &pages {
        assert_eq!(page.json_rows().len() as u64, page.rows);
        for row in page.json_rows() {
            let v: serde_json::Value = serde_json::from_slice(row).expect("a row is JSON");
            assert!(v.is_object(), "{v}");
        }
        let m = page.metadata.as_ref().expect("metadata");
        assert_eq!(m.total_row_count, Some(25));
        assert!(page.csv_records().is_empty());
    }
    // The next pages follow Dune's pointers: offsets 10 and 20, never past the end.
    let offsets: Vec<Option<u64>> = results_requests(&sim)
        .iter()
        .map(|r| query_value(r, "offset"))
        .collect();
    assert_eq!(offsets, [Some(0), Some(10), Some(20)]);
}

#[tokio::test(flavor = "multi_thread")]
async fn csv_pages_are_followed_to_the_end() {
    let (sim, client, exec) = ended("max_page_rows: 10", "rows: 25").await;
    let pages = all_pages(&client, &exec, ResultFormat::Csv, |p| p.page_rows(100))
        .await
        .expect("pages");
    let rows: Vec<u64> = pages.iter().map(|p| p.rows).collect();
    assert_eq!(rows, [10, 10, 5]);
    // Every CSV page starts with the header record; the records of all pages are the whole result.
    let header = pages[0].csv_header().to_vec();
    assert!(header.ends_with(b"\n") && header.len() > 1, "{header:?}");
    let mut records = Vec::new();
    for page in &pages {
        assert_eq!(page.csv_header(), &header[..]);
        assert_eq!(page.json_rows().len(), 0);
        records.extend_from_slice(page.csv_records());
    }
    assert_eq!(records.iter().filter(|b| **b == b'\n').count(), 25);
    let reqs = results_requests(&sim);
    assert!(
        reqs.iter().all(|r| r.path.ends_with("/results/csv")),
        "{reqs:?}"
    );
    assert!(
        reqs.iter().all(|r| r.accept.as_deref() == Some("text/csv")),
        "{reqs:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn one_page_alone_and_a_saved_querys_latest_result() {
    let (sim, client, exec) = ended("max_page_rows: 10", "rows: 25").await;
    let page = client
        .result_pages(&exec, ResultFormat::Json)
        .page_rows(3)
        .first_page()
        .await
        .expect("a page");
    assert_eq!((page.offset, page.rows, page.has_next), (0, 3, true));
    assert_eq!(results_requests(&sim).len(), 1, "no next page is read");

    let latest = client
        .query_result_page(common::QUERY, 5)
        .await
        .expect("the latest result");
    assert_eq!(latest.execution_id.as_deref(), Some(exec.as_str()));
    assert_eq!(latest.rows, 5);
    let missing = client
        .query_result_page(9999, 5)
        .await
        .expect_err("no such query");
    assert!(
        matches!(&missing, ResultsError::Api(e) if e.status() == Some(404)),
        "{missing}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_datapoint_limit_lowers_the_page_once() {
    // 4 columns under a cap of 40 values: 10 rows a page; the first page (25 rows) is refused once.
    let (sim, client, exec) = ended(
        "max_datapoints_per_request: 40\ndatapoint_limit_response: error",
        "rows: 25",
    )
    .await;
    let pages = all_pages(&client, &exec, ResultFormat::Csv, |p| {
        p.page_rows(100).columns(4)
    })
    .await
    .expect("pages");
    let rows: Vec<u64> = pages.iter().map(|p| p.rows).collect();
    assert_eq!(rows, [10, 10, 5]);
    let statuses: Vec<(u16, Option<u64>)> = results_requests(&sim)
        .iter()
        .map(|r| (r.status, query_value(r, "limit")))
        .collect();
    assert_eq!(
        statuses,
        [
            (400, Some(100)),
            (200, Some(10)),
            (200, Some(10)),
            (200, Some(10))
        ],
        "refused once, not retried as an outage, then the limit Dune named"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_limit_not_even_one_row_fits_is_a_typed_error() {
    // 4 columns under a cap of 2 values: not one row fits.
    let (sim, client, exec) = ended(
        "max_datapoints_per_request: 2\ndatapoint_limit_response: error",
        "rows: 25",
    )
    .await;
    let e = all_pages(&client, &exec, ResultFormat::Json, |p| {
        p.page_rows(100).columns(4)
    })
    .await
    .expect_err("refused");
    let ResultsError::PageLimit { source, rows } = &e else {
        panic!("{e}");
    };
    assert_eq!(*rows, 1, "{e}");
    assert_eq!(source.status(), Some(400), "{e}");
    assert!(
        source
            .dune_message()
            .is_some_and(|m| m.contains("datapoints")),
        "Dune's own words: {e}"
    );
    let limits: Vec<Option<u64>> = results_requests(&sim)
        .iter()
        .map(|r| query_value(r, "limit"))
        .collect();
    assert_eq!(limits, [Some(100), Some(1)]);
}

#[tokio::test(flavor = "multi_thread")]
async fn partial_results_are_read_only_when_allowed() {
    let (_sim, client, exec) = ended("", "rows: 25, outcome: completed_partial").await;
    let refused = all_pages(&client, &exec, ResultFormat::Json, |p| p)
        .await
        .expect_err("not allowed");
    assert!(
        matches!(&refused, ResultsError::Api(e) if e.status() == Some(400)),
        "{refused}"
    );
    let pages = all_pages(&client, &exec, ResultFormat::Json, |p| {
        p.allow_partial(true)
    })
    .await
    .expect("allowed");
    assert_eq!(pages.iter().map(|p| p.rows).sum::<u64>(), 25);
    assert_eq!(
        pages[0].state.as_deref(),
        Some("QUERY_STATE_COMPLETED_PARTIAL")
    );

    // A dialect that answers with the state and no result: a typed "no result".
    let (_sim, client, exec) = ended(
        "partial_results_without_allow: partial_state",
        "rows: 25, outcome: completed_partial",
    )
    .await;
    let e = all_pages(&client, &exec, ResultFormat::Json, |p| p)
        .await
        .expect_err("no result");
    let ResultsError::NoResult {
        execution_id,
        state,
    } = &e
    else {
        panic!("{e}");
    };
    assert_eq!(execution_id, &exec);
    assert_eq!(state, "QUERY_STATE_COMPLETED_PARTIAL");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_running_execution_has_no_result_yet() {
    let sim = start(scenario(SPEED, ""), []).await;
    let (client, _) = client(&sim, SPEED);
    let id = started(&client).await;
    let status = client.pipeline_status(&id, false).await.expect("status");
    let exec = status
        .nodes
        .iter()
        .find_map(|n| n.execution_id.clone())
        .expect("node 1 runs");
    let e = client
        .result_pages(&exec, ResultFormat::Json)
        .first_page()
        .await
        .expect_err("running");
    assert!(matches!(e, ResultsError::NoResult { .. }), "{e}");
}
