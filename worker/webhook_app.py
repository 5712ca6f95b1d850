"""The webhook worker's Celery application: only the delivery task (worker/webhooks.py), no model, so
it starts in seconds and never waits behind a sampling chunk or a DFT run. Start it with
``celery -A worker.webhook_app:celery_app worker -Q webhooks --pool threads --concurrency 4``."""

from __future__ import annotations

from app.core.task_queue import make_celery

celery_app = make_celery(include=["worker.webhooks"])
