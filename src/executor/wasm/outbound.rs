//! Outbound HTTP of a guest (`wasi:http/outgoing-handler`) under the
//! platform's policy (`platform::outbound`): the host is checked against
//! the Actor's `allowedHosts`, the name resolved here and every address
//! checked before the connection is made to exactly that address; request
//! and response bodies are capped, time limits clamped, requests in flight
//! per run bounded, and every request counted in the run's stats.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::{Body, Frame, SizeHint};
use tokio::net::TcpStream;
use wasmtime_wasi_http::io::TokioIo;
use wasmtime_wasi_http::{Error, RequestOptions, WasiBody, WasiHttpHooks};

use crate::limits::Limits;
use crate::platform::durability::UnsyncedWrites;
use crate::platform::events::RunUsage;
use crate::platform::executors::RunJob;
use crate::platform::logs::RunLog;
use crate::platform::outbound::{Denied, OutboundPolicy};
use crate::platform::Platform;

/// What every instance of one run shares for outbound HTTP.
pub struct OutboundShared {
    policy: OutboundPolicy,
    limits: OutboundLimits,
    log: RunLog,
    in_flight: AtomicUsize,
    /// Counts the requests sent (the run's `stats.outboundRequests`).
    usage: Arc<RunUsage>,
}

#[derive(Debug, Clone, Copy)]
struct OutboundLimits {
    max_request_bytes: u64,
    max_response_bytes: u64,
    max_in_flight: usize,
    connect_timeout: Duration,
    first_byte_timeout: Duration,
    between_bytes_timeout: Duration,
}

impl OutboundShared {
    /// The run's policy: its build's `allowedHosts` under the server's private-range setting.
    pub fn for_run(job: &RunJob) -> Arc<OutboundShared> {
        let config = &job.platform.config;
        // `allowedHosts` was checked when the build was made; a pattern that no longer parses allows nothing.
        let policy = OutboundPolicy::new(job.build.actor_definition.allowed_hosts.as_deref(), config.allow_private_outbound)
            .unwrap_or(OutboundPolicy { allowed_hosts: Some(Vec::new()), allow_private: config.allow_private_outbound });
        OutboundShared::new(policy, &config.limits, job.log.clone(), job.usage.clone())
    }

    fn new(policy: OutboundPolicy, limits: &Limits, log: RunLog, usage: Arc<RunUsage>) -> Arc<OutboundShared> {
        let limits = OutboundLimits {
            max_request_bytes: limits.max_outbound_request_bytes,
            max_response_bytes: limits.max_outbound_response_bytes,
            max_in_flight: limits.max_outbound_requests_in_flight,
            connect_timeout: Duration::from_secs(limits.outbound_connect_timeout_secs),
            first_byte_timeout: Duration::from_secs(limits.outbound_response_timeout_secs),
            between_bytes_timeout: Duration::from_secs(limits.outbound_response_timeout_secs),
        };
        Arc::new(OutboundShared { policy, limits, log, in_flight: AtomicUsize::new(0), usage })
    }
}

/// The hooks one instance's `wasi:http` context uses.
pub struct OutboundHttp {
    pub shared: Arc<OutboundShared>,
    /// The instance's writes, settled before a request leaves (output commit).
    pub writes: UnsyncedWrites,
    pub platform: Arc<Platform>,
}

impl WasiHttpHooks for OutboundHttp {
    fn send_request(
        &mut self,
        request: hyper::Request<WasiBody>,
        options: Option<RequestOptions>,
        _fut: Box<dyn Future<Output = Result<(), Error>> + Send>,
    ) -> Box<dyn Future<Output = Result<(hyper::Response<WasiBody>, Box<dyn Future<Output = Result<(), Error>> + Send>), Error>> + Send>
    {
        let (shared, writes, platform) = (self.shared.clone(), self.writes.clone(), self.platform.clone());
        Box::new(async move {
            // What the guest wrote is durable before anyone it calls can know of it.
            platform.settle(&writes).await;
            let what = format!("{} {}", request.method(), request.uri());
            let sent = send(shared.clone(), request, options).await;
            match &sent {
                Ok((resp, _)) => tracing::debug!(request = %what, status = resp.status().as_u16(), "outbound request"),
                Err(e) => tracing::debug!(request = %what, error = ?e, "outbound request failed"),
            }
            sent
        })
    }
}

type Sent = (hyper::Response<WasiBody>, Box<dyn Future<Output = Result<(), Error>> + Send>);

