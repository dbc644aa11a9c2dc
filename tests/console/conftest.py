"""A real `wactor serve` with the Rust examples, and a real headless Chromium
(Debian's chromium and chromium-driver) driven over WebDriver."""
import json
import os
import pathlib
import subprocess
import sys
import tempfile
import urllib.request

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service

REPO = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests"))
from wactor_serve import listening_url as _listening_url  # noqa: E402
TARGET = pathlib.Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target"))
TOKEN = "console-token"
SCREENSHOTS = TARGET / "console-screenshots"


@pytest.fixture(scope="session")
def server():
    binary = os.environ.get("WACTOR_BIN", str(TARGET / "debug" / "wactor"))
    preload = [a for m in sorted(REPO.glob("examples/*/Cargo.toml")) for a in ("--preload", str(m.parent.relative_to(REPO)))]
    with tempfile.TemporaryDirectory() as data_dir:
        proc = subprocess.Popen([binary, "serve", "--listen", "127.0.0.1:0", "--token", TOKEN, "--data-dir", data_dir, *preload],
                                cwd=REPO, stdout=subprocess.PIPE, text=True, env={**os.environ, "RUST_LOG": "wactor=warn"})
        url = _listening_url(proc, timeout=300)
        assert url, "wactor did not start within 300 s"
        yield url
        proc.terminate()
        proc.wait(timeout=30)


def api(server, method, path, body=None):
    """A call of the API with the token, as any client makes it (not through the browser)."""
    req = urllib.request.Request(f"{server}/v2{path}", method=method, data=None if body is None else json.dumps(body).encode(),
                                 headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"})
    with urllib.request.urlopen(req) as resp:
        return json.loads(resp.read())["data"]


@pytest.fixture()
def browser(request):
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    profile = tempfile.mkdtemp(prefix="wactor-chromium-")
    # Without the background-networking flags Chromium keeps dialling Google's hosts, which this
    # machine refuses; all the tests' traffic is to 127.0.0.1.
    for arg in ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--disable-dev-shm-usage", "--window-size=1280,900", f"--user-data-dir={profile}"]:
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    driver.implicitly_wait(0)
    yield driver
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(SCREENSHOTS / f"{request.node.name}.png"))
    # No JavaScript error in the browser's console during the test.
    # (The refused sign-in's 401 is a network entry the test asked for.)
    errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"
              and not (e["source"] == "network" and "/sign-in" in e["message"] and " 401 " in e["message"])]
    driver.quit()
    assert not errors, f"errors in the browser console: {errors}"
