"""API keys and ownership, in-process against the real database: 401 without a valid key, 404 across
keys, read-all and admin scopes, per-key Idempotency-Keys, the optional public read."""

from __future__ import annotations

import uuid

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from app.api.auth import Caller
from app.core.db import get_sessionmaker
from app.services.api_keys import hash_key, revoke_keys
from app.tables import ApiKey, Job, Structure
from tests.conftest import make_key
from worker.tasks import run_chunk

BODY = {"target": {"band_gap": 1.0}, "num_samples": 2, "seed": 5}


@pytest.fixture()
def other(services):
    return make_key(f"other-{uuid.uuid4().hex[:6]}")


@pytest.fixture()
def owned_job(job_factory):
    """A finished job of the `api_key` key, with structures."""
    job = job_factory(num_samples=2, seed=31, steps=5)
    assert run_chunk(str(job.id), 0) == "committed"
    return job


def _structure_id(job_id) -> uuid.UUID:
    with get_sessionmaker()() as s:
        return s.scalar(select(Structure.id).where(Structure.job_id == job_id).limit(1))


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/v1/jobs"),
        ("post", "/v1/jobs"),
        ("get", "/v1/models"),
        ("get", f"/v1/jobs/{uuid.uuid4()}"),
        ("get", f"/v1/structures/{uuid.uuid4()}"),
    ],
)
def test_no_key_or_a_wrong_key_is_401(client, method, path):
    for headers in ({"Authorization": ""}, {"Authorization": "Bearer mge_not-a-key"}, {"Authorization": "Basic eA=="}):
        r = client.request(method, path, headers=headers, json=BODY if method == "post" else None)
        assert r.status_code == 401, (headers, r.text)
        assert r.headers["WWW-Authenticate"] == "Bearer"
        assert r.json()["errors"][0]["code"] == "unauthorized"


def test_healthz_stays_open_and_readyz_metrics_follow_the_setting(client, services):
    from app.core.config import Settings
    from app.main import create_app

    assert client.get("/healthz", headers={"Authorization": ""}).status_code == 200
    assert client.get("/metrics", headers={"Authorization": ""}).status_code == 200
    locked = create_app(Settings(ops_require_key=True, docs_enabled=False))
    with TestClient(locked) as c:
        assert c.get("/metrics").status_code == 401 and c.get("/readyz").status_code == 401
        assert c.get("/healthz").status_code == 200
        assert c.get("/docs").status_code == 404 and c.get("/openapi.json").status_code == 404
        key = make_key("ops")
        assert c.get("/metrics", headers=key.headers).status_code == 200


def test_keys_are_stored_hashed_and_revocation_takes_effect(client):
    key = make_key("revoke-me")
    with get_sessionmaker()() as s:
        row = s.get(ApiKey, key.id)
        assert row.key_hash == hash_key(key.secret) and key.secret not in (row.key_hash, row.prefix)
        assert key.secret.startswith(row.prefix)
    assert client.get("/v1/jobs", headers=key.headers).status_code == 200
    with get_sessionmaker()() as s:
        assert [k.id for k in revoke_keys(s, str(key.id))] == [key.id]
    r = client.get("/v1/jobs", headers=key.headers)
    assert r.status_code == 401 and "revoked" in r.json()["errors"][0]["message"]


def test_other_keys_get_404_for_every_job_and_structure_route(client, owned_job, other):
    jid, sid = owned_job.id, _structure_id(owned_job.id)
    mine = [f"/v1/jobs/{jid}", f"/v1/jobs/{jid}/structures", f"/v1/jobs/{jid}/archive",
            f"/v1/structures/{sid}", f"/v1/structures/{sid}.cif", f"/v1/structures/{sid}/dos"]
    for path in mine:
        assert client.get(path).status_code == 200, path  # the owner
        r = client.get(path, headers=other.headers)
        assert r.status_code == 404, (path, r.text)
        assert r.json()["errors"][0]["code"] == "not_found"
    # Not even a cancel: same 404, and the job is untouched.
    queued = client.post("/v1/jobs", json=BODY).json()["data"]
    assert client.post(f"/v1/jobs/{queued['id']}/cancel", headers=other.headers).status_code == 404
    assert client.get(f"/v1/jobs/{queued['id']}").json()["data"]["state"] == "queued"
    listed = client.get("/v1/jobs", params={"limit": 200}, headers=other.headers).json()
    assert listed["data"] == [] and listed["meta"]["total"] == 0
    own = client.get("/v1/jobs", params={"limit": 200}).json()["data"]
    assert {str(jid), queued["id"]} <= {j["id"] for j in own}


