"""Celery retry options shared by the worker's tasks."""

from __future__ import annotations

from sqlalchemy.exc import OperationalError

# PostgreSQL unreachable before a task has claimed its row: the task would be acked having done
# nothing, so it is re-published with backoff instead.
RETRY_WHILE_DB_DOWN: dict = {
    "autoretry_for": (OperationalError,),
    "retry_backoff": 2,
    "retry_backoff_max": 60,
    "max_retries": 30,
}
