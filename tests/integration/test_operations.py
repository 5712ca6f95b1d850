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
