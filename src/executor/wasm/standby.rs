//! Executor layer (wasm): Standby requests. Every request gets a fresh
//! instance from the build's cached `InstancePre` (pooling allocator, so
//! tens of microseconds), runs the `wasi:http/incoming-handler` export under
//! the run's memory budget, and is bounded by its deadline twice: an epoch
//! interrupt for a busy guest and an async timeout for a waiting one.
//!
//! With `actorStandby.maxRequestsPerInstance` above 1 an instance that
//! answered cleanly is kept and answers later requests, one at a time, up to
//! that many: no instantiation on the way, but what one request leaves in
//! the guest's memory the next one sees. An instance that traps, times out
//! or is cut off mid-answer is never reused.

use std::sync::Arc;
use std::time::Duration;

use http_body_util::BodyExt;
use tokio::sync::oneshot;
use tokio::time::{timeout_at, Instant};
use tracing::Instrument;
use wasmtime::Store;
use wasmtime_wasi_http::p2::bindings::http::types::Scheme;
use wasmtime_wasi_http::p2::bindings::{Proxy, ProxyPre};
use wasmtime_wasi_http::WasiHttpView;

use super::host::HostCtx;
use super::outbound::OutboundShared;
use super::{classify_error, output, Interrupted, RunState, WasmExecutor};
use crate::platform::executors::{HttpRequest, HttpResponse, HttpServer, Outcome, RunJob, ServeError, StopReason};

/// How long a handler that has answered may go on streaming its body past
/// the request deadline before its instance is dropped.
const BODY_GRACE: Duration = Duration::from_secs(1);

/// A Standby run's server; its requests execute on the guest threads.
pub struct WasmHttpServer(Arc<Serving>);

struct Serving {
    executor: Arc<WasmExecutor>,
    pre: ProxyPre<RunState>,
    job: RunJob,
    env: Vec<(String, String)>,
    /// Cloned into each request's store.
    host: HostCtx,
    outbound: Arc<OutboundShared>,
    memory_limit: u64,
    request_timeout: Duration,
    max_requests_per_instance: u32,
    /// Instances that may answer more requests (only with `max_requests_per_instance` > 1);
    /// at most as many as requests were ever in flight at once.
    warm: parking_lot::Mutex<Vec<Warm>>,
}

/// An instantiated component, between requests.
struct Warm {
    store: Store<RunState>,
    proxy: Proxy,
    answered: u32,
}

impl WasmHttpServer {
    pub fn new(
        executor: Arc<WasmExecutor>,
        pre: ProxyPre<RunState>,
        job: RunJob,
        request_timeout: Duration,
        max_requests_per_instance: u32,
    ) -> Self {
        let env = crate::executor::env::actor_env(&job);
        let memory_limit = job.run.options.memory_mbytes as u64 * 1024 * 1024;
        let host = HostCtx::new(&job);
        let outbound = OutboundShared::for_run(&job);
        WasmHttpServer(Arc::new(Serving {
            executor,
            pre,
            job,
            env,
            host,
            outbound,
            memory_limit,
            request_timeout,
            max_requests_per_instance: max_requests_per_instance.max(1),
            warm: parking_lot::Mutex::new(Vec::new()),
        }))
    }
}

impl Serving {
    /// What a failed handler call means for the client.
    fn failure(&self, e: &wasmtime::Error, what: &str) -> ServeError {
        if let Some(Interrupted(reason)) = e.downcast_ref::<Interrupted>() {
            return match reason {
                // The run itself is stopping (abort, migration, run timeout).
                _ if self.job.stop.borrow().is_some() => ServeError::Unavailable("The Standby run is stopping".into()),
                StopReason::Timeout => {
                    self.job.log.system(&format!("{what}: the handler did not finish within {} s.", self.request_timeout.as_secs()));
                    ServeError::TimedOut(self.request_timeout)
                }
                _ => ServeError::Unavailable("The Standby run is stopping".into()),
            };
        }
        match classify_error(e, &self.job, self.memory_limit) {
            Outcome::Crashed(message) => ServeError::Crashed(format!("{what}: {message}")),
            Outcome::Exited { exit_code, .. } => ServeError::Crashed(format!("{what}: the handler exited with code {exit_code}")),
            Outcome::Stopped(_) => ServeError::Unavailable("The Standby run is stopping".into()),
        }
    }
}

#[async_trait::async_trait]
impl HttpServer for WasmHttpServer {
    async fn handle(&self, request: HttpRequest) -> Result<HttpResponse, ServeError> {
        let what = format!("{} {}", request.method(), request.uri().path());
        let span = tracing::debug_span!("standby_request", run_id = %self.0.job.run.id, request = %what);
        let serving = self.0.clone();
        // The handler runs on the guest threads; a client that goes away drops (and so cancels) it.
        match super::threads::spawn(async move { serving.serve(request, what).await }.instrument(span)).await {
            Ok(answer) => answer,
            Err(panic) => Err(ServeError::Crashed(format!("the executor failed (internal error: {panic})"))),
        }
    }
}

