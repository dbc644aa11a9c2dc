"""Starts a real `wactor serve` (the binary built by cargo) with the example Actors preloaded."""
import os
import pathlib
import queue
import subprocess
import threading
import tempfile

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
TOKEN = "compat-token"


def _listening_url(proc, timeout):
    """The URL the server prints, read with a deadline (a hung start fails instead of hanging)."""
    found = queue.Queue()

    def read():
        for line in proc.stdout:
            if line.startswith("wactor listening on "):
                found.put(line.split()[-1])
                break
        for _ in proc.stdout:  # keep draining so the server never blocks on a full pipe
            pass

    threading.Thread(target=read, daemon=True).start()
    try:
        return found.get(timeout=timeout)
    except queue.Empty:
        proc.kill()
        return None


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
