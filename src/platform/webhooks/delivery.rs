//! Posting dispatches: one loop reads the queue of due dispatches (a sled
//! tree, so it survives a crash) and hands each to a bounded pool of
//! attempts. An attempt that gets no 2xx is retried with exponential
//! backoff (Apify's ~1 min, 2, 4, ... for 11 retries) unless the webhook
//! says `doNotRetry`. Connections go only to public addresses, checked on
//! what a name resolves to at connect time (no DNS rebinding), unless the
//! server allows private webhook URLs; redirects are not followed.

use std::collections::HashSet;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Weak};
use std::time::Duration;

use parking_lot::Mutex;
use tokio::sync::{Notify, Semaphore};

use super::{queue_key, Call, DispatchStatus, StoredDispatch};
use crate::ids;
use crate::platform::db::{get_json, put_json};
use crate::platform::outbound::non_public_class;
use crate::platform::Platform;

/// How dispatches are delivered.
#[derive(Debug, Clone)]
pub struct DeliveryOptions {
    /// `--allow-private-webhook-urls`: receivers on loopback and private networks (tests, development).
    pub allow_private: bool,
    /// The first retry's delay; each next one doubles it.
    pub retry_base: Duration,
    pub max_retries: u32,
    /// Attempts in flight at once.
    pub workers: usize,
    /// One attempt's limit, connect to last byte.
    pub timeout: Duration,
}

impl Default for DeliveryOptions {
    fn default() -> Self {
        DeliveryOptions {
            allow_private: false,
            retry_base: Duration::from_secs(60),
            max_retries: 11,
            workers: 32,
            timeout: Duration::from_secs(120),
        }
    }
}

/// What a receiver's answer keeps of its body.
const MAX_RESPONSE_BODY: usize = 1024;
/// The longest the loop sleeps without looking at the queue.
const IDLE_RECHECK: Duration = Duration::from_secs(30);

pub(crate) struct Delivery {
    options: DeliveryOptions,
    wake: Arc<Notify>,
    client: reqwest::Client,
    in_flight: Mutex<HashSet<String>>,
    slots: Arc<Semaphore>,
}

/// Resolves names to public addresses only (unless private ones are allowed).
struct PublicOnly {
    allow_private: bool,
}