impl Serving {
    /// A kept instance, or a fresh store (instantiated in the request's call).
    fn instance_for(&self, deadline: Instant) -> (Store<RunState>, Option<Proxy>, u32) {
        let kept = if self.max_requests_per_instance > 1 { self.warm.lock().pop() } else { None };
        if let Some(Warm { mut store, proxy, answered }) = kept {
            store.data_mut().deadline = Some(deadline);
            return (store, Some(proxy), answered);
        }
        let store = self.executor.new_store(
            output::wasi_ctx(&self.env, &self.job),
            self.host.for_instance(),
            self.outbound.clone(),
            self.memory_limit,
            &self.job,
            Some(deadline),
        );
        (store, None, 0)
    }

    /// Keeps an instance that answered cleanly for the next request, while it has requests left.
    fn keep(&self, warm: Warm) {
        if warm.answered < self.max_requests_per_instance && self.job.stop.borrow().is_none() {
            self.warm.lock().push(warm);
        }
    }

    async fn serve(self: Arc<Self>, request: HttpRequest, what: String) -> Result<HttpResponse, ServeError> {
        let now = Instant::now();
        let deadline =
            now.checked_add(self.request_timeout).unwrap_or(now + Duration::from_secs(crate::limits::MAX_STANDBY_REQUEST_TIMEOUT_SECS));
        let deadline = self.job.deadline.map_or(deadline, |d| d.min(deadline));
        let permit = match timeout_at(deadline, self.executor.standby_slots.clone().acquire_owned()).await {
            Ok(Ok(p)) => p,
            Ok(Err(_)) => return Err(ServeError::Unavailable("The server is shutting down".into())),
            Err(_) => return Err(ServeError::TimedOut(self.request_timeout)),
        };

        let (mut store, proxy, answered) = self.instance_for(deadline);
        let (parts, body) = request.into_parts();
        let body = body.map_err(|e| wasmtime_wasi_http::Error::InternalError(Some(e.to_string())));
        let (tx, rx) = oneshot::channel();
        let handles =
            store.data_mut().http().new_incoming_request(Scheme::Http, axum::http::Request::from_parts(parts, body)).and_then(|req| {
                let out = store.data_mut().http().new_response_outparam(tx)?;
                Ok((req, out))
            });
        let (req, out) = handles.map_err(|e| ServeError::Crashed(format!("{what}: the request cannot be handed to the Actor: {e:#}")))?;
        let writes = store.data().host.writes.clone();

        let pre = self.pre.clone();
        let mut call = Box::pin(async move {
            let _permit = permit;
            let proxy = match proxy {
                Some(proxy) => proxy,
                None => pre.instantiate_async(&mut store).await?,
            };
            proxy.wasi_http_incoming_handler().call_handle(&mut store, req, out).await?;
            wasmtime::Result::Ok(Warm { store, proxy, answered: answered + 1 })
        });
        // The guest runs right here, in this guest task, until it answers: most handlers finish
        // with their whole body buffered, and then no task is spawned. One
        // that streams on after the head goes on in a task of its own,
        // bounded by the deadline (the epoch stops it if busy, the timeout
        // drops it if it waits).
        let mut rx = rx;
        let first = timeout_at(deadline, async {
            tokio::select! {
                biased;
                done = &mut call => Err(done),
                head = &mut rx => Ok(head),
            }
        })
        .await;
        let head = match first {
            Err(_) => {
                drop(call);
                self.job.log.system(&format!("{what}: the handler did not answer within {} s.", self.request_timeout.as_secs()));
                return Err(ServeError::TimedOut(self.request_timeout));
            }
            Ok(Ok(head)) => {
                let serving = self.clone();
                tokio::spawn(async move {
                    if let Ok(Ok(warm)) = timeout_at(deadline + BODY_GRACE, call).await {
                        serving.keep(warm);
                    }
                });
                head
            }
            Ok(Err(done)) => match (rx.try_recv(), done) {
                (Ok(head), Ok(warm)) => {
                    self.keep(warm);
                    Ok(head)
                }
                (Ok(head), Err(_)) => Ok(head),
                (Err(_), Ok(_)) => return Err(ServeError::Crashed(format!("{what}: the handler returned without setting a response"))),
                (Err(_), Err(e)) => return Err(self.failure(&e, &what)),
            },
        };
        // What the handler wrote is durable before its answer leaves (output commit).
        self.job.platform.settle(&writes).await;
        match head {
            Ok(Ok(response)) => Ok(response.map(axum::body::Body::new)),
            Ok(Err(code)) => Err(ServeError::Crashed(format!("{what}: the handler answered with an error: {code:?}"))),
            Err(_) => Err(ServeError::Crashed(format!("{what}: the handler dropped its response"))),
        }
    }
}
