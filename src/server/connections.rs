//! The HTTP listener: accepts connections under a cap, closes ones that
//! idle or dawdle over their headers, and serves each with hyper.
//!
//! A connection is *idle* while no request of it is in flight (a request
//! is in flight until its response body is done). When the table is full
//! the oldest idle connection makes room for the new one: clients that
//! open connections and never finish a request cannot lock others out,
//! and `/health` keeps answering. Only when every connection is busy is a
//! new one refused, with a 503 the client can retry.

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::Router;
use bytes::Bytes;
use hyper::body::{Frame, Incoming, SizeHint};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use parking_lot::Mutex;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;
use tokio::time::Instant;
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt;

/// How the listener bounds its clients.
#[derive(Debug, Clone)]
pub struct HttpLimits {
    /// Connections open at once (kept under the process's file limit).
    pub max_connections: usize,
    /// How long a client may take to send a request's headers; it also
    /// bounds how long an HTTP/1 connection may wait for its next request.
    pub header_read_timeout: Duration,
    /// How long a connection may stay without a request in flight.
    pub idle_timeout: Duration,
}

impl Default for HttpLimits {
    fn default() -> Self {
        HttpLimits { max_connections: 8192, header_read_timeout: Duration::from_secs(30), idle_timeout: Duration::from_secs(90) }
    }
}

/// How long connections still open at shutdown (long polls, log streams) get to finish.
const HTTP_DRAIN: Duration = Duration::from_secs(3);
/// How often idle connections are looked for.
const SWEEP_EVERY: Duration = Duration::from_secs(1);
/// A refused client gets this long to read its 503.
const REFUSAL_WRITE_TIMEOUT: Duration = Duration::from_secs(1);
/// File descriptors kept free for everything else the server opens (storage, components, Docker).
const RESERVED_FDS: u64 = 512;

/// Serves `app` on `listener` until `shutdown` resolves, then lets open
/// requests finish for a moment.
pub async fn serve(listener: TcpListener, app: Router, limits: HttpLimits, tls: Option<TlsAcceptor>, shutdown: impl Future<Output = ()>) {
    let max = limits.max_connections.min(fd_budget()).max(1);
    if max < limits.max_connections {
        tracing::warn!(max, asked = limits.max_connections, "fewer connections than asked for: the file descriptor limit is lower");
    }
    let table = Arc::new(Table::new(max));
    let graceful = GracefulShutdown::new();
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder.http1().timer(TokioTimer::new()).header_read_timeout(limits.header_read_timeout);
    builder.http2().timer(TokioTimer::new());
    let sweeper = tokio::spawn({
        let table = table.clone();
        async move {
            loop {
                tokio::time::sleep(SWEEP_EVERY).await;
                table.close_idle(limits.idle_timeout);
            }
        }
    });
    tokio::pin!(shutdown);
    loop {
        let tcp = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((tcp, _)) => tcp,
                Err(e) => {
                    // Out of descriptors or a connection reset before accept: wait a little instead of spinning.
                    tracing::warn!(error = %e, "accepting a connection");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        // Small responses go out at once: without TCP_NODELAY a response
        // written in two parts waits for a delayed ACK (~40 ms).
        let _ = tcp.set_nodelay(true);
        let Some(conn) = table.admit() else {
            // A TLS client could not read a plain answer: it is only closed.
            if tls.is_none() {
                tokio::spawn(refuse(tcp));
            }
            continue;
        };
        let (app, builder, watcher) = (app.clone(), builder.clone(), graceful.watcher());
        match &tls {
            None => {
                tokio::spawn(serve_connection(tcp, app, builder, watcher, conn));
            }
            Some(tls) => {
                // The handshake happens on the connection's own task, within
                // the time a client has for its headers.
                let (tls, handshake_timeout) = (tls.clone(), limits.header_read_timeout);
                tokio::spawn(async move {
                    let handshake = tokio::time::timeout(handshake_timeout, tls.accept(tcp));
                    // A handshake holds its place in the table like an idle connection: the table may close it to make room.
                    let accepted = tokio::select! {
                        accepted = handshake => accepted,
                        _ = conn.evicted() => return,
                    };
                    match accepted {
                        Ok(Ok(stream)) => serve_connection(stream, app, builder, watcher, conn).await,
                        Ok(Err(e)) => tracing::debug!(error = %e, "TLS handshake failed"),
                        Err(_) => tracing::debug!("TLS handshake timed out"),
                    }
                });
            }
        }
    }
    sweeper.abort();
    drop(listener);
    if tokio::time::timeout(HTTP_DRAIN, graceful.shutdown()).await.is_err() {
        tracing::warn!("closing connections still open after {HTTP_DRAIN:?}");
    }
}

/// Serves one connection (plain or TLS) until it ends or the table closes it.
async fn serve_connection<I>(io: I, app: Router, builder: auto::Builder<TokioExecutor>, watcher: Watcher, conn: Arc<Conn>)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = hyper::service::service_fn({
        let conn = conn.clone();
        move |req: hyper::Request<Incoming>| {
            let in_flight = conn.begin_request();
            let call = app.clone().oneshot(req.map(Body::new));
            async move {
                let resp = call.await.unwrap_or_else(|never: Infallible| match never {});
                Ok::<_, Infallible>(resp.map(|body| Body::new(Tracked { body, _in_flight: in_flight })))
            }
        }
    });
    let served = watcher.watch(builder.serve_connection_with_upgrades(TokioIo::new(io), service).into_owned());
    tokio::select! {
        _ = served => {}
        _ = conn.evicted() => {}
    }
    drop(conn);
}

