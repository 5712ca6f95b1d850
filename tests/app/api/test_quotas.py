"""Per-key quotas: active jobs and queued samples → 429 with Retry-After and a message; a request that
can never fit → 422; an idempotent retry of an accepted job is not a new job; finished jobs free quota."""

from __future__ import annotations

import uuid

from sqlalchemy import update

from app.core.db import get_sessionmaker
from app.tables import Job, JobState
from tests.conftest import make_key

BODY = {"num_samples": 4, "seed": 1}


def test_active_job_quota_is_429_with_retry_after_until_a_job_finishes(client):
    key = make_key("quota-jobs", max_active_jobs=2)
    first = client.post("/v1/jobs", json=BODY, headers=key.headers)
    second = client.post("/v1/jobs", json=BODY, headers=key.headers)
    assert first.status_code == 202 and second.status_code == 202
    third = client.post("/v1/jobs", json=BODY, headers=key.headers)
    assert third.status_code == 429, third.text
    assert int(third.headers["Retry-After"]) > 0
    error = third.json()["errors"][0]
    assert error["code"] == "too_many_requests" and "2 queued or running jobs (limit 2)" in error["message"]
    # Another key is not affected.
    assert client.post("/v1/jobs", json=BODY).status_code == 202
    # A retry of an accepted job with its Idempotency-Key is answered, not refused.
    idem = {"Idempotency-Key": f"q-{uuid.uuid4()}", **key.headers}
    cancel = client.post(f"/v1/jobs/{first.json()['data']['id']}/cancel", headers=key.headers)
    assert cancel.status_code == 200  # frees one slot
    accepted = client.post("/v1/jobs", json=BODY, headers=idem)
    assert accepted.status_code == 202
    replay = client.post("/v1/jobs", json=BODY, headers=idem)
    assert replay.status_code == 202 and replay.json()["data"]["id"] == accepted.json()["data"]["id"]
    assert client.post("/v1/jobs", json=BODY, headers=key.headers).status_code == 429
    # A finished job no longer counts.
    with get_sessionmaker()() as s:
        s.execute(
            update(Job).where(Job.id == uuid.UUID(second.json()["data"]["id"])).values(state=JobState.succeeded)
        )
        s.commit()
    assert client.post("/v1/jobs", json=BODY, headers=key.headers).status_code == 202


def test_queued_samples_quota(client):
    key = make_key("quota-samples", max_queued_samples=10)
    assert client.post("/v1/jobs", json={**BODY, "num_samples": 6}, headers=key.headers).status_code == 202
    over = client.post("/v1/jobs", json={**BODY, "num_samples": 5}, headers=key.headers)
    assert over.status_code == 429 and over.headers["Retry-After"]
    assert "6 samples waiting or running" in over.json()["errors"][0]["message"]
    assert client.post("/v1/jobs", json={**BODY, "num_samples": 4}, headers=key.headers).status_code == 202
    never = client.post("/v1/jobs", json={**BODY, "num_samples": 11}, headers=key.headers)
    assert never.status_code == 422 and "split the request" in never.json()["errors"][0]["message"]


def test_service_default_quota_applies_to_keys_without_their_own(client, services):
    from fastapi.testclient import TestClient

    from app.core.config import Settings
    from app.main import create_app

    key = make_key("default-quota", max_active_jobs=None, max_queued_samples=None)
    with TestClient(create_app(Settings(max_active_jobs_per_key=1, quota_retry_after=17))) as c:
        assert c.post("/v1/jobs", json=BODY, headers=key.headers).status_code == 202
        r = c.post("/v1/jobs", json=BODY, headers=key.headers)
        assert r.status_code == 429 and r.headers["Retry-After"] == "17"
