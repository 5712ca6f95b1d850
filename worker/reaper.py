"""Recovers chunks whose worker died and keeps every admitted job moving: a thread in each worker's
main process periodically

- resets running chunks with a stale heartbeat to pending and sends their task again, or fails a chunk
  whose worker died MAX_CHUNK_ATTEMPTS times on it (worker/store.py);
- tops up jobs with fewer chunks in flight than MAX_INFLIGHT_CHUNKS_PER_JOB (a finisher could not
  reach the broker, or crashed between its commit and the next send);
- re-sends pending chunks whose message has been on the queue longer than VISIBILITY_TIMEOUT (lost).

Redis' visibility timeout would eventually redeliver an unacked message too, but it must be longer
than the slowest chunk; the heartbeat lets us notice a dead worker within ``stale_after`` seconds.
"""

from __future__ import annotations

import logging

from app.core import webhooks
from app.core.config import get_settings
from app.core.db import session_scope
from app.core.scheduling import jobs_needing_chunks, resend_lost, schedule_chunks
from app.core.task_queue import get_task_queue
from worker.periodic import PeriodicThread
from worker.store import fail_exhausted_chunks, requeue_stale_chunks

log = logging.getLogger(__name__)


def reap_once() -> int:
    """One pass over the jobs of this worker's queue (CELERY_QUEUE) and jobs without a recorded queue."""
    settings = get_settings()
    mine = settings.celery_queue
    for job_id, chunk_index in fail_exhausted_chunks(settings.stale_after, settings.max_chunk_attempts, mine):
        log.error(
            "chunk %s/%d failed: its worker died %d times on it; job %s failed",
            job_id,
            chunk_index,
            settings.max_chunk_attempts,
            job_id,
        )
        webhooks.kick(job_id)
    stale = requeue_stale_chunks(settings.stale_after, settings.max_chunk_attempts, mine)
    for job_id, chunk_index, queue in stale:
        log.warning(
            "re-enqueueing chunk %s/%d (heartbeat stale > %.0f s)", job_id, chunk_index, settings.stale_after
        )
        get_task_queue().enqueue_chunk(job_id, chunk_index, queue)
    top_up(settings.max_inflight_chunks_per_job, mine)
    with session_scope() as s:
        for job_id, chunk_index in resend_lost(s, get_task_queue(), settings.visibility_timeout, mine):
            log.warning("re-sending chunk %s/%d (queued > %d s)", job_id, chunk_index, settings.visibility_timeout)
    return len(stale)


def top_up(limit: int, queue_name: str | None = None) -> int:
    with session_scope() as s:
        job_ids = jobs_needing_chunks(s, limit, queue_name)
    sent = 0
    for job_id in job_ids:
        with session_scope() as s:
            sent += len(schedule_chunks(s, get_task_queue(), job_id, limit))
    return sent


def start_reaper(interval: float) -> PeriodicThread:
    reaper = PeriodicThread("chunk-reaper", interval, reap_once, immediate=True)
    reaper.start()
    return reaper
