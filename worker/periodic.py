"""A daemon thread that calls a function every ``interval`` seconds until stopped."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)


class PeriodicThread(threading.Thread):
    """Runs ``fn`` every ``interval`` seconds (first call at once when ``immediate``). An exception is
    logged and the loop goes on: one failed database or broker round trip must not end it."""

    def __init__(self, name: str, interval: float, fn: Callable[[], object], *, immediate: bool = False):
        super().__init__(name=name, daemon=True)
        self.interval = interval
        self.fn = fn
        self.immediate = immediate
        self._stop_event = threading.Event()

    def run(self) -> None:
        if self.immediate:
            self._call()
        while not self._stop_event.wait(self.interval):
            self._call()

    def _call(self) -> None:
        try:
            self.fn()
        except Exception:
            log.exception("%s: periodic call failed", self.name)

    def stop(self) -> None:
        self._stop_event.set()
