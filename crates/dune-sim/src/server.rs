//! The HTTP server: a hyper accept loop (HTTP/1.1 and HTTP/2), authentication, request recording, and
//! fault injection. Faults need control below the handler level: `drop` closes the TCP connection with
//! no response at all, `drop_mid_body` aborts after part of the body, `slow_drip` throttles the body.

use std::collections::{HashMap, HashSet, VecDeque};
use std::convert::Infallible;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use futures_util::stream;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt as _, Full, Limited, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::header::{CONTENT_LENGTH, CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, oneshot};
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::RecordedRequest;
use crate::api::{self, Reply, Route};
use crate::engine::PipelineRun;
use crate::scenario::{FaultEndpoint, FaultKind, Scenario, parse_epoch};
use crate::util::new_ulid;

pub(crate) type BoxError = Box<dyn std::error::Error + Send + Sync>;
pub(crate) type Body = UnsyncBoxBody<Bytes, BoxError>;

/// Request bodies larger than this get a 413.
const MAX_REQUEST_BODY: usize = 16 * 1024 * 1024;

/// A body that no JSON parser accepts.
const GARBAGE: &str =
    "{\"status\": \"executing\", \"node_executions\": [{\"id\": 1,, <<garbage>> \u{1}";

/// State shared by every connection of one simulator.
pub(crate) struct Shared {
    pub(crate) scenario: Scenario,
    pub(crate) base_url: String,
    epoch_nanos: i128,
    /// With an explicit epoch, each pipeline execution is anchored at the epoch.
    anchored: bool,
    started: Instant,
    faults: Vec<CompiledFault>,
    state: Mutex<State>,
}

struct CompiledFault {
    endpoint: FaultEndpoint,
    after: usize,
    responses: Vec<(FaultKind, bool)>,
    node: Option<u64>,
}

/// Mutable state, behind one mutex that is never held across an await.
#[derive(Default)]
pub(crate) struct State {
    pub(crate) pipelines: HashMap<String, PipelineRun>,
    /// Execution id -> (pipeline execution id, node index).
    pub(crate) executions: HashMap<String, (String, usize)>,
    pub(crate) pipelines_started: usize,
    pub(crate) cancelled: Vec<String>,
    /// Query id -> the pipeline node executions that ran it (pipeline execution id, node index),
    /// oldest first.
    pub(crate) latest: HashMap<u64, Vec<(String, usize)>>,
    /// Execution ids of the scenario's `latest_results`, by index.
    pub(crate) static_ids: Vec<String>,
    /// Execution id -> index into the scenario's `latest_results`.
    pub(crate) static_executions: HashMap<String, usize>,
    /// Execution id -> a raw-SQL execution (`POST /sql/execute`).
    pub(crate) sql_executions: HashMap<String, crate::api::SqlRun>,
    pub(crate) requests: Vec<RecordedRequest>,
    /// Saved queries' SQL and versions, as `PATCH`es left them.
    pub(crate) saved: crate::queries::Saved,
    /// Per fault: (matching requests seen, responses used).
    fault_progress: Vec<(usize, usize)>,
    ids: HashSet<String>,
}

impl State {
    /// A fresh ULID, unique within this simulator.
    pub(crate) fn new_id(&mut self, unix_millis: i128) -> String {
        loop {
            let id = new_ulid(unix_millis);
            if self.ids.insert(id.clone()) {
                return id;
            }
        }
    }
}

impl Shared {
    /// `scenario` must have been validated.
    pub(crate) fn new(scenario: Scenario, base_url: String) -> anyhow::Result<Shared> {
        let epoch_nanos = match &scenario.epoch {
            Some(e) => parse_epoch(e)?,
            None => std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as i128),
        };
        let mut faults = Vec::new();
        for f in &scenario.faults {
            let mut responses = Vec::new();
            for r in &f.responses {
                responses.push((r.kind()?, r.apply));
            }
            faults.push(CompiledFault {
                endpoint: f.endpoint,
                after: f.after,
                responses,
                node: f.node,
            });
        }
        let mut state = State {
            fault_progress: vec![(0, 0); faults.len()],
            saved: crate::queries::Saved::new(&scenario.saved_queries),
            ..State::default()
        };
        for (i, l) in scenario.latest_results.iter().enumerate() {
            let ended = epoch_nanos.saturating_sub(l.age.as_nanos() as i128);
            let id = state.new_id(ended / 1_000_000);
            state.static_executions.insert(id.clone(), i);
            state.static_ids.push(id);
        }
        Ok(Shared {
            base_url,
            epoch_nanos,
            anchored: scenario.epoch.is_some(),
            started: Instant::now(),
            faults,
            state: Mutex::new(state),
            scenario,
        })
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave the state half-updated in a way that matters to
        // a test double; keep serving.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Virtual time since start.
    pub(crate) fn now(&self) -> Duration {
        let real = self.started.elapsed().as_secs_f64();
        Duration::try_from_secs_f64(real * self.scenario.time_scale).unwrap_or(Duration::MAX)
    }

