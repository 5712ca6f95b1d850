"""The job event stream (GET /v1/jobs/{id}/events): its wire format, and — in process, against the real
database with jobs no worker consumes — the resume, heartbeat and lifetime rules."""

from __future__ import annotations

import json

import pytest

from app.api.routes.events import event_id, format_comment, format_event


def parse(text: str) -> list[dict]:
    """SSE text → events (as a browser reads them): {"event", "id", "data", "retry"} or {"comment"}."""
    out = []
    for block in text.split("\n\n"):
        if not block.strip():
            continue
        item: dict = {}
        for line in block.split("\n"):
            field, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if field == "":
                item["comment"] = value
            else:
                item[field] = value
        out.append(item)
    return out


def test_event_format_is_one_sse_event_with_json_data():
    doc = {"id": "j1", "state": "running", "progress": 0.5, "error": "line one\nline two"}
    text = format_event("job", doc, "abc123", retry_ms=2000)
    assert text.endswith("\n\n") and text.count("\n\n") == 1  # one event; the newline in error is escaped
    assert text.splitlines()[:3] == ["retry: 2000", "id: abc123", "event: job"]
    (event,) = parse(text)
    assert json.loads(event["data"]) == doc and event["id"] == "abc123" and event["event"] == "job"
    assert format_event("end", {"state": "succeeded"}).startswith("event: end\ndata: ")
    assert format_comment("keep-alive") == ": keep-alive\n\n"


def test_event_id_ignores_the_running_clock_only():
    doc = {"state": "running", "progress": 0.25, "timings": {"running_seconds": 1.0, "started_at": "t0"}}
    later = {**doc, "timings": {"running_seconds": 9.5, "started_at": "t0"}}
    assert event_id(doc) == event_id(later)
    assert event_id(doc) != event_id({**doc, "progress": 0.5})
    assert event_id(doc) != event_id({**doc, "state": "succeeded"})


@pytest.fixture()
def short_streams(model_env, api_key):
    """An app whose streams poll fast, heartbeat every 0.2 s and live 1 s (so the TestClient, which
    reads a response to its end, gets the whole stream)."""
    from fastapi.testclient import TestClient

    from app.core.config import get_settings
    from app.main import create_app

    settings = get_settings().model_copy(
        update={
            "sse_poll_interval": 0.1,
            "sse_heartbeat_interval": 0.2,
            "sse_max_seconds": 1.0,
            "sse_retry_ms": 1500,
        }
    )
    with TestClient(create_app(settings), headers=api_key.headers) as c:
        yield c


def test_queued_job_stream_heartbeats_ends_at_its_lifetime_and_resumes(short_streams, job_factory):
    job = job_factory(num_samples=2, seed=3)  # queued for good: no worker consumes this process's queue
    r = short_streams.get(f"/v1/jobs/{job.id}/events")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
    assert r.headers["cache-control"] == "no-cache"
    events = parse(r.text)
    assert events[0] == {"retry": "1500"}
    (first,) = [e for e in events if "event" in e]  # nothing changed: one job event only
    doc = json.loads(first["data"])
    assert first["event"] == "job" and doc["state"] == "queued" and doc["id"] == str(job.id)
    assert doc == short_streams.get(f"/v1/jobs/{job.id}").json()["data"] | {"timings": doc["timings"]}
    comments = [e["comment"] for e in events if "comment" in e]
    assert "keep-alive" in comments and "reconnect with Last-Event-ID" in comments[-1]

    # Reconnecting with the id of what we have: the unchanged job is not sent again.
    again = parse(short_streams.get(f"/v1/jobs/{job.id}/events", headers={"Last-Event-ID": first["id"]}).text)
    assert [e for e in again if "event" in e] == [] and any("comment" in e for e in again)
    # An id we do not know (an older version): the job is sent.
    stale = parse(short_streams.get(f"/v1/jobs/{job.id}/events", headers={"Last-Event-ID": "0" * 16}).text)
    assert [e["event"] for e in stale if "event" in e] == ["job"]


def test_bad_last_event_id_is_a_4xx(short_streams, job_factory):
    job = job_factory(num_samples=2, seed=4)
    r = short_streams.get(f"/v1/jobs/{job.id}/events", headers={"Last-Event-ID": "x" * 500})
    assert r.status_code == 422 and r.json()["errors"]
    assert short_streams.get("/v1/jobs/not-a-uuid/events").status_code == 422


def test_events_route_is_documented(short_streams):
    op = short_streams.get("/openapi.json").json()["paths"]["/v1/jobs/{job_id}/events"]["get"]
    assert "text/event-stream" in op["responses"]["200"]["content"]
    assert {"204", "401", "404"} <= set(op["responses"])
    assert any(p["name"] == "Last-Event-ID" and p["in"] == "header" for p in op["parameters"])


def test_stream_stops_soon_after_the_client_disconnects(model_env, api_key, job_factory):
    """Driven as raw ASGI: the client goes away 0.3 s in; the stream (lifetime 60 s) must end within
    a poll or two, not keep looking at the job for its whole life."""
    import time

    import anyio

    from app.core.config import get_settings
    from app.main import create_app

    app = create_app(get_settings().model_copy(update={"sse_poll_interval": 0.05, "sse_max_seconds": 60.0}))
    job = job_factory(num_samples=2, seed=6)
    path = f"/v1/jobs/{job.id}/events"
    scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"test"), (b"authorization", f"Bearer {api_key.secret}".encode())],
        "client": ("127.0.0.1", 1),
        "server": ("test", 80),
    }
    body: list[bytes] = []
    gone_at: float | None = None

    async def receive() -> dict:
        if gone_at is None:
            return {"type": "http.request", "body": b"", "more_body": False}
        if time.monotonic() < gone_at:
            await anyio.sleep(gone_at - time.monotonic())
        return {"type": "http.disconnect"}

    async def send(message: dict) -> None:
        nonlocal gone_at
        if message["type"] == "http.response.start":
            assert message["status"] == 200
            gone_at = time.monotonic() + 0.3
        elif message["type"] == "http.response.body":
            body.append(message.get("body", b""))

    async def main() -> float:
        started = time.monotonic()
        with anyio.fail_after(10):
            await app(scope, receive, send)
        return time.monotonic() - started

    elapsed = anyio.run(main)
    assert elapsed < 3, elapsed
    assert b"event: job" in b"".join(body)


def test_streams_are_not_counted_by_the_concurrency_limit():
    from app.main import UNTHROTTLED

    assert "/v1/jobs/0b3c/events" in UNTHROTTLED and "/healthz" in UNTHROTTLED
    assert "/v1/jobs/0b3c" not in UNTHROTTLED and "/v1/jobs" not in UNTHROTTLED
