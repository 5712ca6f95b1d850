"""The Celery application (Redis broker). Importable without torch so the API can send tasks.

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

from celery import Celery

from app.core.config import get_settings


def make_celery(broker_url: str | None = None) -> Celery:
    settings = get_settings()
    app = Celery("mattergen_e", broker=broker_url or settings.redis_url, include=["worker.tasks"])
    app.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_ignore_result=True,
        task_default_queue=settings.celery_queue,
        task_routes={"worker.tasks.sample_chunk": {"queue": settings.celery_queue}},
        task_serializer="json",
        accept_content=["json"],
        broker_transport_options={"visibility_timeout": settings.visibility_timeout},
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,
        # Model loading happens lazily in the child, so the default 4 s alive-timeout is enough.
        worker_send_task_events=False,
    )
    return app


celery_app = make_celery()