    /// Real duration of a virtual one.
    pub(crate) fn real(&self, virtual_time: Duration) -> Duration {
        Duration::try_from_secs_f64(virtual_time.as_secs_f64() / self.scenario.time_scale)
            .unwrap_or(Duration::MAX)
    }

    /// Wall-clock nanoseconds since the Unix epoch of virtual time `t`.
    pub(crate) fn timestamp_nanos(&self, t: Duration) -> i128 {
        self.epoch_nanos.saturating_add(t.as_nanos() as i128)
    }

    /// The virtual time whose timestamp describes an event `offset` after a pipeline created at
    /// `created`: with an explicit epoch every pipeline execution counts as submitted exactly at the
    /// epoch, so its timestamps are deterministic; otherwise its real creation time is used.
    pub(crate) fn event_time(&self, created: Duration, offset: Duration) -> Duration {
        if self.anchored {
            offset
        } else {
            created.saturating_add(offset)
        }
    }

    /// The `Date` header: the simulator's "now", the epoch (or the start) plus virtual time, so that
    /// the age of a timestamp it served (`latest_results` end at the epoch minus their `age`) can be
    /// measured against it the way a client measures Dune's timestamps against Dune's `Date`.
    pub(crate) fn http_date(&self) -> String {
        let nanos = self.timestamp_nanos(self.now()).max(0);
        let at = std::time::UNIX_EPOCH
            + Duration::from_secs(u64::try_from(nanos / 1_000_000_000).unwrap_or(u64::MAX / 2));
        httpdate::fmt_http_date(at)
    }

    pub(crate) fn unix_millis(&self, t: Duration) -> i128 {
        self.timestamp_nanos(t) / 1_000_000
    }

    fn key_ok(&self, headers: &HeaderMap, query: Option<&str>) -> bool {
        let from_header = headers
            .get("x-dune-api-key")
            .and_then(|v| v.to_str().ok())
            .filter(|s| !s.is_empty())
            .map(str::to_owned);
        let provided = from_header.or_else(|| {
            query.and_then(|q| {
                form_urlencoded::parse(q.as_bytes())
                    .find(|(k, v)| k == "api_key" && !v.is_empty())
                    .map(|(_, v)| v.into_owned())
            })
        });
        match (provided, &self.scenario.api_key) {
            (None, _) => false,
            (Some(_), None) => true,
            (Some(p), Some(k)) => p == *k,
        }
    }

    fn record(&self, request: RecordedRequest) -> usize {
        let mut state = self.lock();
        state.requests.push(request);
        state.requests.len() - 1
    }

    fn set_status(&self, index: usize, status: u16) {
        if let Some(r) = self.lock().requests.get_mut(index) {
            r.status = status;
        }
    }

    /// Counts this request against every matching fault; returns the response of the first fault
    /// that is due, consuming it.
    fn take_fault(
        &self,
        endpoint: Option<FaultEndpoint>,
        execution: Option<&str>,
    ) -> Option<(FaultKind, bool)> {
        let mut state = self.lock();
        // The node (scenario id) whose execution the request is about, if any.
        let node = execution
            .and_then(|e| state.executions.get(e))
            .and_then(|(pid, i)| state.pipelines.get(pid).and_then(|p| p.nodes.get(*i)))
            .map(|n| n.id);
        let mut fired = None;
        let State { fault_progress, .. } = &mut *state;
        for (fault, progress) in self.faults.iter().zip(fault_progress.iter_mut()) {
            if fault.endpoint != FaultEndpoint::Any && Some(fault.endpoint) != endpoint {
                continue;
            }
            if fault.node.is_some() && fault.node != node {
                continue;
            }
            progress.0 += 1;
            if fired.is_none() && progress.0 > fault.after && progress.1 < fault.responses.len() {
                fired = Some(fault.responses[progress.1].clone());
                progress.1 += 1;
            }
        }
        fired
    }
}

/// Accepts connections until `stop` fires (or its sender is dropped).
pub(crate) async fn serve(
    listener: TcpListener,
    shared: Arc<Shared>,
    mut stop: oneshot::Receiver<()>,
) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            _ = &mut stop => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    connections.spawn(serve_connection(stream, shared.clone()));
                }
                // E.g. too many open files: back off briefly instead of spinning.
                Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    connections.shutdown().await;
}

