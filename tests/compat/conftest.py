"""Starts a real `wactor serve` (the binary built by cargo) with the example Actors preloaded."""
import os
import pathlib
import subprocess
import sys
import tempfile

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests"))
from wactor_serve import listening_url as _listening_url  # noqa: E402
TOKEN = "compat-token"

# The Rust examples only: the JavaScript and Python ones are tested by tests/js.rs and
# tests/python.rs, and building them here would only make the server slower to start.
RUST_EXAMPLES = [arg for manifest in sorted(REPO.glob("examples/*/Cargo.toml"))
                 for arg in ("--preload", str(manifest.parent.relative_to(REPO)))]


@pytest.fixture(scope="session")
def server():
    target = pathlib.Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target"))
    binary = os.environ.get("WACTOR_BIN", str(target / "debug" / "wactor"))
    with tempfile.TemporaryDirectory() as data_dir:
        proc = subprocess.Popen(
            [binary, "serve", "--listen", "127.0.0.1:0", "--token", TOKEN, "--data-dir", data_dir,
             *RUST_EXAMPLES, "--preload", "tests/guests/probe",
             # Webhook receivers in these tests listen on 127.0.0.1.
             "--allow-private-webhook-urls", "--webhook-retry-base-millis", "200"],
            cwd=REPO, stdout=subprocess.PIPE, text=True, env={**os.environ, "RUST_LOG": "wactor=warn"},
        )
        url = _listening_url(proc, timeout=300)
        assert url, "wactor did not start within 300 s"
        yield url
        proc.terminate()
        proc.wait(timeout=30)


@pytest.fixture()
def client(server):
    from apify_client import ApifyClient
    return ApifyClient(token=TOKEN, api_url=server)
