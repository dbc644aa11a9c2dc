//! Standby Actors: a handler is a plain function from [`Request`] to
//! [`Response`] (or `Result<Response, Error>`), with the run's storages at
//! hand through the rest of the SDK.
//!
//! ```ignore
//! use wactor_sdk::http::{Request, Response};
//!
//! fn handle(req: Request) -> wactor_sdk::Result<Response> {
//!     let hits: u64 = wactor_sdk::get_value("HITS")?.unwrap_or(0) + 1;
//!     wactor_sdk::set_value("HITS", &hits)?;
//!     Ok(Response::json(200, &serde_json::json!({ "path": req.path(), "hits": hits })))
//! }
//!
//! wactor_sdk::standby!(handle);
//! ```
//!
//! Each request gets a fresh instance, so nothing in memory survives from
//! one request to the next: keep state in a key-value store.

use std::io::{Read, Write};

use serde::de::DeserializeOwned;
use serde::Serialize;
use wasip2::http::types::{Fields, IncomingBody, IncomingRequest, Method, OutgoingBody, OutgoingResponse, ResponseOutparam};

use crate::Error;

/// The largest request body a handler reads; the platform's router caps it too.
pub const MAX_REQUEST_BODY_BYTES: usize = 16 * 1024 * 1024;

/// An HTTP request, read in full.
#[derive(Debug, Clone)]
pub struct Request {
    method: String,
    path: String,
    query: Option<String>,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Request {
    /// `GET`, `POST`, ... in upper case.
    pub fn method(&self) -> &str {
        &self.method
    }

    /// The path, without the query (`/` at least).
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The raw query string, without `?`.
    pub fn query(&self) -> Option<&str> {
        self.query.as_deref()
    }

    /// The first value of a query parameter, percent-decoded.
    pub fn query_param(&self, name: &str) -> Option<String> {
        self.query_pairs().into_iter().find(|(k, _)| k == name).map(|(_, v)| v)
    }

    /// Every query parameter, percent-decoded, in order.
    pub fn query_pairs(&self) -> Vec<(String, String)> {
        let Some(q) = &self.query else { return Vec::new() };
        q.split('&')
            .filter(|p| !p.is_empty())
            .map(|p| {
                let (k, v) = p.split_once('=').unwrap_or((p, ""));
                (percent_decode(k), percent_decode(v))
            })
            .collect()
    }

    /// The first value of a header (names are case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    pub fn headers(&self) -> &[(String, String)] {
        &self.headers
    }

    pub fn body(&self) -> &[u8] {
        &self.body
    }

    /// The body as UTF-8 text (invalid bytes replaced).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body parsed as JSON.
    pub fn json<T: DeserializeOwned>(&self) -> crate::Result<T> {
        serde_json::from_slice(&self.body).map_err(|e| Error::InvalidInput(format!("The request body is not the JSON expected: {e}")))
    }
}

/// An HTTP response.
#[derive(Debug, Clone)]
pub struct Response {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Response {
    /// An empty response with this status.
    pub fn new(status: u16) -> Response {
        Response { status, headers: Vec::new(), body: Vec::new() }
    }

    /// `text/plain` UTF-8.
    pub fn text(status: u16, text: impl Into<String>) -> Response {
        Response::new(status).with_header("content-type", "text/plain; charset=utf-8").with_body(text.into().into_bytes())
    }

    /// `application/json`; a value that cannot be serialised becomes a 500.
    pub fn json<T: Serialize + ?Sized>(status: u16, value: &T) -> Response {
        match serde_json::to_vec(value) {
            Ok(body) => Response::new(status).with_header("content-type", "application/json; charset=utf-8").with_body(body),
            Err(e) => Error::Internal(format!("serialising the response: {e}")).into(),
        }
    }

    pub fn with_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Response {
        self.headers.push((name.into(), value.into()));
        self
    }

    pub fn with_body(mut self, body: impl Into<Vec<u8>>) -> Response {
        self.body = body.into();
        self
    }

    pub fn status(&self) -> u16 {
        self.status
    }