async fn send(shared: Arc<OutboundShared>, mut request: hyper::Request<WasiBody>, options: Option<RequestOptions>) -> Result<Sent, Error> {
    let uri = request.uri().clone();
    let tls = uri.scheme_str() == Some("https");
    let scheme = if tls { "https" } else { "http" };
    let host = uri.host().ok_or(Error::HttpRequestUriInvalid)?.to_owned();
    let port = uri.port_u16().unwrap_or(if tls { 443 } else { 80 });
    let deny = |why: Denied, code: Error| {
        shared.log.system(&format!("Outbound request to {uri} denied: {why}."));
        Err(code)
    };
    if let Err(why) = shared.policy.check_host(scheme, &host, port) {
        return deny(why, Error::HttpRequestDenied);
    }
    let limits = shared.limits;
    let declared = request.headers().get(hyper::header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limits.max_request_bytes) {
        return Err(Error::HttpRequestBodySize(Some(limits.max_request_bytes)));
    }
    let slot = InFlight::take(&shared).ok_or(Error::ConnectionLimitReached)?;
    shared.usage.outbound_requests.fetch_add(1, Ordering::Relaxed);
    let opt = |pick: fn(&RequestOptions) -> Option<Duration>, max: Duration| options.as_ref().and_then(pick).map_or(max, |d| d.min(max));
    let connect_timeout = opt(|o| o.connect_timeout, limits.connect_timeout);
    let first_byte_timeout = opt(|o| o.first_byte_timeout, limits.first_byte_timeout);
    let between_bytes = opt(|o| o.between_bytes_timeout, limits.between_bytes_timeout).max(Duration::from_millis(1));

    // Resolve here, check every address, connect to a checked one.
    let host_for_dns = host.trim_start_matches('[').trim_end_matches(']').to_owned();
    let allowed = match resolve_allowed(&shared, &host_for_dns, port, connect_timeout).await? {
        Ok(allowed) => allowed,
        Err(why) => return deny(why, Error::DestinationIpProhibited),
    };
    let (mut sender, conn) = connect(&allowed, tls.then_some(host_for_dns.as_str()), connect_timeout).await?;
    // The request line carries the path only (the authority went in `Host`).
    *request.uri_mut() = uri.path_and_query().map_or("/", |p| p.as_str()).parse().map_err(|_| Error::HttpRequestUriInvalid)?;
    let request = request
        .map(|body| Capped::new(body, limits.max_request_bytes, Error::HttpRequestBodySize(Some(limits.max_request_bytes))).boxed_unsync());
    // The connection is driven while the response head is awaited; it may
    // finish first (a server that closes after answering).
    let mut conn = Some(Box::pin(conn));
    let response = {
        let send = tokio::time::timeout(first_byte_timeout, sender.send_request(request));
        tokio::pin!(send);
        loop {
            tokio::select! {
                r = &mut send => break r.map_err(|_| Error::ConnectionReadTimeout)?.map_err(Error::from)?,
                done = async { conn.as_mut().expect("guarded").await }, if conn.is_some() => {
                    done.map_err(Error::from)?;
                    conn = None;
                }
            }
        }
    };
    let response = response.map(move |body| {
        let body = body.map_err(Error::from);
        Capped::new(body, limits.max_response_bytes, Error::HttpResponseBodySize(Some(limits.max_response_bytes)))
            .with_idle_timeout(between_bytes)
            .with_slot(slot)
            .boxed_unsync()
    });
    let io: Box<dyn Future<Output = Result<(), Error>> + Send> = Box::new(async move {
        match conn {
            Some(conn) => conn.await.map_err(Error::from),
            None => Ok(()),
        }
    });
    Ok((response, io))
}

/// The addresses `host` resolves to that the policy allows; `Ok(Err(why))`
/// when it resolves only to denied ones.
async fn resolve_allowed(
    shared: &OutboundShared,
    host: &str,
    port: u16,
    timeout: Duration,
) -> Result<Result<Vec<SocketAddr>, Denied>, Error> {
    let addrs: Vec<SocketAddr> = match tokio::time::timeout(timeout, tokio::net::lookup_host((host, port))).await {
        Err(_) => return Err(Error::DnsTimeout),
        Ok(Err(e)) => return Err(Error::DnsError { rcode: Some(e.to_string()), info_code: None }),
        Ok(Ok(addrs)) => addrs.collect(),
    };
    let mut denied = None;
    let allowed: Vec<SocketAddr> = addrs
        .into_iter()
        .filter(|a| match shared.policy.check_ip(host, a.ip()) {
            Ok(()) => true,
            Err(why) => {
                denied.get_or_insert(why);
                false
            }
        })
        .collect();
    match (allowed.is_empty(), denied) {
        (true, Some(why)) => Ok(Err(why)),
        (true, None) => Err(Error::DestinationNotFound),
        (false, _) => Ok(Ok(allowed)),
    }
}

