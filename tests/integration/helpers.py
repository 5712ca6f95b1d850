"""Polling helpers shared by the integration tests."""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx

TERMINAL = {"succeeded", "failed", "cancelled"}


def submit(http: httpx.Client, body: dict, headers: dict | None = None) -> dict:
    r = http.post("/v1/jobs", json=body, headers=headers or {})
    assert r.status_code == 202, r.text
    return r.json()["data"]


def wait_for(
    http: httpx.Client,
    job_id: str,
    until: Callable[[dict], bool],
    timeout: float = 90.0,
    interval: float = 0.1,
) -> dict:
    deadline = time.monotonic() + timeout
    job: dict = {}
    while time.monotonic() < deadline:
        job = http.get(f"/v1/jobs/{job_id}").json()["data"]
        if until(job):
            return job
        time.sleep(interval)
    raise AssertionError(f"timed out waiting on job {job_id}; last state {job}")


def wait_terminal(http: httpx.Client, job_id: str, timeout: float = 120.0) -> dict:
    return wait_for(http, job_id, lambda j: j["state"] in TERMINAL, timeout)


def all_structures(http: httpx.Client, job_id: str, **params) -> list[dict]:
    out, offset = [], 0
    while True:
        r = http.get(f"/v1/jobs/{job_id}/structures", params={"limit": 100, "offset": offset, **params})
        assert r.status_code == 200, r.text
        body = r.json()
        out.extend(body["data"])
        if body["meta"]["next_offset"] is None:
            return out
        offset = body["meta"]["next_offset"]
