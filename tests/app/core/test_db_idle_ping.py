"""Pooled connections are pinged only after sitting idle: a connection the server dropped while idle is
replaced before use, and a connection in steady use costs no extra round trip."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

from app.core.db import ping_when_idle


def _terminate(url: str, pid: int) -> None:
    other = create_engine(url)
    with other.connect() as c:
        c.execute(text("SELECT pg_terminate_backend(:p)"), {"p": pid})
    other.dispose()


def _engine(url: str, idle_seconds: float):
    engine = create_engine(url, pool_size=1, max_overflow=0)
    ping_when_idle(engine, idle_seconds)
    pings: list[int] = []
    ping = engine.dialect.do_ping
    engine.dialect.do_ping = lambda dbapi_connection: pings.append(1) or ping(dbapi_connection)
    return engine, pings


def test_idle_connection_dropped_by_the_server_is_replaced_before_use(services):
    engine, pings = _engine(services.database_url, idle_seconds=0.0)
    with engine.connect() as c:
        pid = c.scalar(text("SELECT pg_backend_pid()"))
    assert pings == []  # a fresh connection is not pinged
    _terminate(services.database_url, pid)
    with engine.connect() as c:  # idle > 0 s: pinged, found dead, reconnected
        assert c.scalar(text("SELECT pg_backend_pid()")) != pid
    assert pings == [1]
    engine.dispose()


def test_connection_in_steady_use_is_not_pinged(services):
    engine, pings = _engine(services.database_url, idle_seconds=3600.0)
    with engine.connect() as c:
        pid = c.scalar(text("SELECT pg_backend_pid()"))
    for _ in range(3):
        with engine.connect() as c:
            c.scalar(text("SELECT 1"))
    assert pings == []
    _terminate(services.database_url, pid)
    with pytest.raises(OperationalError), engine.connect() as c:  # not pinged: the statement fails...
        c.scalar(text("SELECT 1"))
    with engine.connect() as c:  # ...and the pool reconnects for the next one
        assert c.scalar(text("SELECT 1")) == 1
    engine.dispose()