def test_read_all_sees_everything_but_cancels_only_its_own_and_admin_cancels_any(client, owned_job, other):
    reader, admin = make_key("lab-service", read_all=True), make_key("admin", is_admin=True)
    sid = _structure_id(owned_job.id)
    theirs = client.post("/v1/jobs", json=BODY, headers=other.headers).json()["data"]["id"]
    for key in (reader, admin):
        assert client.get(f"/v1/jobs/{owned_job.id}", headers=key.headers).status_code == 200
        assert client.get(f"/v1/jobs/{theirs}", headers=key.headers).status_code == 200
        assert client.get(f"/v1/structures/{sid}.cif", headers=key.headers).status_code == 200
        seen = client.get("/v1/jobs", headers=key.headers).json()["meta"]["total"]
        assert seen > client.get("/v1/jobs").json()["meta"]["total"]  # more than the owner's own jobs
    queued = client.post("/v1/jobs", json=BODY).json()["data"]
    r = client.post(f"/v1/jobs/{queued['id']}/cancel", headers=reader.headers)
    assert r.status_code == 403 and "read-all" in r.json()["errors"][0]["message"]
    r = client.post(f"/v1/jobs/{queued['id']}/cancel", headers=admin.headers)
    assert r.status_code == 200 and r.json()["data"]["state"] == "cancelled"


def test_idempotency_keys_are_scoped_to_the_api_key(client, other):
    idem = {"Idempotency-Key": f"shared-{uuid.uuid4()}"}
    mine = client.post("/v1/jobs", json=BODY, headers=idem)
    theirs = client.post("/v1/jobs", json={**BODY, "seed": 6}, headers={**idem, **other.headers})
    assert mine.status_code == 202 and theirs.status_code == 202, theirs.text
    assert mine.json()["data"]["id"] != theirs.json()["data"]["id"]
    again = client.post("/v1/jobs", json={**BODY, "seed": 6}, headers={**idem, **other.headers})
    assert again.json()["data"]["id"] == theirs.json()["data"]["id"]
    with get_sessionmaker()() as s:
        owners = {s.get(Job, uuid.UUID(r.json()["data"]["id"])).owner_key_id for r in (mine, theirs)}
    assert len(owners) == 2


def test_public_read_setting_serves_gets_without_a_key_but_never_writes(services, owned_job):
    from app.core.config import Settings
    from app.main import create_app

    with TestClient(create_app(Settings(public_read=True))) as c:
        assert c.get(f"/v1/jobs/{owned_job.id}").status_code == 200
        assert c.post("/v1/jobs", json=BODY).status_code == 401
        assert c.post(f"/v1/jobs/{owned_job.id}/cancel").status_code == 401


def test_caller_restricts_selects(services, owned_job, other):
    """The helper other routes use: a plain caller's select only returns its own rows."""
    owner = Caller(key_id=owned_job.owner_key_id, name="owner")
    stranger = Caller(key_id=other.id, name="other")
    everyone = Caller(key_id=None, name="reader", read_all=True)
    with get_sessionmaker()() as s:
        assert owned_job.id in s.scalars(owner.visible_jobs(select(Job.id))).all()
        assert s.scalars(stranger.visible_jobs(select(Job.id))).all() == []
        assert s.scalars(stranger.visible_structures(select(Structure.id))).all() == []
        assert len(s.scalars(owner.visible_structures(select(Structure.id).where(Structure.job_id == owned_job.id))).all()) == 2
        assert owned_job.id in s.scalars(everyone.visible_jobs(select(Job.id))).all()