impl reqwest::dns::Resolve for PublicOnly {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let allow_private = self.allow_private;
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let allowed: Vec<SocketAddr> = addrs.into_iter().filter(|a| allow_private || non_public_class(a.ip()).is_none()).collect();
            if allowed.is_empty() {
                return Err(format!("{host} resolves to no public address (webhooks to private addresses are refused)").into());
            }
            Ok(Box::new(allowed.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

impl Delivery {
    pub(crate) fn new(options: DeliveryOptions) -> Delivery {
        let client = reqwest::Client::builder()
            .use_preconfigured_tls((*crate::platform::outbound::tls_client_config()).clone())
            .dns_resolver(Arc::new(PublicOnly { allow_private: options.allow_private }))
            .redirect(reqwest::redirect::Policy::none())
            .timeout(options.timeout)
            .user_agent(concat!("wactor-webhooks/", env!("CARGO_PKG_VERSION")))
            .build()
            .expect("building the webhook HTTP client");
        Delivery {
            slots: Arc::new(Semaphore::new(options.workers.max(1))),
            options,
            wake: Arc::new(Notify::new()),
            client,
            in_flight: Mutex::new(HashSet::new()),
        }
    }

    pub(crate) fn allow_private(&self) -> bool {
        self.options.allow_private
    }

    /// Tells the loop to look at the queue now.
    pub(crate) fn wake(&self) {
        self.wake.notify_one();
    }

    fn backoff(&self, attempts: u32) -> Duration {
        self.options.retry_base.saturating_mul(1u32 << attempts.saturating_sub(1).min(20))
    }
}

impl Platform {
    /// Starts delivering dispatches, those left by an earlier run of the server first.
    pub fn start_webhook_delivery(self: &Arc<Self>) {
        let platform = Arc::downgrade(self);
        tokio::spawn(delivery_loop(platform));
    }
}

async fn delivery_loop(platform: Weak<Platform>) {
    loop {
        let Some(p) = platform.upgrade() else { return };
        let wake = p.webhooks.delivery.wake.clone();
        let notified = wake.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        let sleep_for = match start_due(&p) {
            Ok(next_due_ms) => {
                next_due_ms.map_or(IDLE_RECHECK, |due| Duration::from_millis((due - ids::now().timestamp_millis()).max(1) as u64))
            }
            Err(e) => {
                tracing::error!(error = %e, "reading the webhook dispatch queue failed");
                Duration::from_secs(1)
            }
        };
        drop(p);
        tokio::select! {
            _ = notified => {}
            _ = tokio::time::sleep(sleep_for.min(IDLE_RECHECK)) => {}
        }
    }
}

/// Starts every due dispatch there is a worker for; when the next is due.
fn start_due(p: &Arc<Platform>) -> crate::platform::error::Result<Option<i64>> {
    let d = &p.webhooks.delivery;
    let now = ids::now().timestamp_millis();
    for key in p.webhooks.queue.iter().keys() {
        let key = key?;
        let due = i64::from_be_bytes(key[..8].try_into().unwrap_or_default());
        if due > now {
            return Ok(Some(due));
        }
        let id = String::from_utf8_lossy(&key[8..]).into_owned();
        if d.in_flight.lock().contains(&id) {
            continue;
        }
        // Every worker busy: the next one to finish wakes the loop.
        let Ok(permit) = d.slots.clone().try_acquire_owned() else { return Ok(None) };
        d.in_flight.lock().insert(id.clone());
        let p = p.clone();
        tokio::spawn(async move {
            if let Err(e) = attempt(&p, &id, key.to_vec()).await {
                tracing::error!(dispatch = %id, error = %e, "a webhook attempt could not be recorded");
            }
            p.webhooks.delivery.in_flight.lock().remove(&id);
            drop(permit);
            p.webhooks.delivery.wake();
        });
    }
    Ok(None)
}

/// One delivery attempt of a dispatch, recorded in its `calls`.
async fn attempt(p: &Platform, id: &str, queued_key: Vec<u8>) -> crate::platform::error::Result<()> {
    let w = &p.webhooks;
    let Some(mut stored) = get_json::<StoredDispatch>(&w.dispatches, id)? else {
        w.queue.remove(queued_key)?;
        return Ok(());
    };
    if stored.dispatch.status != DispatchStatus::Active {
        w.queue.remove(queued_key)?;
        return Ok(());
    }
    let started_at = ids::now();
    let (response_status, response_body, error_message) = post(p, &stored).await;
    stored.dispatch.calls.push(Call { started_at, finished_at: ids::now(), error_message, response_status, response_body });
    let delivered = response_status.is_some_and(|s| (200..300).contains(&s));
    let attempts = stored.dispatch.calls.len() as u32;
    stored.due_ms = None;
    stored.dispatch.status = if delivered {
        DispatchStatus::Succeeded
    } else if stored.do_not_retry || attempts > w.delivery.options.max_retries {
        DispatchStatus::Failed
    } else {
        stored.due_ms = Some(ids::now().timestamp_millis() + w.delivery.backoff(attempts).as_millis() as i64);
        DispatchStatus::Active
    };
    put_json(&w.dispatches, id, &stored)?;
    if let Some(due) = stored.due_ms {
        w.queue.insert(queue_key(due, id), &[])?;
    }
    w.queue.remove(queued_key)?;
    Ok(())
}

/// The POST itself: the receiver's status and the start of its body, or why there was none.
async fn post(p: &Platform, stored: &StoredDispatch) -> (Option<u16>, Option<String>, Option<String>) {
    let d = &p.webhooks.delivery;
    // An IP literal is not resolved, so it is checked here (names are checked by the resolver).
    if let Ok(url) = reqwest::Url::parse(&stored.url) {
        let host = url.host_str().unwrap_or_default().trim_start_matches('[').trim_end_matches(']');
        if let Ok(ip) = host.parse::<IpAddr>() {
            if let (false, Some(class)) = (d.options.allow_private, non_public_class(ip)) {
                return (None, None, Some(format!("{ip} is a {class} address; webhooks to private addresses are refused")));
            }
        }
    }
    let mut req = d.client.post(&stored.url);
    for (k, v) in &stored.headers {
        req = req.header(k, v);
    }
    // The headers the platform always sets, over the template's.
    let req = req
        .header("Content-Type", "application/json")
        .header("X-Apify-Webhook", &stored.dispatch.webhook_id)
        .header("X-Apify-Webhook-Dispatch-Id", &stored.dispatch.id)
        .header("X-Apify-Request-Origin", "WEBHOOK")
        .body(stored.body.clone());
    match req.send().await {
        Ok(mut resp) => {
            let status = resp.status().as_u16();
            // Only the start of the answer is kept, and only that much is read: a receiver cannot fill memory.
            let mut kept = Vec::new();
            while kept.len() < MAX_RESPONSE_BODY {
                match resp.chunk().await {
                    Ok(Some(chunk)) => kept.extend_from_slice(&chunk[..chunk.len().min(MAX_RESPONSE_BODY - kept.len())]),
                    _ => break,
                }
            }
            let body = Some(String::from_utf8_lossy(&kept).into_owned());
            let error = (!(200..300).contains(&status)).then(|| format!("The receiver answered {status}"));
            (Some(status), body, error)
        }
        Err(e) => (None, None, Some(describe(&e))),
    }
}

/// The chain of causes of a failed request, as one line.
fn describe(e: &reqwest::Error) -> String {
    let mut out = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}