    pub fn body(&self) -> &[u8] {
        &self.body
    }
}

/// SDK errors answer in the platform's error shape, `{"error": {"type", "message"}}`.
impl From<Error> for Response {
    fn from(e: Error) -> Response {
        let (status, kind) = match &e {
            Error::NotFound(_) => (404, "record-not-found"),
            Error::InvalidInput(_) | Error::Serde(_) => (400, "invalid-input"),
            Error::LimitExceeded(_) => (413, "limit-exceeded"),
            Error::Forbidden(_) => (403, "insufficient-permissions"),
            Error::Internal(_) | Error::Message(_) => (500, "internal-error"),
        };
        Response::json(status, &serde_json::json!({ "error": { "type": kind, "message": e.to_string() } }))
    }
}

/// What a handler may return.
pub trait IntoResponse {
    fn into_response(self) -> Response;
}

impl IntoResponse for Response {
    fn into_response(self) -> Response {
        self
    }
}

impl<E: Into<Response>> IntoResponse for Result<Response, E> {
    fn into_response(self) -> Response {
        self.unwrap_or_else(Into::into)
    }
}

#[doc(hidden)]
pub fn __serve<R: IntoResponse>(request: IncomingRequest, out: ResponseOutparam, handler: fn(Request) -> R) {
    let response = match read_request(request) {
        Ok(request) => handler(request).into_response(),
        Err(response) => response,
    };
    send(out, response);
}

fn read_request(request: IncomingRequest) -> Result<Request, Response> {
    let method = match request.method() {
        Method::Get => "GET".to_owned(),
        Method::Head => "HEAD".to_owned(),
        Method::Post => "POST".to_owned(),
        Method::Put => "PUT".to_owned(),
        Method::Delete => "DELETE".to_owned(),
        Method::Connect => "CONNECT".to_owned(),
        Method::Options => "OPTIONS".to_owned(),
        Method::Trace => "TRACE".to_owned(),
        Method::Patch => "PATCH".to_owned(),
        Method::Other(m) => m,
    };
    let path_with_query = request.path_with_query().unwrap_or_else(|| "/".to_owned());
    let (path, query) = match path_with_query.split_once('?') {
        Some((p, q)) => (p.to_owned(), Some(q.to_owned())),
        None => (path_with_query, None),
    };
    let headers = request.headers().entries().into_iter().map(|(k, v)| (k, String::from_utf8_lossy(&v).into_owned())).collect();
    let body = read_body(&request)?;
    Ok(Request { method, path: if path.is_empty() { "/".to_owned() } else { path }, query, headers, body })
}

fn read_body(request: &IncomingRequest) -> Result<Vec<u8>, Response> {
    let unreadable = |what: &str| Response::from(Error::Internal(format!("cannot read the request body: {what}")));
    let body = request.consume().map_err(|()| unreadable("already consumed"))?;
    let mut bytes = Vec::new();
    {
        let mut stream = body.stream().map_err(|()| unreadable("no stream"))?;
        // One byte over the cap tells "too large" from "exactly at the cap".
        let mut limited = (&mut stream).take(MAX_REQUEST_BODY_BYTES as u64 + 1);
        limited.read_to_end(&mut bytes).map_err(|e| unreadable(&e.to_string()))?;
    }
    IncomingBody::finish(body);
    if bytes.len() > MAX_REQUEST_BODY_BYTES {
        return Err(Error::LimitExceeded(format!("The request body is over {MAX_REQUEST_BODY_BYTES} bytes")).into());
    }
    Ok(bytes)
}

fn send(out: ResponseOutparam, response: Response) {
    let entries: Vec<(String, Vec<u8>)> = response.headers.into_iter().map(|(k, v)| (k, v.into_bytes())).collect();
    let headers = match Fields::from_list(&entries) {
        Ok(h) => h,
        Err(e) => {
            let r = Response::from(Error::Internal(format!("the handler set an invalid header: {e:?}")));
            return send(out, r);
        }
    };
    let outgoing = OutgoingResponse::new(headers);
    if outgoing.set_status_code(response.status).is_err() {
        return send(out, Error::Internal(format!("the handler set an invalid status {}", response.status)).into());
    }
    let Ok(body) = outgoing.body() else { return };
    ResponseOutparam::set(out, Ok(outgoing));
    if let Ok(mut stream) = body.write() {
        // A client that went away is not the handler's failure.
        let _ = stream.write_all(&response.body).and_then(|()| Write::flush(&mut stream));
    }
    let _ = OutgoingBody::finish(body, None);
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => match u8::from_str_radix(std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("zz"), 16) {
                Ok(b) => {
                    out.push(b);
                    i += 2;
                }
                Err(_) => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Declares the Standby handler: `fn(Request) -> Response` or
/// `fn(Request) -> Result<Response, E>` with `E: Into<Response>` (the SDK's
/// [`Error`](crate::Error) is). The component then exports
/// `wasi:http/incoming-handler` (the `wactor:standby/standby-actor` world).
#[macro_export]
macro_rules! standby {
    ($handler:path) => {
        struct __WactorStandby;
        impl $crate::__wasip2::exports::http::incoming_handler::Guest for __WactorStandby {
            fn handle(
                request: $crate::__wasip2::http::types::IncomingRequest,
                response_out: $crate::__wasip2::http::types::ResponseOutparam,
            ) {
                $crate::http::__serve(request, response_out, $handler)
            }
        }
        $crate::__wasip2::http::proxy::export!(__WactorStandby with_types_in $crate::__wasip2);
    };
}
