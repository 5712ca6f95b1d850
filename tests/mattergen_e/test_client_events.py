"""Client.events / Client.wait over the job event stream: against the real server and worker, and
against a small scripted HTTP server (a stream cut short and resumed with Last-Event-ID; a server
without the route, where wait falls back to polling)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from mattergen_e.client import ApiError, Client
from tests.conftest import make_key

JOB = "11111111-2222-3333-4444-555555555555"


def _doc(state: str, progress: float) -> dict:
    return {"id": JOB, "state": state, "progress": progress, "num_samples": 4}


@pytest.mark.integration
def test_events_and_wait_follow_a_real_job(api_url, worker, capsys):
    with Client(api_url, make_key("client-events").secret, retries=2) as client:
        job = client.submit(num_samples=4, seed=23, steps=200)
        docs = list(client.events(job, timeout=120))
        assert docs[-1]["state"] == "succeeded" and docs[-1]["num_structures"] == 4
        progress = [d["progress"] for d in docs]
        assert progress == sorted(progress) and progress[-1] == 1.0
        # Waiting on a finished job over the stream returns at once with its document.
        done = client.wait(job, progress=True, timeout=30)
        assert done["state"] == "succeeded" and "crystal" in capsys.readouterr().err
        with pytest.raises(ApiError) as err:
            list(client.events("00000000-0000-0000-0000-000000000000"))
        assert err.value.status == 404


class Scripted(BaseHTTPRequestHandler):
    """/v1/jobs/JOB/events: the first connection sends one running event and closes (as at the
    server's lifetime bound); a reconnect must carry Last-Event-ID "v1" and gets the end event.
    With ``no_stream`` the route is missing (404) and GET /v1/jobs/JOB answers the finished job."""

    no_stream = False
    seen_ids: list[str | None] = []

    def log_message(self, *args: object) -> None:
        pass

    def _json(self, status: int, body: dict) -> None:
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        if self.path == f"/v1/jobs/{JOB}":
            self._json(200, {"data": _doc("succeeded", 1.0), "meta": {}, "errors": []})
            return
        if self.path != f"/v1/jobs/{JOB}/events" or self.no_stream:
            self._json(
                404, {"data": None, "meta": {}, "errors": [{"code": "not_found", "message": "Not Found"}]}
            )
            return
        last = self.headers.get("Last-Event-ID")
        type(self).seen_ids.append(last)
        if last is None:
            events = [("v1", "job", _doc("running", 0.5))]
        else:
            events = [("v2", "end", _doc("succeeded", 1.0))]
        body = "retry: 10\n\n: keep-alive\n\n" + "".join(
            f"id: {i}\nevent: {e}\ndata: {json.dumps(d)}\n\n" for i, e, d in events
        )
        payload = body.encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


@pytest.fixture()
def scripted() -> Iterator[type[Scripted]]:
    handler = type("Handler", (Scripted,), {"seen_ids": [], "no_stream": False})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    handler.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield handler
    finally:
        server.shutdown()
        server.server_close()


def test_events_reconnect_with_last_event_id(scripted):
    with Client(scripted.url, "k", retries=1) as client:
        docs = list(client.events(JOB))
    assert [(d["state"], d["progress"]) for d in docs] == [("running", 0.5), ("succeeded", 1.0)]
    assert scripted.seen_ids == [None, "v1"]


def test_wait_falls_back_to_polling_without_the_stream(scripted):
    scripted.no_stream = True
    with Client(scripted.url, "k", retries=1) as client:
        done = client.wait(JOB, poll=0.05, timeout=10)
    assert done["state"] == "succeeded" and scripted.seen_ids == []
