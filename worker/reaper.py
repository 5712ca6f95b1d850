"""Recovers chunks whose worker died: a thread in each worker's main process periodically resets
running chunks with a stale heartbeat to pending and sends their task again.

Redis' visibility timeout would eventually redeliver the unacked message too, but it must be longer
than the slowest chunk; the heartbeat lets us notice a dead worker within ``stale_after`` seconds.
"""

from __future__ import annotations

import logging
import threading

from app.core.config import get_settings

log = logging.getLogger(__name__)


def reap_once() -> int:
    from worker.celery_app import celery_app
    from worker.store import requeue_stale_chunks

    settings = get_settings()
    stale = requeue_stale_chunks(settings.stale_after)
    for job_id, chunk_index in stale:
        log.warning(
            "re-enqueueing chunk %s/%d (heartbeat stale > %.0f s)", job_id, chunk_index, settings.stale_after
        )
        celery_app.send_task(
            "worker.tasks.sample_chunk", args=[str(job_id), chunk_index], queue=settings.celery_queue
        )
    return len(stale)


class Reaper(threading.Thread):
    def __init__(self, interval: float):
        super().__init__(name="chunk-reaper", daemon=True)
        self.interval = interval
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.is_set():
            try:
                reap_once()
            except Exception:  # a DB/broker hiccup must not kill the thread
                log.exception("reaper pass failed")
            self._stop_event.wait(self.interval)

    def stop(self) -> None:
        self._stop_event.set()
