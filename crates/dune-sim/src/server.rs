//! The HTTP server: a hyper accept loop (HTTP/1.1 and HTTP/2), authentication, request recording, and
//! fault injection. Faults need control below the handler level: `drop` closes the TCP connection with
//! no response at all, `drop_mid_body` aborts after part of the body, `slow_drip` throttles the body.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::Arc;
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

use crate::api::reply::Reply;
use crate::api::routes::{self, Route};
use crate::scenario::faults::FaultKind;
use crate::state::{RecordedRequest, Shared};

pub(crate) type BoxError = Box<dyn std::error::Error + Send + Sync>;
pub(crate) type Body = UnsyncBoxBody<Bytes, BoxError>;

/// Request bodies larger than this get a 413.
const MAX_REQUEST_BODY: usize = 16 * 1024 * 1024;

/// A body that no JSON parser accepts.
const GARBAGE: &str =
    "{\"status\": \"executing\", \"node_executions\": [{\"id\": 1,, <<garbage>> \u{1}";

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

/// Whether the request carries an acceptable API key, in the `X-Dune-Api-Key` header or `?api_key=`.
fn key_ok(shared: &Shared, headers: &HeaderMap, query: Option<&str>) -> bool {
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
    match (provided, &shared.scenario.api_key) {
        (None, _) => false,
        (Some(_), None) => true,
        (Some(p), Some(k)) => p == *k,
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
    let at = shared.clock.now();
    let (parts, body) = req.into_parts();
    let method = parts.method.as_str().to_owned();
    let path = parts.uri.path().to_owned();
    let query = parts.uri.query().map(str::to_owned);
    let accept = parts
        .headers
        .get(hyper::header::ACCEPT)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    let key_ok = key_ok(&shared, &parts.headers, query.as_deref());
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
    let normal = || routes::dispatch(&shared, &route, query.as_deref(), &bytes);
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
            tokio::time::sleep(shared.clock.real(d)).await;
            send(&shared, index, normal())
        }
        FaultKind::SlowDrip(over) => {
            let reply = normal();
            shared.set_status(index, reply.status);
            let len = reply.body.len();
            let body = drip_body(reply.body.clone(), shared.clock.real(over));
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
/// the simulator's clock (see [`Clock::http_date`](crate::clock::Clock::http_date)), not the machine's.
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
    if let Ok(v) = HeaderValue::from_str(&shared.clock.http_date()) {
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
