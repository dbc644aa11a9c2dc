"""HTTPS: `wactor serve --tls-cert/--tls-key` with a certificate from a test CA,
reached by the real Python apify-client that trusts that CA (SSL_CERT_FILE)."""
import json
import os
import pathlib
import subprocess
import sys
import tempfile

import pytest

from conftest import REPO, TOKEN, _listening_url


def _openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def _make_ca_and_leaf(d):
    """A CA, and a server certificate for 127.0.0.1 signed by it."""
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem",
             "-days", "2", "-subj", "/CN=wactor test CA", cwd=d)
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "key.pem", "-out", "leaf.csr",
             "-subj", "/CN=127.0.0.1", cwd=d)
    (d / "ext.cnf").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n"
                               "basicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n")
    _openssl("x509", "-req", "-in", "leaf.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
             "-out", "cert.pem", "-days", "2", "-extfile", "ext.cnf", cwd=d)


@pytest.fixture(scope="module")
def tls_server():
    target = pathlib.Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target"))
    binary = os.environ.get("WACTOR_BIN", str(target / "debug" / "wactor"))
    with tempfile.TemporaryDirectory() as tmp:
        tmp = pathlib.Path(tmp)
        _make_ca_and_leaf(tmp)
        proc = subprocess.Popen(
            [binary, "serve", "--listen", "127.0.0.1:0", "--token", TOKEN, "--data-dir", str(tmp / "data"),
             "--preload", "examples/hello", "--tls-cert", str(tmp / "cert.pem"), "--tls-key", str(tmp / "key.pem")],
            cwd=REPO, stdout=subprocess.PIPE, text=True, env={**os.environ, "RUST_LOG": "wactor=warn"},
        )
        url = _listening_url(proc, timeout=300)
        assert url, "wactor did not start within 300 s"
        yield url, tmp / "ca.pem"
        proc.terminate()
        proc.wait(timeout=30)


# The client's HTTP library (impit) reads its trusted roots once per process,
# so each check runs the client in a fresh interpreter with its own environment.
CLIENT = """
import json, sys
from apify_client import ApifyClient
client = ApifyClient(token=sys.argv[2], api_url=sys.argv[1], max_retries=int(sys.argv[3]))
run = client.actor("me/hello").call(run_input={"name": "TLS", "count": 2})
items = client.dataset(run.default_dataset_id).list_items().items
print(json.dumps({"status": run.status, "greetings": [i["greeting"] for i in items],
                  "fetched": client.run(run.id).get().id == run.id}))
"""


def _client(url, ca, retries):
    env = {k: v for k, v in os.environ.items() if k != "SSL_CERT_FILE"}
    if ca:
        env["SSL_CERT_FILE"] = str(ca)
    return subprocess.run([sys.executable, "-c", CLIENT, url, TOKEN, str(retries)],
                          env=env, capture_output=True, text=True, timeout=120)


def test_the_python_client_runs_an_actor_over_https(tls_server):
    url, ca = tls_server
    assert url.startswith("https://127.0.0.1:"), url
    done = _client(url, ca, 3)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"status": "SUCCEEDED", "greetings": ["Hello, TLS!", "Hello, TLS!"], "fetched": True}


def test_a_client_that_does_not_trust_the_certificate_is_refused(tls_server):
    url, _ = tls_server
    done = _client(url, None, 0)
    assert done.returncode != 0 and "certificate" in done.stderr.lower() + done.stdout.lower(), done.stderr[-2000:]
