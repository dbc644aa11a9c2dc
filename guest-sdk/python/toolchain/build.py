"""Builds a Python Actor directory into a wactor component with
componentize-py: pure-Python dependencies from requirements.txt or
pyproject.toml are installed beside it, the wactor SDK comes with the
toolchain, and a generated app module makes `main()` the component's `run`
(or `fetch(request)` its Standby HTTP handler).

    python build.py '{"actorDir": "...", "out": "...", "standby": false}'

Errors go to stderr as `error: <file>:<line>: <message>`, exit code 1.
"""

import json
import os
import re
import subprocess
import sys
import tempfile
import time
import tomllib

HERE = os.path.dirname(os.path.abspath(__file__))
SKIP_DIRS = {".venv", "venv", "node_modules", ".git", "storage", "__pycache__", ".actor", "target"}


class BuildError(Exception):
    pass


def entry_point(actor_dir):
    """`src/main.py` (imported as the package `src`, Apify's layout) or `main.py`."""
    if os.path.exists(os.path.join(actor_dir, "src", "main.py")):
        return "src.main"
    if os.path.exists(os.path.join(actor_dir, "main.py")):
        return "main"
    raise BuildError("no entry point: neither main.py nor src/main.py exists")


def check_syntax(actor_dir):
    for root, dirs, files in os.walk(actor_dir):
        dirs[:] = [d for d in dirs if d not in SKIP_DIRS]
        for f in files:
            if f.endswith(".py"):
                path = os.path.join(root, f)
                try:
                    with open(path, encoding="utf-8") as src:
                        compile(src.read(), path, "exec")
                except SyntaxError as e:
                    rel = os.path.relpath(path, actor_dir)
                    raise BuildError(f"{rel}:{e.lineno}:{e.offset or 0}: {e.msg}")


def requirements(actor_dir):
    path = os.path.join(actor_dir, "requirements.txt")
    if os.path.exists(path):
        with open(path) as f:
            return [l.strip() for l in f if l.strip() and not l.strip().startswith("#")]
    path = os.path.join(actor_dir, "pyproject.toml")
    if os.path.exists(path):
        with open(path, "rb") as f:
            try:
                project = tomllib.load(f).get("project", {})
            except tomllib.TOMLDecodeError as e:
                raise BuildError(f"pyproject.toml: {e}")
        return list(project.get("dependencies", []))
    return []


def install(reqs, site):
    """Pure-Python wheels only: a package with native code has none, and pip names it."""
    # The SDK's own names (apify is this SDK here) are not installed from PyPI.
    reqs = [r for r in reqs if r.split("[")[0].split("=")[0].split("<")[0].split(">")[0].strip().lower() not in ("apify", "wactor")]
    if not reqs:
        return
    cmd = [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--target", site,
           "--only-binary=:all:", "--platform", "any", "--implementation", "py", "--abi", "none", "--no-compile", *reqs]
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode != 0:
        missing = [l for l in out.stderr.splitlines() if "No matching distribution" in l or "Could not find a version" in l]
        if missing:
            raise BuildError("a dependency has no pure-Python wheel (it needs a native extension, which cannot run in a component): "
                             + "; ".join(missing))
        raise BuildError(f"pip install failed: {out.stderr.strip()[-1500:]}")


APP_BATCH = """\
import wit_world
from wactor._run import run_batch
import {module} as _actor_main


class WitWorld(wit_world.WitWorld):
    def run(self) -> None:
        run_batch(_actor_main.main)
"""

APP_STANDBY = """\
from wit_world import exports
from wactor._run import serve
import {module} as _actor_main


class IncomingHandler(exports.IncomingHandler):
    def handle(self, request, response_out) -> None:
        serve(_actor_main, request, response_out)
"""


def componentize_error(text, paths):
    """The Actor's own failure at import time (a missing module, an error at
    its top level): the last frame and the exception of the guest's
    traceback, with the guest's `/N/` paths turned back into files."""
    lines = [l for l in text.splitlines() if l.strip() and not re.match(r"^\s*(\d+: |at )", l)]
    frame = next((l.strip() for l in reversed(lines) if l.strip().startswith('File "/')), None)
    exc = next((l.strip() for l in reversed(lines) if re.match(r"^\s*[A-Za-z_.]*(Error|Exception)\b.*:", l) and "AssertionError" not in l), None)
    if frame and exc:
        m = re.match(r'File "/(\d+)/([^"]+)", line (\d+)', frame)
        if m and int(m.group(1)) < len(paths):
            where = os.path.relpath(os.path.join(paths[int(m.group(1))], m.group(2)), paths[1])
            return f"{where}:{m.group(3)}: {exc}"
        return f"{frame}: {exc}"
    return "componentize-py: " + "\n".join(lines[-8:])


def main():
    started = time.monotonic()
    args = json.loads(sys.argv[1])
    actor_dir = os.path.abspath(args["actorDir"])
    standby = bool(args.get("standby"))
    module = entry_point(actor_dir)
    check_syntax(actor_dir)
    with tempfile.TemporaryDirectory(prefix="wactor-py-") as work:
        site = os.path.join(work, "site")
        os.makedirs(site)
        install(requirements(actor_dir), site)
        # `apify` maps to this SDK too, so a ported Actor keeps its import.
        with open(os.path.join(work, "apify.py"), "w") as f:
            f.write("from wactor import *  # noqa: F401,F403\nfrom wactor import Actor, Event  # noqa: F401\n")
        with open(os.path.join(work, "wactor_app.py"), "w") as f:
            f.write((APP_STANDBY if standby else APP_BATCH).format(module=module))
        # Through this interpreter, not the venv's script: its shebang names where the venv was built.
        launcher = "import sys; from componentize_py import script; sys.argv[0] = 'componentize-py'; sys.exit(script())"
        cmd = [sys.executable, "-c", launcher, "-d", os.path.join(HERE, "wit"),
               "-w", "python-standby" if standby else "python-actor", "componentize", "wactor_app",
               "-p", work, "-p", actor_dir, "-p", site, "-p", os.path.join(HERE, "sdk"), "-o", args["out"]]
        env = {k: v for k, v in os.environ.items() if k != "RUST_BACKTRACE"}
        out = subprocess.run(cmd, capture_output=True, text=True, env=env)
        if out.returncode != 0:
            raise BuildError(componentize_error(out.stderr or out.stdout, [work, actor_dir, site]))
    size = os.path.getsize(args["out"])
    print(json.dumps({"bytes": size, "bundleBytes": 0, "totalMillis": int((time.monotonic() - started) * 1000)}))


if __name__ == "__main__":
    try:
        main()
    except BuildError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(1)
