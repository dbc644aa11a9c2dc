//! The web console's HTTP side: sign-in into an `HttpOnly`, `SameSite=Strict`
//! session cookie, the API reached with that cookie, CSRF on every change,
//! the content security policy, sign-out. (The pages in a real browser are
//! issue 19's Chromium tests.)

mod common;

use common::{Server, TOKEN};
use reqwest::header::{CONTENT_TYPE, COOKIE, LOCATION, ORIGIN, SET_COOKIE};
use serde_json::{json, Value};

fn browser() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

async fn sign_in(s: &Server, http: &reqwest::Client, token: &str, origin: Option<&str>) -> reqwest::Response {
    let mut req = http
        .post(format!("{}/sign-in", s.url))
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(format!("token={}", form_urlencoded::byte_serialize(token.as_bytes()).collect::<String>()));
    if let Some(o) = origin {
        req = req.header(ORIGIN, o);
    }
    req.send().await.unwrap()
}

fn csrf_of(page: &str) -> String {
    let at = page.find("name=\"wactor-csrf\" content=\"").expect("the page carries its CSRF value") + 28;
    page[at..at + 64].to_owned()
}

#[tokio::test]
async fn a_browser_signs_in_uses_the_api_with_its_cookie_and_signs_out() {
    let (s, _dir) = Server::start();
    let http = browser();

    // Not signed in: the console sends the browser to sign in; the page has its policy.
    let resp = http.get(format!("{}/", s.url)).send().await.unwrap();
    assert_eq!(resp.status(), 303);
    assert_eq!(resp.headers()[LOCATION], "/sign-in");
    let resp = http.get(format!("{}/sign-in", s.url)).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let csp = resp.headers()["content-security-policy"].to_str().unwrap().to_owned();
    assert!(csp.contains("default-src 'none'") && csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"), "{csp}");
    assert_eq!(resp.headers()["x-frame-options"], "DENY");
    assert!(resp.text().await.unwrap().contains("name=\"token\""));

    // A wrong token, a run's token, a post from another site: no session.
    let resp = sign_in(&s, &http, "not-a-token", None).await;
    assert_eq!(resp.status(), 401);
    assert!(resp.headers().get(SET_COOKIE).is_none());
    assert!(resp.text().await.unwrap().contains("That token is not valid."));
    let resp = sign_in(&s, &http, TOKEN, Some("http://evil.example")).await;
    assert_eq!(resp.status(), 403);
    assert!(resp.headers().get(SET_COOKIE).is_none());

    // The right token: a session cookie the page's script cannot read, sent only to this site.
    let resp = sign_in(&s, &http, TOKEN, Some(&s.url)).await;
    assert_eq!(resp.status(), 303);
    let set = resp.headers()[SET_COOKIE].to_str().unwrap().to_owned();
    assert!(set.starts_with("wactor_session=") && set.contains("HttpOnly") && set.contains("SameSite=Strict") && set.contains("Path=/"), "{set}");
    assert!(!set.contains(TOKEN), "the token itself never goes to the browser");
    let cookie = set.split(';').next().unwrap().to_owned();
    let page = http.get(format!("{}/", s.url)).header(COOKIE, &cookie).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let page = page.text().await.unwrap();
    assert!(page.contains("/assets/app.js") && !page.contains("<script>"), "the script is an asset, never inline");
    let csrf = csrf_of(&page);
    let js = http.get(format!("{}/assets/app.js", s.url)).send().await.unwrap();
    assert_eq!(js.status(), 200);
    assert!(js.headers()[CONTENT_TYPE].to_str().unwrap().starts_with("text/javascript"));

    // The API with the cookie: reads as the user; a change needs the page's CSRF value.
    let acts: Value = http.get(s.api("/acts")).header(COOKIE, &cookie).send().await.unwrap().json().await.unwrap();
    assert!(acts["data"]["items"].as_array().unwrap().iter().any(|a| a["name"] == "hello"), "{acts}");
    let start = |csrf: Option<String>| {
        let mut req = http.post(s.api("/acts/hello/runs?waitForFinish=30")).header(COOKIE, &cookie).json(&json!({ "name": "Console" }));
        if let Some(c) = csrf {
            req = req.header("X-Wactor-Csrf", c);
        }
        req.send()
    };
    common::assert_error(start(None).await.unwrap(), 403, "csrf-token-not-valid").await;
    common::assert_error(start(Some("0".repeat(64))).await.unwrap(), 403, "csrf-token-not-valid").await;
    assert_eq!(s.get_json("/actor-runs").await["data"]["total"], 0, "a refused change made no run");
    let resp = start(Some(csrf.clone())).await.unwrap();
    assert_eq!(resp.status(), 201);
    let run: Value = resp.json().await.unwrap();
    assert_eq!(run["data"]["status"], "SUCCEEDED");

    // Sign-out needs the CSRF value too, then the cookie opens nothing.
    let out = |csrf: &str| {
        http.post(format!("{}/sign-out", s.url))
            .header(COOKIE, &cookie)
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(format!("csrf={csrf}"))
            .send()
    };
    assert_eq!(out("wrong").await.unwrap().status(), 403);
    let resp = out(&csrf).await.unwrap();
    assert_eq!(resp.status(), 303);
    assert!(resp.headers()[SET_COOKIE].to_str().unwrap().contains("Max-Age=0"));
    common::assert_error(http.get(s.api("/acts")).header(COOKIE, &cookie).send().await.unwrap(), 401, "token-not-provided").await;
    assert_eq!(http.get(format!("{}/", s.url)).header(COOKIE, &cookie).send().await.unwrap().status(), 303);
}
