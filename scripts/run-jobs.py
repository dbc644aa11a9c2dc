#!/usr/bin/env python3
"""Runs the suite's jobs (one Rust test binary, the compatibility tests, the
fuzzer, ...) a few at a time, so waiting jobs (a container starting, a run
sleeping, pip downloading) overlap with busy ones.

    run-jobs.py --jobs N --logs DIR JOBFILE

JOBFILE has one job per line, `name<TAB>working dir<TAB>shell command`,
longest first. Each job's output goes to DIR/<name>.log and is printed whole
when the job ends, so outputs never interleave. A job that fails has its
name in the summary, and the exit code is 1.
"""
import argparse
import os
import subprocess
import sys
import threading
import time


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--logs", required=True)
    parser.add_argument("jobfile")
    args = parser.parse_args()
    os.makedirs(args.logs, exist_ok=True)

    jobs = []
    with open(args.jobfile) as f:
        for line in f:
            line = line.rstrip("\n")
            if line.strip():
                name, cwd, command = line.split("\t", 2)
                jobs.append((name, cwd, command))

    pending = list(jobs)
    lock = threading.Lock()
    results = {}
    started = time.monotonic()

    def worker() -> None:
        while True:
            with lock:
                if not pending:
                    return
                name, cwd, command = pending.pop(0)
            log_path = os.path.join(args.logs, f"{name}.log")
            begin = time.monotonic()
            with open(log_path, "wb") as log:
                code = subprocess.call(["bash", "-c", command], cwd=cwd, stdout=log, stderr=subprocess.STDOUT,
                                       stdin=subprocess.DEVNULL)
            took = time.monotonic() - begin
            with lock:
                results[name] = (code, took)
                with open(log_path, "rb") as log:
                    sys.stdout.write(f"== {name} ({'ok' if code == 0 else f'FAILED, exit {code}'}, {took:.0f} s)\n")
                    sys.stdout.flush()
                    sys.stdout.buffer.write(log.read())
                    sys.stdout.write("\n")
                    sys.stdout.flush()

    threads = [threading.Thread(target=worker) for _ in range(max(1, args.jobs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    failed = [name for name, _, _ in jobs if results[name][0] != 0]
    print(f"== {len(jobs)} jobs in {time.monotonic() - started:.0f} s, {args.jobs} at a time; the longest:")
    for name, (code, took) in sorted(results.items(), key=lambda r: -r[1][1])[:8]:
        print(f"   {took:6.0f} s  {name}{'  FAILED' if code else ''}")
    if failed:
        print(f"== {len(failed)} job(s) FAILED: {', '.join(failed)} (logs in {args.logs})")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
