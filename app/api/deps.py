"""Request-scoped dependencies: the request's one database session, settings, the task queue.

Everything a request does in PostgreSQL goes through the one session of :func:`get_db` (FastAPI
caches it per request), so a request holds at most one pooled connection; the jobs/structures
lookups that check ownership live in ``app/api/resources.py``."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends
from sqlalchemy.orm import Session

from app.core.config import Settings, get_settings
from app.core.db import get_sessionmaker
from app.core.task_queue import TaskQueue, get_task_queue


def get_db() -> Iterator[Session]:
    session = get_sessionmaker()()
    try:
        yield session
    finally:
        session.close()


SessionDep = Annotated[Session, Depends(get_db)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
TaskQueueDep = Annotated[TaskQueue, Depends(get_task_queue)]
