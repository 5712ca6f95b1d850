"""The worker's Celery application: the shared client configuration (app/core/task_queue.py) plus the
task module. Start a worker with ``celery -A worker.celery_app:celery_app worker``."""

from __future__ import annotations

from app.core.task_queue import make_celery

celery_app = make_celery(include=["worker.tasks", "worker.dft_tasks"])
