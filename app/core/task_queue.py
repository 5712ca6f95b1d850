"""The Celery client (Redis broker) and the one way a chunk is put on the queue.

The API, the worker's reaper and the worker itself all build their Celery app here, so the
reliability settings and the task name cannot drift apart. Importing this module needs neither
torch nor the worker package.

Reliability settings, and why:
- ``task_acks_late`` + ``worker_prefetch_multiplier=1``: a task is acknowledged only after its chunk
  is committed, and a worker holds at most one unacknowledged task, so a crash loses one chunk.
- ``task_reject_on_worker_lost``: if the pool child dies (OOM, SIGKILL) the message is requeued at once.
- ``visibility_timeout``: if the whole worker dies, Redis redelivers unacked tasks after this long.
  It must exceed the longest chunk, so it is long; the heartbeat reaper (worker/reaper.py) recovers
  crashed chunks much sooner.
- No result backend: results live in PostgreSQL; nothing large goes through Redis.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from functools import lru_cache

from celery import Celery

from app.core.config import get_settings

# The registered name of the sampling task (worker/tasks.py registers it under this name).
SAMPLE_CHUNK_TASK = "worker.tasks.sample_chunk"
# DFT verification of one structure (worker/dft_tasks.py), on its own queue (DFT_QUEUE).
VERIFY_TASK = "worker.dft_tasks.verify_structure"


def make_celery(broker_url: str | None = None, include: Sequence[str] = ()) -> Celery:
    """A Celery app on the configured broker; ``include`` lists task modules (the worker's)."""
    settings = get_settings()
    app = Celery("mattergen_e", broker=broker_url or settings.redis_url, include=list(include))
    app.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_ignore_result=True,
        task_default_queue=settings.celery_queue,
        task_routes={
            SAMPLE_CHUNK_TASK: {"queue": settings.celery_queue},
            VERIFY_TASK: {"queue": settings.dft_queue},
        },
        task_serializer="json",
        accept_content=["json"],
        broker_transport_options={"visibility_timeout": settings.visibility_timeout},
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,
        # Model loading happens lazily in the child, so the default 4 s alive-timeout is enough.
        worker_send_task_events=False,
    )
    return app


class TaskQueue:
    """Sends sampling tasks and answers readiness questions about the broker and its workers."""

    def __init__(self, celery: Celery, queue: str):
        self.celery = celery
        self.queue = queue

    def enqueue_chunk(self, job_id: uuid.UUID | str, chunk_index: int, queue: str | None = None) -> None:
        """Only (job id, chunk index) travels through Redis; the worker reads the rest from PostgreSQL.
        ``queue``: the job's own queue when it has one, else this client's."""
        self.celery.send_task(
            SAMPLE_CHUNK_TASK, args=[str(job_id), int(chunk_index)], queue=queue or self.queue
        )

    def enqueue_verification(self, verification_id: uuid.UUID | str) -> None:
        """A DFT verification goes to the DFT queue; only its id travels through Redis."""
        self.celery.send_task(VERIFY_TASK, args=[str(verification_id)], queue=get_settings().dft_queue)

    def check_broker(self, timeout: float) -> None:
        """Raises when the broker cannot be reached within ``timeout`` seconds."""
        with self.celery.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=timeout)

    def ping_workers(self, timeout: float) -> list[str]:
        """Names of the workers that answered a ping within ``timeout`` seconds."""
        return sorted(self.celery.control.inspect(timeout=timeout).ping() or {})


@lru_cache
def get_task_queue() -> TaskQueue:
    """The process's task queue (a FastAPI dependency; tests override it or clear this cache)."""
    settings = get_settings()
    return TaskQueue(make_celery(settings.redis_url), settings.celery_queue)
