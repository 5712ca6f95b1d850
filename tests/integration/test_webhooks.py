"""Webhooks through HTTP with the real worker and the webhook worker: a loopback receiver gets the signed
job document when a job ends; failed attempts are retried with backoff and recorded; a redelivered task
never sends twice; hosts outside WEBHOOK_ALLOWED_HOSTS are refused (422) and never reached by a
redirect; deliveries follow the job's visibility (404 for other keys)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from mattergen_e.client import Client, verify_signature
from tests.conftest import REPO, KeyForTests, WorkerProcess, make_key, uvicorn_api
from tests.integration.helpers import submit, wait_terminal

pytestmark = [pytest.mark.integration]

# Small and quick: one chunk of the tiny model, no relaxation.
TINY_JOB = {"num_samples": 2, "seed": 5, "relax": False}


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """A loopback HTTP server: /ok answers 200; /flaky answers 500 to its first `fail_first` requests;
    /elsewhere answers 307 to a host the allow-list does not contain."""

    url: str
    requests: list[Received] = field(default_factory=list)
    fail_first: int = 2

    def on(self, path: str) -> list[Received]:
        return [r for r in self.requests if r.path == path]

    def wait_for(self, path: str, count: int, timeout: float = 60.0) -> list[Received]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(self.on(path)) >= count:
                return self.on(path)
            time.sleep(0.05)
        raise AssertionError(f"receiver got {len(self.on(path))} requests on {path}, wanted {count}")


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    state: dict = {}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 (http.server's naming)
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            rec: Receiver = state["receiver"]
            rec.requests.append(Received(self.path, dict(self.headers.items()), body))
            if self.path == "/elsewhere":
                self.send_response(307)
                self.send_header("Location", "http://example.org/stolen")
            elif self.path == "/flaky" and len(rec.on("/flaky")) <= rec.fail_first:
                self.send_response(500)
            else:
                self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):  # keep the test output clean
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state["receiver"] = Receiver(f"http://127.0.0.1:{server.server_address[1]}")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state["receiver"]
    finally:
        server.shutdown()
        server.server_close()


@dataclass(frozen=True)
class HookKey:
    key: KeyForTests
    webhook_secret: str


@pytest.fixture(scope="module")
def hook_key(services) -> HookKey:
    from app.core.db import get_sessionmaker
    from app.tables import ApiKey

    key = make_key("webhooks")
    with get_sessionmaker()() as s:
        secret = s.get(ApiKey, key.id).webhook_secret
    return HookKey(key, secret)


@pytest.fixture()
def api(api_url, hook_key) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=api_url, timeout=30, headers=hook_key.key.headers) as c:
        yield c


def _deliveries(api: httpx.Client, job_id: str, until, timeout: float = 60.0) -> list[dict]:
    deadline = time.monotonic() + timeout
    rows: list[dict] = []
    while time.monotonic() < deadline:
        r = api.get(f"/v1/jobs/{job_id}/deliveries")
        assert r.status_code == 200, r.text
        rows = r.json()["data"]
        if rows and until(rows[0]):
            return rows
        time.sleep(0.1)
    raise AssertionError(f"deliveries of {job_id} never got there: {rows}")


def test_finished_job_is_posted_signed_once(api, api_url, hook_key, receiver, worker, webhook_worker):
    job = submit(api, {**TINY_JOB, "callback_url": f"{receiver.url}/ok"})
    assert job["callback_url"] == f"{receiver.url}/ok" and job["links"]["deliveries"].endswith("/deliveries")
    assert api.get(f"/v1/jobs/{job['id']}/deliveries").json()["data"] == []  # nothing before it ends
    done = wait_terminal(api, job["id"])
    assert done["state"] == "succeeded", done

    (hit,) = receiver.wait_for("/ok", 1)
    assert verify_signature(hook_key.webhook_secret, hit.body, hit.headers)
    assert not verify_signature("whsec_someone-else", hit.body, hit.headers)
    doc = json.loads(hit.body)
    # The document is the one GET /v1/jobs/{id} answers, plus the event in meta.
    assert doc["data"] == api.get(f"/v1/jobs/{job['id']}").json()["data"]
    assert doc["meta"]["event"] == hit.headers["X-MatterGen-Event"] == "job.succeeded"

    (row,) = _deliveries(api, job["id"], lambda d: d["state"] == "delivered")
    assert row["id"] == hit.headers["X-MatterGen-Delivery"] == doc["meta"]["delivery_id"]
    assert row["attempts"] == 1 and row["last_status_code"] == 200 and row["last_error"] is None
    assert row["delivered_at"] and row["next_attempt_at"] is None
    assert [a["status_code"] for a in row["history"]] == [200]

    # A redelivered Celery message (e.g. after a worker restart) finds the delivery done: no second POST,
    # and the sweeper (every second here) does not send it again either.
    from app.core import webhooks
    from app.core.task_queue import get_task_queue

    webhooks.send_task(get_task_queue().celery, row["id"])
    time.sleep(3)
    assert len(receiver.on("/ok")) == 1
    assert api.get(f"/v1/jobs/{job['id']}/deliveries").json()["data"][0]["attempts"] == 1


def test_a_job_that_fails_in_the_worker_is_posted_as_job_failed(
    model_env, hook_key, receiver, webhook_worker, tmp_path
):
    """A real sampling worker whose checkpoint is unreadable fails the chunk, hence the job; the receiver
    gets the signed job document with event job.failed and the job's error."""
    broken = tmp_path / "broken.pt"
    broken.write_bytes(b"not a torch checkpoint")
    queue = "sampling-broken-model"  # only the broken worker listens here
    env = {**model_env, "CELERY_QUEUE": queue}
    sampler = WorkerProcess({**env, "MODEL_CHECKPOINT": str(broken)}, tmp_path, name="broken").start()
    try:
        with (
            uvicorn_api({**os.environ, **env}, tmp_path / "api.log") as url,
            httpx.Client(base_url=url, timeout=30, headers=hook_key.key.headers) as api,
        ):
            job = submit(api, {**TINY_JOB, "callback_url": f"{receiver.url}/failed"})
            done = wait_terminal(api, job["id"])
            assert done["state"] == "failed" and done["error"], done

            (hit,) = receiver.wait_for("/failed", 1)
            assert verify_signature(hook_key.webhook_secret, hit.body, hit.headers)
            doc = json.loads(hit.body)
            assert doc["meta"]["event"] == hit.headers["X-MatterGen-Event"] == "job.failed"
            assert doc["data"]["state"] == "failed" and doc["data"]["error"] == done["error"]
            (row,) = _deliveries(api, job["id"], lambda d: d["state"] == "delivered")
            assert row["event"] == "job.failed" and row["attempts"] == 1
    finally:
        sampler.stop()


