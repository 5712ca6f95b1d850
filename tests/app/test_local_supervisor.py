"""The local runner's supervisor restarts a process that died, with a growing backoff, and takes the
dead process' children with it."""

from __future__ import annotations

import os
import signal
import sys
import time

from app.local_supervisor import Supervised

# A parent that starts a long-lived child (like a Celery master and its pool child) and waits.
SCRIPT = "import subprocess, sys, time; c = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(300)']); print(c.pid, flush=True); time.sleep(300)"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie still answers kill(0): ask /proc.
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def _wait(predicate, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline
        time.sleep(0.05)


def test_restarts_with_backoff_and_kills_orphans(tmp_path):
    said: list[str] = []
    proc = Supervised("sleeper", [sys.executable, "-c", SCRIPT], tmp_path, dict(os.environ),
                      log_path=tmp_path / "out.log", say=said.append)
    proc.start()
    try:
        _wait(lambda: (tmp_path / "out.log").read_text().strip() != "")
        child = int((tmp_path / "out.log").read_text().split()[0])
        first = proc.pid
        os.kill(first, signal.SIGKILL)
        _wait(lambda: (proc.check(), proc.restarts == 1)[1])
        assert proc.pid != first and "exited with code -9" in said[0] and "restarting in 1 s" in said[0]
        assert not _alive(child)  # the orphaned child went with its parent
        assert "restart #1" in said[1]
        os.kill(proc.pid, signal.SIGKILL)
        started = time.monotonic()
        _wait(lambda: (proc.check(), proc.restarts == 2)[1])
        assert time.monotonic() - started >= 1.9 and "restarting in 2 s" in said[2]  # the backoff doubled
    finally:
        proc.stop(timeout=5)
    assert proc.proc.poll() is not None
