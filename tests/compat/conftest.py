"""Starts a real `wactor serve` (the binary built by cargo) with the example Actors preloaded."""
import os
import pathlib
import subprocess
import tempfile

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
TOKEN = "compat-token"


@pytest.fixture(scope="session")
def server():
    target = pathlib.Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target"))
    binary = os.environ.get("WACTOR_BIN", str(target / "debug" / "wactor"))
    with tempfile.TemporaryDirectory() as data_dir:
        proc = subprocess.Popen(
            [binary, "serve", "--listen", "127.0.0.1:0", "--token", TOKEN, "--data-dir", data_dir,
             "--preload", "examples", "--preload", "tests/guests/probe"],
            cwd=REPO, stdout=subprocess.PIPE, text=True, env={**os.environ, "RUST_LOG": "wactor=warn"},
        )
        url = None
        for line in proc.stdout:
            if line.startswith("wactor listening on "):
                url = line.split()[-1]
                break
        assert url, "wactor did not start"
        yield url
        proc.terminate()
        proc.wait(timeout=30)


@pytest.fixture()
def client(server):
    from apify_client import ApifyClient
    return ApifyClient(token=TOKEN, api_url=server)