def test_failing_receiver_is_retried_with_backoff_and_recorded(api, receiver, worker, webhook_worker):
    """Cancelled right after submission (the API sends the webhook itself); /flaky fails twice."""
    job = submit(
        api, {"num_samples": 400, "seed": 6, "relax": False, "callback_url": f"{receiver.url}/flaky"}
    )
    r = api.post(f"/v1/jobs/{job['id']}/cancel")
    assert r.status_code == 200 and r.json()["data"]["state"] == "cancelled", r.text

    hits = receiver.wait_for("/flaky", 3)
    assert all(h.headers["X-MatterGen-Event"] == "job.cancelled" for h in hits)
    assert len({h.headers["X-MatterGen-Delivery"] for h in hits}) == 1  # one delivery, three attempts
    (row,) = _deliveries(api, job["id"], lambda d: d["state"] == "delivered")
    assert row["event"] == "job.cancelled" and row["attempts"] == 3 and row["last_status_code"] == 200
    assert [a["status_code"] for a in row["history"]] == [500, 500, 200]
    assert "HTTP 500" in row["history"][0]["error"]
    # Exponential backoff: WEBHOOK_BACKOFF_BASE=0.5 s, then 1 s.
    at = [datetime.fromisoformat(a["at"]).timestamp() - a["seconds"] for a in row["history"]]
    assert at[1] - at[0] >= 0.4 and at[2] - at[1] >= 0.9


def test_redirect_to_a_host_outside_the_allow_list_is_not_followed(api, receiver, worker, webhook_worker):
    job = submit(
        api, {"num_samples": 400, "seed": 7, "relax": False, "callback_url": f"{receiver.url}/elsewhere"}
    )
    assert api.post(f"/v1/jobs/{job['id']}/cancel").status_code == 200
    (row,) = _deliveries(api, job["id"], lambda d: d["state"] == "failed", timeout=90)
    assert row["attempts"] == 4  # WEBHOOK_MAX_ATTEMPTS in the tests
    assert "'example.org' not followed" in row["last_error"] and "WEBHOOK_ALLOWED_HOSTS" in row["last_error"]
    assert row["last_status_code"] == 307 and row["next_attempt_at"] is None and row["delivered_at"] is None
    assert len(receiver.on("/elsewhere")) == 4


