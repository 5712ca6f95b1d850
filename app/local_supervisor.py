"""Keeps the local stack's long-running processes (the Celery worker, the API) alive.

When one exits unexpectedly it is restarted after a backoff (1 s, doubling up to ``max_backoff``;
back to 1 s once a run lasted ``stable_after`` seconds) and the event is logged. A crash therefore
costs the chunk in flight (recovered by the reaper), never the whole stack.

Each process runs in its own process group, so what it leaves behind (a SIGKILLed Celery master's
pool children) is killed with it before the restart instead of lingering as orphans.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO


@dataclass
class Supervised:
    name: str
    cmd: list[str]
    cwd: Path
    env: dict[str, str]
    log_path: Path | None = None  # None: inherit the runner's stdout
    max_backoff: float = 60.0
    stable_after: float = 60.0
    say: Callable[[str], None] = print
    proc: subprocess.Popen | None = field(default=None, init=False)
    restarts: int = field(default=0, init=False)
    _backoff: float = field(default=1.0, init=False)
    _started_at: float = field(default=0.0, init=False)
    _restart_at: float | None = field(default=None, init=False)
    _log: IO[bytes] | None = field(default=None, init=False)

    def start(self) -> None:
        if self.log_path is not None and self._log is None:
            self._log = open(self.log_path, "ab")  # noqa: SIM115 - kept open for the process' lifetime
        self.proc = subprocess.Popen(
            self.cmd,
            cwd=self.cwd,
            env=self.env,
            stdout=self._log,
            stderr=subprocess.STDOUT if self._log else None,
            start_new_session=True,
        )
        self._started_at = time.monotonic()
        self._restart_at = None

    @property
    def pid(self) -> int | None:
        return None if self.proc is None else self.proc.pid

    def check(self) -> None:
        """Call regularly: notices an exit, cleans up its process group, restarts after the backoff."""
        if self.proc is None:
            return
        now = time.monotonic()
        if self._restart_at is None:
            code = self.proc.poll()
            if code is None:
                return
            self._kill_group(signal.SIGKILL)
            ran = now - self._started_at
            if ran >= self.stable_after:
                self._backoff = 1.0
            self._restart_at = now + self._backoff
            self.say(
                f"{self.name} (pid {self.proc.pid}) exited with code {code} after {ran:.0f} s; "
                f"restarting in {self._backoff:.0f} s"
            )
            self._backoff = min(self._backoff * 2, self.max_backoff)
        elif now >= self._restart_at:
            self.restarts += 1
            self.start()
            self.say(f"{self.name} restarted (pid {self.proc.pid}, restart #{self.restarts})")

    def stop(self, timeout: float = 20.0) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self._kill_group(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self._kill_group(signal.SIGKILL)
                self.proc.wait(timeout=10)
        self._kill_group(signal.SIGKILL)  # leftovers of the group, if any
        if self._log is not None:
            self._log.close()
            self._log = None

    def _kill_group(self, sig: int) -> None:
        assert self.proc is not None
        try:
            os.killpg(self.proc.pid, sig)  # the group id is the leader's pid (start_new_session)
        except (ProcessLookupError, PermissionError):
            pass