/// An HTTP/1 connection to one of `addrs`, over TLS for `tls_name`.
async fn connect(addrs: &[SocketAddr], tls_name: Option<&str>, timeout: Duration) -> Result<Handshake, Error> {
    let tcp = match tokio::time::timeout(timeout, TcpStream::connect(addrs)).await {
        Err(_) => return Err(Error::ConnectionTimeout),
        Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionRefused => return Err(Error::ConnectionRefused),
        Ok(Err(e)) => return Err(Error::Connect(e)),
        Ok(Ok(tcp)) => tcp,
    };
    let _ = tcp.set_nodelay(true);
    match tls_name {
        Some(name) => {
            let name = rustls::pki_types::ServerName::try_from(name.to_owned()).map_err(|_| Error::HttpRequestUriInvalid)?;
            let stream = tokio::time::timeout(timeout, tls_connector().connect(name, tcp))
                .await
                .map_err(|_| Error::ConnectionTimeout)?
                .map_err(Error::Tls)?;
            handshake(TokioIo::new(Box::new(stream) as Box<dyn Io>), timeout).await
        }
        None => handshake(TokioIo::new(Box::new(tcp) as Box<dyn Io>), timeout).await,
    }
}

trait Io: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static {}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static> Io for T {}

type Handshake = (
    hyper::client::conn::http1::SendRequest<http_body_util::combinators::UnsyncBoxBody<Bytes, Error>>,
    hyper::client::conn::http1::Connection<TokioIo<Box<dyn Io>>, http_body_util::combinators::UnsyncBoxBody<Bytes, Error>>,
);

async fn handshake(io: TokioIo<Box<dyn Io>>, within: Duration) -> Result<Handshake, Error> {
    tokio::time::timeout(within, hyper::client::conn::http1::Builder::new().handshake(io))
        .await
        .map_err(|_| Error::ConnectionTimeout)?
        .map_err(Error::from)
}

fn tls_connector() -> tokio_rustls::TlsConnector {
    tokio_rustls::TlsConnector::from(crate::platform::outbound::tls_client_config())
}

/// One of a run's outbound requests in flight, until its response body ends.
struct InFlight(Arc<OutboundShared>);

impl InFlight {
    fn take(shared: &Arc<OutboundShared>) -> Option<InFlight> {
        let max = shared.limits.max_in_flight;
        shared.in_flight.fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| (n < max).then_some(n + 1)).ok()?;
        Some(InFlight(shared.clone()))
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A body cut off with `error` past `max` bytes, and (for responses) after
/// `idle` without a frame.
struct Capped<B> {
    body: B,
    left: u64,
    error: Option<Error>,
    idle: Option<(Duration, Pin<Box<tokio::time::Sleep>>)>,
    _slot: Option<InFlight>,
}

impl<B> Capped<B> {
    fn new(body: B, max: u64, error: Error) -> Self {
        Capped { body, left: max, error: Some(error), idle: None, _slot: None }
    }

    fn with_idle_timeout(mut self, idle: Duration) -> Self {
        self.idle = Some((idle, Box::pin(tokio::time::sleep(idle))));
        self
    }

    fn with_slot(mut self, slot: InFlight) -> Self {
        self._slot = Some(slot);
        self
    }
}

impl<B: Body<Data = Bytes, Error = Error> + Unpin> Body for Capped<B> {
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        let this = &mut *self;
        match Pin::new(&mut this.body).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some((every, sleep)) = &mut this.idle {
                    sleep.as_mut().reset(tokio::time::Instant::now() + *every);
                }
                let len = frame.data_ref().map_or(0, |d| d.len() as u64);
                if len > this.left {
                    this.left = 0;
                    return Poll::Ready(Some(Err(this.error.take().unwrap_or(Error::HttpResponseIncomplete))));
                }
                this.left -= len;
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Pending => {
                let timed_out = this.idle.as_mut().is_some_and(|(_, sleep)| sleep.as_mut().poll(cx).is_ready());
                if timed_out {
                    Poll::Ready(Some(Err(Error::ConnectionReadTimeout)))
                } else {
                    Poll::Pending
                }
            }
            other => other,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}