/// Tells a client the server has no room, and closes.
async fn refuse(mut tcp: TcpStream) {
    let body = r#"{"error":{"type":"server-overloaded","message":"The server has no room for another connection; retry shortly"}}"#;
    let response = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\nretry-after: 1\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    let _ = tokio::time::timeout(REFUSAL_WRITE_TIMEOUT, async {
        let _ = tcp.write_all(response.as_bytes()).await;
        let _ = tcp.shutdown().await;
    })
    .await;
}

/// Descriptors connections may use: the soft limit, raised to the hard one, less a reserve.
fn fd_budget() -> usize {
    let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit/setrlimit only read and write the struct passed.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return usize::MAX;
        }
        if lim.rlim_cur < lim.rlim_max {
            let raised = libc::rlimit { rlim_cur: lim.rlim_max, rlim_max: lim.rlim_max };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                lim.rlim_cur = lim.rlim_max;
            }
        }
    }
    lim.rlim_cur.saturating_sub(RESERVED_FDS).max(64).try_into().unwrap_or(usize::MAX)
}

/// The open connections.
struct Table {
    max: usize,
    conns: Mutex<Conns>,
}

#[derive(Default)]
struct Conns {
    next_id: u64,
    by_id: HashMap<u64, ConnState>,
}

struct ConnState {
    in_flight: usize,
    /// Since when no request is in flight.
    idle_since: Instant,
    evict: Arc<Notify>,
}

impl Table {
    fn new(max: usize) -> Self {
        Table { max, conns: Mutex::new(Conns::default()) }
    }

    /// Room for one more connection: made by closing the oldest idle one
    /// if the table is full; `None` if every connection is busy.
    fn admit(self: &Arc<Self>) -> Option<Arc<Conn>> {
        let mut conns = self.conns.lock();
        if conns.by_id.len() >= self.max {
            let oldest = conns.by_id.iter().filter(|(_, c)| c.in_flight == 0).min_by_key(|(_, c)| c.idle_since).map(|(id, _)| *id)?;
            if let Some(c) = conns.by_id.remove(&oldest) {
                c.evict.notify_one();
            }
        }
        let id = conns.next_id;
        conns.next_id += 1;
        let evict = Arc::new(Notify::new());
        conns.by_id.insert(id, ConnState { in_flight: 0, idle_since: Instant::now(), evict: evict.clone() });
        Some(Arc::new(Conn { table: self.clone(), id, evict }))
    }

    /// Closes connections idle for longer than `max`.
    fn close_idle(&self, max: Duration) {
        let now = Instant::now();
        self.conns.lock().by_id.retain(|_, c| {
            let stale = c.in_flight == 0 && now.duration_since(c.idle_since) > max;
            if stale {
                c.evict.notify_one();
            }
            !stale
        });
    }
}

/// One connection's place in the table; dropping it frees the place.
struct Conn {
    table: Arc<Table>,
    id: u64,
    evict: Arc<Notify>,
}

impl Conn {
    fn begin_request(self: &Arc<Self>) -> InFlight {
        if let Some(c) = self.table.conns.lock().by_id.get_mut(&self.id) {
            c.in_flight += 1;
        }
        InFlight(self.clone())
    }

    /// Resolves when the table closed this connection to make room or for idling.
    async fn evicted(&self) {
        self.evict.notified().await
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        self.table.conns.lock().by_id.remove(&self.id);
    }
}

/// A request in flight, until its response body is done.
struct InFlight(Arc<Conn>);

impl Drop for InFlight {
    fn drop(&mut self) {
        if let Some(c) = self.0.table.conns.lock().by_id.get_mut(&self.0.id) {
            c.in_flight = c.in_flight.saturating_sub(1);
            if c.in_flight == 0 {
                c.idle_since = Instant::now();
            }
        }
    }
}

/// A response body that keeps its request in flight until it ends.
struct Tracked {
    body: Body,
    _in_flight: InFlight,
}

impl hyper::body::Body for Tracked {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_full_table_makes_room_by_closing_the_oldest_idle_connection() {
        let table = Arc::new(Table::new(2));
        let first = table.admit().unwrap();
        let second = table.admit().unwrap();
        let _busy = second.begin_request();
        // Full: the idle first connection goes, the busy second stays.
        let third = table.admit().unwrap();
        tokio::time::timeout(Duration::from_secs(1), first.evicted()).await.expect("the idle connection is closed");
        // Full again, and every connection busy: refused.
        let _busy_too = third.begin_request();
        assert!(table.admit().is_none());
    }
}
