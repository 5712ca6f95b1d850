"""Errors over a real HTTP server: an unexpected exception is a 500 envelope that keeps the keep-alive
connection; with one pooled connection every route still works (one session per request); PostgreSQL
down is a 503 with Retry-After that shows no host, port or driver text."""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from app.local_services import EmbeddedPostgres, free_port
from tests.conftest import uvicorn_api


def exchange(sock: socket.socket, path: str, method: str = "GET", headers: dict | None = None) -> tuple[int, dict, bytes]:
    """One HTTP/1.1 request on an open socket; returns (status, headers, body). Raises if the server
    closed the connection instead of answering."""
    lines = [f"{method} {path} HTTP/1.1", "Host: test", "Content-Length: 0"]
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
    data = b""
    while b"\r\n\r\n" not in data:
        block = sock.recv(65536)
        if not block:
            raise ConnectionError("server closed the connection")
        data += block
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    parsed = {k.lower(): v.strip() for k, v in (line.split(":", 1) for line in header_lines)}
    length = int(parsed.get("content-length", "0"))
    while len(body) < length:
        block = sock.recv(65536)
        if not block:
            raise ConnectionError("server closed the connection mid-body")
        body += block
    return int(status_line.split()[1]), parsed, body


def test_unexpected_error_is_a_500_envelope_and_keeps_the_connection(services):
    import uvicorn

    from app.main import create_app

    app = create_app()

    @app.get("/boom")
    def boom():
        raise RuntimeError("secret detail: db.internal:5432")

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="critical"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 20
        while not server.started:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            for _ in range(3):
                status, headers, body = exchange(sock, "/boom")
                assert status == 500 and headers.get("connection") != "close"
                assert b"internal_error" in body and b"reference" in body
                assert b"secret" not in body and b"RuntimeError" not in body
            status, _, _ = exchange(sock, "/healthz")  # same connection, still served
            assert status == 200
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture()
def own_postgres():
    root = Path(tempfile.mkdtemp(prefix="mattergen-pgdown-"))
    pg = EmbeddedPostgres(root / "postgres", free_port()).start()
    try:
        yield pg
    finally:
        pg.stop(mode="immediate")
        shutil.rmtree(root, ignore_errors=True)


def test_one_pooled_connection_serves_everything_and_postgres_down_is_503(own_postgres, model_env, tmp_path):
    from sqlalchemy import create_engine
    from sqlalchemy.orm import Session

    from app.core.migrate import upgrade
    from app.services.api_keys import create_key

    upgrade(own_postgres.url)
    engine = create_engine(own_postgres.url)
    with Session(engine) as s:
        key = create_key(s, "pg-down")
    engine.dispose()
    env = {
        **os.environ,
        **model_env,
        "DATABASE_URL": own_postgres.url,
        # One connection and no overflow: a request that needed a second one would wait, then 503.
        "DB_POOL_SIZE": "1",
        "DB_MAX_OVERFLOW": "0",
        "DB_POOL_TIMEOUT": "3",
        "UNAVAILABLE_RETRY_AFTER": "7",
        "CELERY_QUEUE": "sampling-inprocess",  # no worker consumes it
    }
    auth = {"Authorization": f"Bearer {key.secret}"}
    with uvicorn_api(env, tmp_path / "api.log") as url:
        port = httpx.URL(url).port
        with httpx.Client(base_url=url, headers=auth, timeout=30) as c:
            job = c.post("/v1/jobs", json={"num_samples": 1, "seed": 1}).json()["data"]
            paths = ["/v1/jobs", f"/v1/jobs/{job['id']}", f"/v1/jobs/{job['id']}/structures",
                     f"/v1/jobs/{job['id']}/archive", "/v1/models", "/metrics"]
            for path in paths:
                r = c.get(path)
                assert r.status_code == 200, (path, r.text)
            # 30 concurrent requests through one connection: they take turns, none times out.
            with ThreadPoolExecutor(10) as pool:
                codes = list(pool.map(lambda p: c.get(p).status_code, paths * 5))
            assert set(codes) == {200}, codes

        own_postgres.stop(mode="immediate")
        with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
            for path in ("/v1/jobs", f"/v1/jobs/{job['id']}", "/readyz", "/metrics"):
                status, headers, body = exchange(sock, path, headers=auth)
                assert status == 503, (path, body)
                assert headers.get("retry-after") == "7" and headers.get("connection") != "close"
                text = body.decode().lower()
                for leak in (str(own_postgres.port), "127.0.0.1", "psycopg", "connection refused", "operationalerror"):
                    assert leak not in text, (path, leak, text)
            assert exchange(sock, "/healthz")[0] == 200
