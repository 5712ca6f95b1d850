"""Live progress over HTTP: the Server-Sent Events stream of a job run by a real worker."""

from __future__ import annotations

import json
import time

import httpx
import pytest

from tests.conftest import make_key
from tests.integration.helpers import submit, wait_terminal

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]


def read_events(http: httpx.Client, path: str, headers: dict | None = None) -> tuple[int, list[dict]]:
    """(status, events) of one stream read to its end; each event {"event", "id", "data": dict, "at": s}."""
    events: list[dict] = []
    with http.stream("GET", path, headers=headers or {}) as r:
        if r.status_code != 200:
            r.read()
            return r.status_code, []
        assert r.headers["content-type"].startswith("text/event-stream")
        item: dict = {}
        for line in r.iter_lines():
            if line == "":
                if "event" in item:
                    item["data"] = json.loads(item["data"])
                    item["at"] = time.monotonic()
                    events.append(item)
                item = {}
            elif not line.startswith(":"):
                field, _, value = line.partition(":")
                item[field] = value.removeprefix(" ")
    return 200, events


def test_stream_shows_progress_until_the_terminal_event_then_closes(http, worker):
    # steps=300: a few seconds of sampling, so the 0.5 s polls see it move.
    job = submit(http, {"num_samples": 4, "seed": 17, "steps": 300, "relax": False})
    started = time.monotonic()
    status, events = read_events(http, f"/v1/jobs/{job['id']}/events")
    assert status == 200 and events, events
    assert time.monotonic() - started < 120
    kinds = [e["event"] for e in events]
    assert kinds[-1] == "end" and set(kinds[:-1]) == {"job"}, kinds
    last = events[-1]["data"]
    assert last["state"] == "succeeded" and last["progress"] == 1.0 and last["num_structures"] == 4
    assert last == http.get(f"/v1/jobs/{job['id']}").json()["data"] | {"timings": last["timings"]}
    progress = [e["data"]["progress"] for e in events]
    assert progress == sorted(progress), progress  # never goes back
    assert any(0 < p < 1 for p in progress), progress  # moved during sampling, not only at the end
    assert len({e["id"] for e in events}) == len(events)  # every event is a new version

    # Reconnecting after the terminal event: 204, nothing more will come (EventSource stops on it).
    r = http.get(f"/v1/jobs/{job['id']}/events", headers={"Last-Event-ID": events[-1]["id"]})
    assert r.status_code == 204 and r.content == b""
    # Reconnecting from an earlier event: the job changed since, so the terminal event comes at once.
    status, resumed = read_events(
        http, f"/v1/jobs/{job['id']}/events", headers={"Last-Event-ID": events[0]["id"]}
    )
    assert status == 200 and [e["event"] for e in resumed] == ["end"]
    assert resumed[0]["id"] == events[-1]["id"]


def test_stream_ends_with_a_cancelled_job(http, worker):
    job = submit(http, {"num_samples": 8, "seed": 5, "steps": 2000, "relax": False})
    with http.stream("GET", f"/v1/jobs/{job['id']}/events") as r:
        lines = r.iter_lines()
        assert next(lines).startswith("retry: ")
        assert http.post(f"/v1/jobs/{job['id']}/cancel").status_code == 200
        rest = [line for line in lines if line.startswith(("event:", "data:"))]
    assert rest[-2] == "event: end" and json.loads(rest[-1].removeprefix("data: "))["state"] == "cancelled"
    wait_terminal(http, job["id"])


def test_stream_needs_a_key_that_sees_the_job(http, api_url, worker):
    job = submit(http, {"num_samples": 1, "seed": 2, "steps": 5, "relax": False})
    path = f"{api_url}/v1/jobs/{job['id']}/events"
    assert httpx.get(path).status_code == 401
    other = make_key("events-other")
    r = httpx.get(path, headers=other.headers)
    assert r.status_code == 404 and r.json()["errors"][0]["code"] == "not_found"
    assert http.get(f"/v1/jobs/{'0' * 8}-0000-0000-0000-{'0' * 12}/events").status_code == 404
    wait_terminal(http, job["id"])


def test_open_streams_do_not_hold_request_slots(services, model_env, api_key, job_factory, tmp_path):
    """A server allowing one request at a time keeps answering while three streams stay open."""
    import os
    from contextlib import ExitStack

    from tests.conftest import uvicorn_api

    env = {**os.environ, **model_env, "MAX_CONCURRENT_REQUESTS": "1", "REQUEST_QUEUE_TIMEOUT": "1"}
    with uvicorn_api(env, tmp_path / "api.log") as url:
        job = job_factory(num_samples=2, seed=9)  # stays queued: no worker consumes this process's queue
        with ExitStack() as stack, httpx.Client(base_url=url, headers=api_key.headers, timeout=10) as http:
            readers = []  # kept: a line iterator that is dropped closes its connection
            for _ in range(3):
                r = stack.enter_context(http.stream("GET", f"/v1/jobs/{job.id}/events"))
                assert r.status_code == 200
                readers.append(r.iter_lines())
                while next(readers[-1]) != "event: job":  # the stream is live; it stays open
                    pass
            started = time.monotonic()
            r = http.get(f"/v1/jobs/{job.id}")
            assert r.status_code == 200 and time.monotonic() - started < 1.0, r.text
