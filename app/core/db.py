"""Engine and session factory; one engine per process, created lazily from the settings.

A pooled connection is checked ("pinged") before use only when it sat idle in the pool for more than
``IDLE_PING_SECONDS``: a server restart or a dropped idle connection is caught as with SQLAlchemy's
``pool_pre_ping``, without a round trip before every request under load. A connection that breaks while
in steady use fails its statement instead; that answers 503 and SQLAlchemy then replaces the pool's
connections.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import Session, sessionmaker

from app.core.config import get_settings

IDLE_PING_SECONDS = 2.0


@lru_cache
def get_engine(url: str | None = None) -> Engine:
    settings = get_settings()
    engine = create_engine(
        url or settings.database_url,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
        pool_timeout=settings.db_pool_timeout,
    )
    ping_when_idle(engine, IDLE_PING_SECONDS)
    return engine


def ping_when_idle(engine: Engine, idle_seconds: float) -> None:
    """Ping a pooled connection at checkout if it was idle for more than ``idle_seconds``; a failed ping
    makes the pool discard it and connect afresh (SQLAlchemy's DisconnectionError protocol)."""

    @event.listens_for(engine, "checkin")
    def _checked_in(dbapi_connection, record) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checked_out(dbapi_connection, record, proxy) -> None:
        since = record.info.pop("idle_since", None)
        if since is None or time.monotonic() - since <= idle_seconds:
            return  # just connected, or in steady use
        try:
            engine.dialect.do_ping(dbapi_connection)
        except Exception as exc:
            raise DisconnectionError("idle pooled connection failed its ping") from exc


def get_sessionmaker() -> sessionmaker[Session]:
    return _sessionmaker(get_engine())


@lru_cache
def _sessionmaker(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False)


@contextmanager
def session_scope() -> Iterator[Session]:
    """A session that commits on success and rolls back on error (worker code uses this)."""
    session = get_sessionmaker()()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def reset_engine() -> None:
    """Forget the cached engine (after fork, or when tests change DATABASE_URL)."""
    if get_engine.cache_info().currsize:
        get_engine().dispose(close=False)
    get_engine.cache_clear()
    _sessionmaker.cache_clear()
