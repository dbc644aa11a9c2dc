//! Outbound HTTP (`wasi:http/outgoing-handler`): what a scraper fetches.
//!
//! ```ignore
//! let page = wactor_sdk::fetch::get("https://example.com/")?;
//! println!("{} {} bytes", page.status, page.body.len());
//! ```
//!
//! The platform decides where requests may go: public addresses only by
//! default, and only the Actor's `allowedHosts` when actor.json names them.
//! A refused request is an [`Error::Forbidden`] that says which rule refused it.

use std::io::{Read, Write};

use wasip2::http::outgoing_handler;
use wasip2::http::types::{ErrorCode, Fields, IncomingBody, Method, OutgoingBody, OutgoingRequest, Scheme};

use crate::{Error, Result};

/// A response, read in full.
#[derive(Debug, Clone)]
pub struct FetchResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl FetchResponse {
    /// The first value of a header (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// The body as text (invalid UTF-8 replaced).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// `GET url`.
pub fn get(url: &str) -> Result<FetchResponse> {
    fetch("GET", url, &[], &[])
}

/// Sends a request and reads the whole response.
pub fn fetch(method: &str, url: &str, headers: &[(&str, &str)], body: &[u8]) -> Result<FetchResponse> {
    let (scheme, authority, path) = split_url(url)?;
    let entries: Vec<(String, Vec<u8>)> = headers.iter().map(|(k, v)| (k.to_string(), v.as_bytes().to_vec())).collect();
    let fields = Fields::from_list(&entries).map_err(|e| Error::InvalidInput(format!("invalid request header: {e:?}")))?;
    let request = OutgoingRequest::new(fields);
    let method = match method.to_ascii_uppercase().as_str() {
        "GET" => Method::Get,
        "HEAD" => Method::Head,
        "POST" => Method::Post,
        "PUT" => Method::Put,
        "DELETE" => Method::Delete,
        "PATCH" => Method::Patch,
        "OPTIONS" => Method::Options,
        other => Method::Other(other.to_owned()),
    };
    let invalid = |what: &str| Error::InvalidInput(format!("invalid {what} in {url}"));
    request.set_method(&method).map_err(|()| invalid("method"))?;
    request.set_scheme(Some(&scheme)).map_err(|()| invalid("scheme"))?;
    request.set_authority(Some(&authority)).map_err(|()| invalid("host"))?;
    request.set_path_with_query(Some(&path)).map_err(|()| invalid("path"))?;
    let outgoing = request.body().map_err(|()| Error::Internal("the request body is not writable".into()))?;
    let pending = outgoing_handler::handle(request, None).map_err(|e| failed(url, e))?;
    if !body.is_empty() {
        let mut stream = outgoing.write().map_err(|()| Error::Internal("the request body is not writable".into()))?;
        stream
            .write_all(body)
            .and_then(|()| Write::flush(&mut stream))
            .map_err(|e| Error::Internal(format!("sending the request body: {e}")))?;
    }
    OutgoingBody::finish(outgoing, None).map_err(|e| failed(url, e))?;
    pending.subscribe().block();
    let response = match pending.get() {
        Some(Ok(Ok(response))) => response,
        Some(Ok(Err(e))) => return Err(failed(url, e)),
        _ => return Err(Error::Internal(format!("no response from {url}"))),
    };
    let status = response.status();
    let headers = response.headers().entries().into_iter().map(|(k, v)| (k, String::from_utf8_lossy(&v).into_owned())).collect();
    let incoming = response.consume().map_err(|()| Error::Internal("the response body is not readable".into()))?;
    let mut bytes = Vec::new();
    {
        let mut stream = incoming.stream().map_err(|()| Error::Internal("the response body is not readable".into()))?;
        stream.read_to_end(&mut bytes).map_err(|e| Error::Internal(format!("reading the response of {url}: {e}")))?;
    }
    IncomingBody::finish(incoming);
    Ok(FetchResponse { status, headers, body: bytes })
}

fn split_url(url: &str) -> Result<(Scheme, String, String)> {
    let (scheme, rest) = url.split_once("://").ok_or_else(|| Error::InvalidInput(format!("not an absolute URL: {url}")))?;
    let scheme = match scheme.to_ascii_lowercase().as_str() {
        "http" => Scheme::Http,
        "https" => Scheme::Https,
        other => return Err(Error::InvalidInput(format!("unsupported scheme {other} in {url}"))),
    };
    let split = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = rest[..split].to_owned();
    let mut path = rest[split..].split('#').next().unwrap_or("").to_owned();
    if !path.starts_with('/') {
        path.insert(0, '/');
    }
    if authority.is_empty() {
        return Err(Error::InvalidInput(format!("no host in {url}")));
    }
    Ok((scheme, authority, path))
}

/// What a failed request means, in words; refusals name the rule.
fn failed(url: &str, code: ErrorCode) -> Error {
    match code {
        ErrorCode::DestinationIpProhibited => Error::Forbidden(format!(
            "outbound request to {url} denied: the destination is a loopback, private or link-local address \
             (the server's outbound policy; the run log says which address)"
        )),
        ErrorCode::HttpRequestDenied => {
            Error::Forbidden(format!("outbound request to {url} denied: the host is not in the Actor's allowedHosts (actor.json)"))
        }
        ErrorCode::HttpResponseBodySize(max) => {
            Error::LimitExceeded(format!("the response of {url} is larger than the platform's cap of {} bytes", max.unwrap_or(0)))
        }
        ErrorCode::HttpRequestBodySize(max) => {
            Error::LimitExceeded(format!("the request body is larger than the platform's cap of {} bytes", max.unwrap_or(0)))
        }
        ErrorCode::ConnectionLimitReached => Error::LimitExceeded("too many outbound requests in flight for this run".into()),
        other => Error::Internal(format!("outbound request to {url} failed: {other:?}")),
    }
}
