"""Shared by the Python test suites (tests/compat, tests/console): reading
the URL a `wactor serve` prints when it listens."""
import queue
import threading


def listening_url(proc, timeout):
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