def test_callback_url_validation_and_visibility(api, api_url, receiver, worker, webhook_worker):
    for url, fragment in [
        ("https://hooks.example.org/x", "WEBHOOK_ALLOWED_HOSTS"),
        ("http://10.1.2.3/x", "WEBHOOK_ALLOWED_HOSTS"),
        ("ftp://127.0.0.1/x", "http:// or https://"),
        ("http://user:pw@127.0.0.1/x", "credentials"),
        ("127.0.0.1/x", "http:// or https://"),
    ]:
        r = api.post("/v1/jobs", json={**TINY_JOB, "callback_url": url})
        assert r.status_code == 422, (url, r.text)
        (err,) = r.json()["errors"]
        assert fragment in err["message"] and "callback_url" in err["field"], err
    assert api.post("/v1/jobs", json={**TINY_JOB, "callback_url": 5}).status_code == 422

    # Its deliveries are visible to its owner only (another key: 404, like the job itself).
    job = submit(api, {**TINY_JOB, "num_samples": 400, "callback_url": f"{receiver.url}/visibility"})
    other = make_key("webhooks-other")
    with httpx.Client(base_url=api_url, timeout=30, headers=other.headers) as c:
        assert c.get(f"/v1/jobs/{job['id']}/deliveries").status_code == 404
        assert c.get(f"/v1/jobs/{job['id']}").status_code == 404
    assert api.get("/v1/jobs/00000000-0000-0000-0000-000000000000/deliveries").status_code == 404
    with Client(api_url, api.headers["Authorization"].removeprefix("Bearer ")) as client:
        assert client.deliveries(job) == []
        client.cancel(job)
        deadline = time.monotonic() + 60
        while not (rows := client.deliveries(job)) or rows[0]["state"] != "delivered":
            assert time.monotonic() < deadline, rows
            time.sleep(0.1)
    assert rows[0]["event"] == "job.cancelled" and len(receiver.on("/visibility")) == 1


def test_keys_cli_shows_and_rotates_the_webhook_secret(services):
    env = {**os.environ, "DATABASE_URL": services.database_url}

    def keys(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "app.keys", *args],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )

    created = keys("create", "hook-cli")
    assert created.returncode == 0, created.stderr
    assert created.stdout.strip().startswith("mge_") and "\n" not in created.stdout.strip()
    first = created.stderr.split("webhook signing secret: ")[1].split()[0]
    assert first.startswith("whsec_")
    rotated = keys("rotate-secret", "hook-cli")
    assert rotated.returncode == 0, rotated.stderr
    assert rotated.stdout.strip().startswith("whsec_") and rotated.stdout.strip() != first
    assert keys("rotate-secret", "no-such-key").returncode == 1


def test_trigger_records_one_delivery_per_terminal_transition(job_factory):
    """Whatever code path ends a job (here plain SQL, as the reaper does), the trigger of migration 0006
    records exactly one delivery for it, with the event named after the state; jobs without a
    callback_url and non-terminal changes record none. No task is sent here (no dispatch)."""
    from sqlalchemy import text

    from app.core.db import get_engine

    hooked = job_factory(callback_url="http://127.0.0.1:9/never")
    plain = job_factory()
    with get_engine().begin() as conn:
        for job in (hooked, plain):
            conn.execute(text("UPDATE jobs SET state = 'running' WHERE id = :j"), {"j": job.id})
            conn.execute(text("UPDATE jobs SET state = 'failed', error = 'x' WHERE id = :j"), {"j": job.id})
            conn.execute(text("UPDATE jobs SET state = 'failed', error = 'y' WHERE id = :j"), {"j": job.id})
        rows = conn.execute(
            text(
                "SELECT job_id, event, url, state, attempts FROM webhook_deliveries WHERE job_id IN (:a, :b)"
            ),
            {"a": hooked.id, "b": plain.id},
        ).all()
    assert [tuple(r) for r in rows] == [(hooked.id, "job.failed", "http://127.0.0.1:9/never", "pending", 0)]


def test_cli_submit_with_callback_url_and_deliveries(api_url, hook_key, receiver, worker, webhook_worker):
    script = Path(sys.executable).with_name("mattergen-e")
    env = {**os.environ, "MATTERGEN_E_URL": api_url, "MATTERGEN_E_API_KEY": hook_key.key.secret}

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([str(script), *args], env=env, capture_output=True, text=True, timeout=120)

    submitted = run("--json", "submit", "-n", "400", "--seed", "8", "--callback-url", f"{receiver.url}/cli")
    assert submitted.returncode == 0, submitted.stderr
    job = json.loads(submitted.stdout)
    assert job["callback_url"] == f"{receiver.url}/cli"
    assert run("cancel", job["id"]).returncode == 0
    receiver.wait_for("/cli", 1)
    deadline = time.monotonic() + 30
    while "delivered" not in (listed := run("deliveries", job["id"])).stdout:
        assert time.monotonic() < deadline, listed
        time.sleep(0.2)
    assert "job.cancelled" in listed.stdout and "attempts 1" in listed.stdout
    refused = run("submit", "-n", "1", "--callback-url", "https://example.org/hook")
    assert refused.returncode == 1 and "WEBHOOK_ALLOWED_HOSTS" in refused.stderr