async fn serve_connection(stream: TcpStream, shared: Arc<Shared>) {
    let _ = stream.set_nodelay(true);
    // Notified by a `drop` fault: the connection future is dropped, which closes the socket without
    // writing anything.
    let kill = Arc::new(Notify::new());
    let service = {
        let kill = kill.clone();
        service_fn(move |req| {
            let shared = shared.clone();
            let kill = kill.clone();
            async move { Ok::<_, Infallible>(handle(shared, kill, req).await) }
        })
    };
    let builder = auto::Builder::new(TokioExecutor::new());
    let connection = builder.serve_connection(TokioIo::new(stream), service);
    tokio::select! {
        _ = connection => {}
        () = kill.notified() => {}
    }
}

fn redact_query(query: Option<&str>) -> Option<String> {
    query.map(|q| {
        q.split('&')
            .map(|part| {
                if part.starts_with("api_key=") {
                    "api_key=REDACTED"
                } else {
                    part
                }
            })
            .collect::<Vec<_>>()
            .join("&")
    })
}

async fn handle(shared: Arc<Shared>, kill: Arc<Notify>, req: Request<Incoming>) -> Response<Body> {
    let at = shared.now();
    let (parts, body) = req.into_parts();
    let method = parts.method.as_str().to_owned();
    let path = parts.uri.path().to_owned();
    let query = parts.uri.query().map(str::to_owned);
    let accept = parts
        .headers
        .get(hyper::header::ACCEPT)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    let key_ok = shared.key_ok(&parts.headers, query.as_deref());
    let (bytes, body_error) = match Limited::new(body, MAX_REQUEST_BODY).collect().await {
        Ok(collected) => (collected.to_bytes(), None),
        Err(e) => (Bytes::new(), Some(e)),
    };
    let index = shared.record(RecordedRequest {
        method: method.clone(),
        path: path.clone(),
        query: redact_query(query.as_deref()),
        accept,
        body: String::from_utf8_lossy(&bytes).into_owned(),
        api_key_ok: key_ok,
        status: 0,
        at,
    });
    if let Some(e) = body_error {
        let reply = if e.is::<http_body_util::LengthLimitError>() {
            Reply::error(413, "request body too large")
        } else {
            Reply::error(400, "could not read the request body")
        };
        return send(&shared, index, reply);
    }
    if !key_ok {
        return send(&shared, index, Reply::error(401, "invalid API Key"));
    }
    let route = Route::parse(&method, &path);
    let normal = || api::dispatch(&shared, &route, query.as_deref(), &bytes);
    let Some((fault, apply)) = shared.take_fault(route.endpoint(), route.execution()) else {
        return send(&shared, index, normal());
    };
    if apply {
        // The request takes effect; only the response is lost.
        let _ = normal();
    }
    match fault {
        FaultKind::Pass => send(&shared, index, normal()),
        FaultKind::Delay(d) => {
            tokio::time::sleep(shared.real(d)).await;
            send(&shared, index, normal())
        }
        FaultKind::SlowDrip(over) => {
            let reply = normal();
            shared.set_status(index, reply.status);
            let len = reply.body.len();
            let body = drip_body(reply.body.clone(), shared.real(over));
            build(&shared, &reply, body, Some(len))
        }
        FaultKind::DropMidBody => {
            let reply = normal();
            shared.set_status(index, reply.status);
            let len = reply.body.len();
            let body = truncated_body(reply.body.clone());
            build(&shared, &reply, body, Some(len))
        }
        FaultKind::Drop => {
            kill.notify_one();
            // The connection task drops this future together with the connection.
            std::future::pending::<Response<Body>>().await
        }
        FaultKind::Status {
            status,
            body,
            content_type,
            retry_after,
        } => {
            let mut reply = match body {
                Some(text) => Reply::raw(
                    status,
                    content_type.as_deref().unwrap_or("application/json"),
                    text,
                ),
                None => {
                    let reason = StatusCode::from_u16(status)
                        .ok()
                        .and_then(|s| s.canonical_reason())
                        .unwrap_or("simulated fault");
                    let mut r = Reply::error(status, reason);
                    if let Some(ct) = content_type {
                        r.content_type = ct;
                    }
                    r
                }
            };
            if let Some(ra) = retry_after {
                reply.headers.push(("retry-after", ra));
            }
            send(&shared, index, reply)
        }
        FaultKind::Garbage => send(&shared, index, Reply::raw(200, "application/json", GARBAGE)),
        FaultKind::Oversized(n) => {
            shared.set_status(index, 200);
            let reply = Reply::raw(200, "application/json", Bytes::new());
            build(&shared, &reply, oversized_body(n), usize::try_from(n).ok())
        }
    }
}

fn send(shared: &Shared, index: usize, reply: Reply) -> Response<Body> {
    shared.set_status(index, reply.status);
    let body = Full::new(reply.body.clone())
        .map_err(|never| match never {})
        .boxed_unsync();
    build(shared, &reply, body, None)
}

