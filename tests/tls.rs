//! HTTPS (`--tls-cert`, `--tls-key`): the API, Standby URLs and the CLI over
//! TLS with a self-signed certificate; plain HTTP and clients that do not
//! trust the certificate get nothing.

mod common;

use common::{Server, TOKEN};
use serde_json::{json, Value};

#[tokio::test]
async fn the_api_standby_urls_and_the_cli_answer_over_https_only() {
    let (dir, certs) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (cert, key, root) = common::self_signed_cert(certs.path());
    let mut s = Server::start_with(
        dir.path(),
        true,
        &["--tls-cert", cert.to_str().unwrap(), "--tls-key", key.to_str().unwrap(), "--standby-domain", "wactor.localhost"],
    );
    assert!(s.url.starts_with("https://127.0.0.1:"), "{}", s.url);
    s.http = reqwest::Client::builder().add_root_certificate(root.clone()).build().unwrap();

    let run = s.run("hello", "", &json!({"name": "TLS", "count": 2})).await;
    assert_eq!(run["status"], "SUCCEEDED", "{run}");
    let ds = s.get_json(&format!("/datasets/{}", run["defaultDatasetId"].as_str().unwrap())).await;
    assert!(ds["data"]["itemsPublicUrl"].as_str().unwrap().starts_with("https://127.0.0.1:"), "links are https: {ds}");

    // A Standby URL on its own host name, over TLS (SNI and the wildcard name).
    let port = s.url.rsplit(':').next().unwrap().to_owned();
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let host = "me--standby-hello.wactor.localhost";
    let standby = reqwest::Client::builder().add_root_certificate(root).resolve(host, addr).build().unwrap();
    let v: Value = standby.get(format!("https://{host}:{port}/count")).bearer_auth(TOKEN).send().await.unwrap().json().await.unwrap();
    assert_eq!(v["count"], 1, "{v}");

    // Plain HTTP on the TLS port, and a client that does not trust the certificate, get no answer.
    let plain = reqwest::Client::new().get(format!("http://127.0.0.1:{port}/health")).send().await;
    assert!(plain.is_err() || !plain.unwrap().status().is_success(), "plain HTTP is not served");
    assert!(reqwest::Client::new().get(s.api("/actors")).send().await.is_err(), "an untrusted certificate is refused");

    // The CLI trusts the server's certificate through WACTOR_CA_CERT.
    let out = s.cli().env("WACTOR_CA_CERT", &cert).args(["call", "hello", "--input", r#"{"name": "Cli"}"#]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("Hello, Cli!"), "{}", String::from_utf8_lossy(&out.stdout));
    let out = s.cli().args(["call", "hello"]).output().unwrap();
    assert!(!out.status.success(), "without the certificate the CLI is refused");
}
