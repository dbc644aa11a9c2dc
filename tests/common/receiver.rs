//! A webhook receiver for tests: an HTTP server on 127.0.0.1 that records
//! what it is sent and answers 500 to the first `fail_first` requests.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use axum::http::{HeaderMap, StatusCode};
use parking_lot::Mutex;
use serde_json::Value;

use super::eventually;

/// What the receiver was sent.
#[derive(Clone, Debug)]
pub struct Received {
    pub headers: HeaderMap,
    pub body: Value,
}

/// An HTTP receiver on 127.0.0.1 that answers `fail_first` requests with 500, then 200.
#[derive(Clone)]
pub struct Receiver {
    pub url: String,
    pub got: Arc<Mutex<Vec<Received>>>,
    pub fail_first: Arc<AtomicUsize>,
}

impl Receiver {
    pub async fn start(fail_first: usize) -> Receiver {
        let got = Arc::new(Mutex::new(Vec::new()));
        let fail = Arc::new(AtomicUsize::new(fail_first));
        let (g, f) = (got.clone(), fail.clone());
        let app = axum::Router::new().fallback(move |headers: HeaderMap, body: axum::body::Bytes| {
            let (g, f) = (g.clone(), f.clone());
            async move {
                g.lock().push(Received { headers, body: serde_json::from_slice(&body).unwrap_or(Value::Null) });
                if f.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok() {
                    StatusCode::INTERNAL_SERVER_ERROR
                } else {
                    StatusCode::OK
                }
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Receiver { url, got, fail_first: fail }
    }

    pub fn received(&self) -> Vec<Received> {
        self.got.lock().clone()
    }

    pub async fn wait_for(&self, n: usize) -> Vec<Received> {
        let me = self.clone();
        eventually(&format!("{n} webhook deliveries"), move || {
            let me = me.clone();
            async move { me.got.lock().len() >= n }
        })
        .await;
        self.received()
    }
}
