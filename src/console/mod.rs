//! The web console, served by `wactor serve` at `/` beside the API at `/v2`.
//!
//! It is a client of the API like any other: its page calls `/v2` from the
//! browser, authenticated by a session cookie instead of a bearer token
//! (`api::auth`), so nothing here reaches the core another way. What this
//! module owns is the browser's side of security: the sign-in that turns an
//! API token into an `HttpOnly`, `SameSite=Strict` session cookie, the
//! CSRF value the page sends with every change, and a content security
//! policy that lets the page load only its own assets (built into the
//! binary; nothing is fetched from another origin).

use std::sync::Arc;

use axum::extract::{Form, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::{from_fn, Next};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;
use serde::Deserialize;

use crate::api::auth::{session_of, SESSION_COOKIE};
use crate::platform::access::Caller;
use crate::platform::sessions::SESSION_LIFETIME;
use crate::platform::Platform;

const APP_JS: &str = include_str!("assets/app.js");
const STYLE_CSS: &str = include_str!("assets/style.css");
const FAVICON_SVG: &str = include_str!("assets/favicon.svg");

/// The console's routes, with its security headers on every answer.
pub fn routes() -> Router<Arc<Platform>> {
    Router::new()
        .route("/", get(shell))
        .route("/sign-in", get(sign_in_page).post(sign_in))
        .route("/sign-out", axum::routing::post(sign_out))
        .route("/assets/app.js", get(|| async { asset("text/javascript; charset=utf-8", APP_JS) }))
        .route("/assets/style.css", get(|| async { asset("text/css; charset=utf-8", STYLE_CSS) }))
        .route("/assets/favicon.svg", get(|| async { asset("image/svg+xml", FAVICON_SVG) }))
        .layer(from_fn(security_headers))
}

/// Only the console's own origin, for scripts, styles, images and API calls;
/// no inline script, no framing, forms post only back here.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; \
     connect-src 'self'; font-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

async fn security_headers(req: axum::extract::Request, next: Next) -> Response {
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CONTENT_SECURITY_POLICY));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    // Not `no-referrer`: under it a browser sends `Origin: null` with the console's own form posts.
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    resp
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    ([(header::CONTENT_TYPE, content_type), (header::CACHE_CONTROL, "no-cache")], body).into_response()
}

fn html(status: StatusCode, body: String) -> Response {
    (status, [(header::CONTENT_TYPE, "text/html; charset=utf-8"), (header::CACHE_CONTROL, "no-store")], body).into_response()
}

/// Escapes text for HTML element content and quoted attribute values.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn page(title: &str, head_extra: &str, body: &str) -> String {
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{} · wactor</title><link rel=\"stylesheet\" href=\"/assets/style.css\"><link rel=\"icon\" href=\"/assets/favicon.svg\" type=\"image/svg+xml\">{head_extra}</head>\
         <body>{body}</body></html>\n",
        escape(title)
    )
}

/// The console's page for a signed-in browser (the script draws the views);
/// anyone else is sent to sign in.
async fn shell(State(p): State<Arc<Platform>>, headers: HeaderMap) -> Response {
    let Some((_, session)) = session_of(&p, &headers) else { return Redirect::to("/sign-in").into_response() };
    let Some(Caller::User(principal)) = p.authenticate(&session.token) else { return Redirect::to("/sign-in").into_response() };
    let head = format!(
        "<meta name=\"wactor-csrf\" content=\"{}\"><meta name=\"wactor-user\" content=\"{}\"><script src=\"/assets/app.js\" defer></script>",
        escape(&session.csrf),
        escape(&principal.user.username)
    );
    let body = format!(
        "<header class=\"top\"><a class=\"brand\" href=\"#/actors\">wactor</a>\
         <nav><a href=\"#/actors\">Actors</a><a href=\"#/runs\">Runs</a></nav>\
         <form method=\"post\" action=\"/sign-out\" class=\"who\"><span>{}</span>\
         <input type=\"hidden\" name=\"csrf\" value=\"{}\"><button type=\"submit\">Sign out</button></form></header>\
         <main id=\"view\" tabindex=\"-1\"><p class=\"muted\">Loading…</p></main>",
        escape(&principal.user.username),
        escape(&session.csrf)
    );
    html(StatusCode::OK, page("Console", &head, &body))
}

