"""Recovers chunks whose worker died: a thread in each worker's main process periodically resets
running chunks with a stale heartbeat to pending and sends their task again.

Redis' visibility timeout would eventually redeliver the unacked message too, but it must be longer
than the slowest chunk; the heartbeat lets us notice a dead worker within ``stale_after`` seconds.
"""

from __future__ import annotations

import logging

from app.core.config import get_settings
from app.core.task_queue import get_task_queue
from worker.periodic import PeriodicThread
from worker.store import requeue_stale_chunks

log = logging.getLogger(__name__)


def reap_once() -> int:
    settings = get_settings()
    stale = requeue_stale_chunks(settings.stale_after)
    for job_id, chunk_index in stale:
        log.warning(
            "re-enqueueing chunk %s/%d (heartbeat stale > %.0f s)", job_id, chunk_index, settings.stale_after
        )
        get_task_queue().enqueue_chunk(job_id, chunk_index)
    return len(stale)


def start_reaper(interval: float) -> PeriodicThread:
    reaper = PeriodicThread("chunk-reaper", interval, reap_once, immediate=True)
    reaper.start()
    return reaper
