//! A run's `containerUrl` (`<key>.<standby domain>`): requests go as they
//! came to the web server the run's Actor listens on. The hard-to-guess key
//! is the authorisation, as on Apify; the API token is neither needed nor
//! passed on.

use axum::extract::Request;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use super::error::ApiError;
use crate::platform::executors::ServeError;
use crate::platform::web_servers::WebServerError;
use crate::platform::Platform;

pub async fn handle(platform: &Platform, key: &str, req: Request) -> Response {
    let server = match platform.web_server(key) {
        Ok(s) => s,
        Err(WebServerError::NoRun) => {
            return ApiError::not_found("No running Actor serves this URL: its run has finished, or it has no web server").into_response()
        }
        Err(WebServerError::NotReady { run_id }) => {
            let message = format!("The web server of run {run_id} is not listening yet (the Actor serves it on ACTOR_WEB_SERVER_PORT)");
            return retry_later("container-server-not-ready", message);
        }
    };
    let req = match super::standby::limit_body(platform, req) {
        Ok(req) => req,
        Err(e) => return e.into_response(),
    };
    match server.handle(req).await {
        Ok(resp) => resp,
        Err(ServeError::Unavailable(m)) => retry_later("container-server-unavailable", m),
        Err(ServeError::TimedOut(d)) => ApiError::new(
            StatusCode::GATEWAY_TIMEOUT,
            "container-server-timeout",
            format!("The Actor's web server did not answer within {} s", d.as_secs()),
        )
        .into_response(),
        Err(ServeError::Crashed(m)) => ApiError::new(StatusCode::BAD_GATEWAY, "container-server-failed", m).into_response(),
    }
}

fn retry_later(kind: &str, message: String) -> Response {
    let mut resp = ApiError::new(StatusCode::SERVICE_UNAVAILABLE, kind, message).into_response();
    resp.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(1));
    resp
}