fn sign_in_form(message: Option<&str>) -> String {
    let error = message.map(|m| format!("<p class=\"error\" role=\"alert\">{}</p>", escape(m))).unwrap_or_default();
    page(
        "Sign in",
        "",
        &format!(
            "<main class=\"sign-in\"><h1>wactor</h1><form method=\"post\" action=\"/sign-in\">\
             <label for=\"token\">API token</label>\
             <input id=\"token\" name=\"token\" type=\"password\" autocomplete=\"current-password\" required autofocus>\
             {error}<button type=\"submit\">Sign in</button>\
             <p class=\"muted\">The token <code>wactor serve</code> printed at its first start, or one from \
             <code>wactor tokens create</code>.</p></form></main>"
        ),
    )
}

async fn sign_in_page() -> Response {
    html(StatusCode::OK, sign_in_form(None))
}

#[derive(Deserialize)]
struct SignIn {
    token: String,
}

/// A form post from another site must not sign the browser in with someone else's token.
fn same_origin(headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else { return true };
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok()).unwrap_or_default();
    origin.split_once("://").is_some_and(|(_, rest)| rest == host)
}

async fn sign_in(State(p): State<Arc<Platform>>, headers: HeaderMap, Form(form): Form<SignIn>) -> Response {
    if !same_origin(&headers) {
        return html(StatusCode::FORBIDDEN, sign_in_form(Some("This sign-in did not come from the console's own page.")));
    }
    let token = form.token.trim();
    // A user's token (or the admin's); a run's token is for its run, not for a browser.
    if !matches!(p.authenticate(token), Some(Caller::User(_))) {
        return html(StatusCode::UNAUTHORIZED, sign_in_form(Some("That token is not valid.")));
    }
    let (id, _) = p.sessions.create(token);
    let secure = if p.config.public_url.starts_with("https://") { "; Secure" } else { "" };
    let cookie = format!("{SESSION_COOKIE}={id}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{secure}", SESSION_LIFETIME.as_secs());
    let mut resp = Redirect::to("/").into_response();
    resp.headers_mut().insert(header::SET_COOKIE, HeaderValue::from_str(&cookie).expect("a cookie of hex and ASCII"));
    resp
}

#[derive(Deserialize)]
struct SignOut {
    csrf: String,
}

async fn sign_out(State(p): State<Arc<Platform>>, headers: HeaderMap, Form(form): Form<SignOut>) -> Response {
    if let Some((id, session)) = session_of(&p, &headers) {
        if session.csrf != form.csrf {
            return crate::api::auth::csrf_refused().into_response();
        }
        p.sessions.remove(&id);
    }
    let mut resp = Redirect::to("/sign-in").into_response();
    let cookie = format!("{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0");
    resp.headers_mut().insert(header::SET_COOKIE, HeaderValue::from_str(&cookie).expect("ASCII"));
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped_for_html() {
        assert_eq!(escape(r#"<a href="x">&'</a>"#), "&lt;a href=&quot;x&quot;&gt;&amp;&#39;&lt;/a&gt;");
    }

    #[test]
    fn only_a_post_from_the_same_origin_signs_in() {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, HeaderValue::from_static("127.0.0.1:8080"));
        assert!(same_origin(&h), "no Origin: a non-browser client");
        h.insert(header::ORIGIN, HeaderValue::from_static("http://127.0.0.1:8080"));
        assert!(same_origin(&h));
        h.insert(header::ORIGIN, HeaderValue::from_static("http://evil.example"));
        assert!(!same_origin(&h));
    }
}