/// Status and headers of `reply` with `body`; `content_length` for streamed bodies. The `Date` header is
/// the simulator's clock (see [`Shared::http_date`]), not the machine's.
fn build(
    shared: &Shared,
    reply: &Reply,
    body: Body,
    content_length: Option<usize>,
) -> Response<Body> {
    let mut response = Response::new(body);
    *response.status_mut() =
        StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let headers = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&shared.http_date()) {
        headers.insert(hyper::header::DATE, v);
    }
    if let Ok(v) = HeaderValue::from_str(&reply.content_type) {
        headers.insert(CONTENT_TYPE, v);
    }
    if let Some(len) = content_length {
        headers.insert(CONTENT_LENGTH, HeaderValue::from(len));
    }
    for (name, value) in &reply.headers {
        if let Ok(v) = HeaderValue::from_str(value) {
            headers.insert(HeaderName::from_static(name), v);
        }
    }
    response
}

/// `body` in up to 50 pieces, evenly spread so that the last one goes out `over` after the first
/// poll.
fn drip_body(body: Bytes, over: Duration) -> Body {
    let size = body.len().div_ceil(50).max(1);
    let mut chunks = VecDeque::new();
    let mut at = 0;
    while at < body.len() {
        let end = (at + size).min(body.len());
        chunks.push_back(body.slice(at..end));
        at = end;
    }
    let count = chunks.len().max(1) as u32;
    let frames = stream::unfold(
        (chunks, None::<Instant>, 0u32),
        move |(mut chunks, start, sent)| async move {
            let chunk = chunks.pop_front()?;
            let start = start.unwrap_or_else(Instant::now);
            let sent = sent + 1;
            let offset = Duration::try_from_secs_f64(
                over.as_secs_f64() * f64::from(sent) / f64::from(count),
            )
            .unwrap_or(Duration::MAX);
            match start.checked_add(offset) {
                Some(deadline) => tokio::time::sleep_until(deadline).await,
                None => std::future::pending::<()>().await,
            }
            Some((
                Ok::<_, BoxError>(Frame::data(chunk)),
                (chunks, Some(start), sent),
            ))
        },
    );
    StreamBody::new(frames).boxed_unsync()
}

/// The first half of `body`, then an error that makes hyper abort the connection.
fn truncated_body(body: Bytes) -> Body {
    let half = body.slice(..body.len() / 2);
    let frames = stream::unfold(0u8, move |step| {
        let half = half.clone();
        async move {
            match step {
                0 => Some((Ok::<_, BoxError>(Frame::data(half)), 1)),
                1 => {
                    // Let hyper flush the headers and the first half before the abort.
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    Some((Err(BoxError::from("simulated connection drop mid-body")), 2))
                }
                _ => None,
            }
        }
    });
    StreamBody::new(frames).boxed_unsync()
}

/// A JSON string literal of exactly `n` bytes (`n` `x`s when `n < 2`), generated in 64 KiB chunks.
fn oversized_body(n: u64) -> Body {
    static FILL: [u8; 65_536] = [b'x'; 65_536];
    let quoted = n >= 2;
    let frames = stream::unfold(0u64, move |pos| async move {
        if pos >= n {
            return None;
        }
        let chunk = if quoted && (pos == 0 || pos == n - 1) {
            Bytes::from_static(b"\"")
        } else {
            let fill_end = if quoted { n - 1 } else { n };
            let len = (fill_end - pos).min(FILL.len() as u64) as usize;
            Bytes::from_static(&FILL[..len])
        };
        let next = pos + chunk.len() as u64;
        Some((Ok::<_, BoxError>(Frame::data(chunk)), next))
    });
    StreamBody::new(frames).boxed_unsync()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn redacts_api_key() {
        assert_eq!(
            redact_query(Some("limit=5&api_key=secret&offset=1")).as_deref(),
            Some("limit=5&api_key=REDACTED&offset=1")
        );
        assert_eq!(redact_query(None), None);
    }

    #[tokio::test]
    async fn oversized_body_has_exact_length() {
        for n in [0u64, 1, 2, 3, 65_537, 200_000] {
            let bytes = oversized_body(n).collect().await.unwrap().to_bytes();
            assert_eq!(bytes.len() as u64, n);
            if n >= 2 {
                let s: String = serde_json::from_slice(&bytes).unwrap();
                assert_eq!(s.len() as u64, n - 2);
            }
        }
    }

    #[tokio::test]
    async fn drip_body_is_complete() {
        let body = Bytes::from_static(b"hello, slow world");
        let out = drip_body(body.clone(), Duration::from_millis(20))
            .collect()
            .await
            .unwrap()
            .to_bytes();
        assert_eq!(out, body);
    }
}
