"""Readiness and the models listing through the real uvicorn process, with a real worker."""

from __future__ import annotations

import pytest

pytestmark = [pytest.mark.integration]


def test_readyz_with_worker(http, worker):
    r = http.get("/readyz")
    assert r.status_code == 200, r.text
    assert r.json()["data"]["database"] == "ok" and r.json()["data"]["workers"]


def test_models_endpoint(http):
    data = http.get("/v1/models").json()["data"]
    assert {"name": "default", "default": True} in data


@pytest.mark.parametrize(
    ("raw", "status", "needle"),
    [
        ('{"target": {"band_gap": 2.5}, "num_samples": ', 400, "not valid JSON"),
        ('{"target": {"band_gap": NaN}, "num_samples": 1}', 422, "finite number"),
        ('{"target": {"band_gap": 99}, "num_samples": 1}', 422, "less than or equal to 10"),
        ('{"target": {"bulk_modulus": 100}, "num_samples": 1}', 422, "unknown property 'bulk_modulus'"),
        ('{"target": {"band_gap": 1}, "num_samples": 10001}', 422, "num_samples"),
    ],
)
def test_bad_inputs_over_http(http, raw, status, needle):
    """The same 4xx envelopes through the real uvicorn server (the in-process suite covers every case)."""
    r = http.post("/v1/jobs", content=raw, headers={"Content-Type": "application/json"})
    assert r.status_code == status, r.text
    body = r.json()
    assert body["data"] is None and needle in " ".join(e["message"] for e in body["errors"])


def test_unknown_job_over_http(http):
    r = http.get("/v1/jobs/00000000-0000-4000-8000-000000000000")
    assert r.status_code == 404 and r.json()["errors"][0]["code"] == "not_found"
