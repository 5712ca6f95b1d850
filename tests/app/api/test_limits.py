"""Bounded, strict input: 413 over the body limit (declared or streamed), integers beyond column ranges
and elements outside the model's Z = 1..100 are 422, no bool/str → number coercion; CORS is off unless
origins are configured."""

from __future__ import annotations

import uuid

import pytest
from fastapi.testclient import TestClient

from app.core.config import Settings
from app.main import create_app
from app.schemas.bounds import MODEL_MAX_Z, model_elements

GOOD = {"num_samples": 1, "seed": 1}


def test_body_over_the_limit_is_413_whether_declared_or_streamed(client):
    from app.core.config import get_settings

    limit = get_settings().max_body_bytes
    big = b'{"num_samples": 1, "model": "' + b"x" * (limit + 10) + b'"}'
    r = client.post("/v1/jobs", content=big, headers={"Content-Type": "application/json"})
    assert r.status_code == 413, r.text
    assert r.json()["errors"][0]["code"] == "payload_too_large" and str(limit) in r.json()["errors"][0]["message"]

    def stream():  # no Content-Length: the limit is enforced while reading
        for start in range(0, len(big), 4096):
            yield big[start : start + 4096]

    r = client.post("/v1/jobs", content=stream(), headers={"Content-Type": "application/json"})
    assert r.status_code == 413, r.text
    assert client.post("/v1/jobs", json=GOOD).status_code == 202  # small bodies still fine


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/v1/jobs", {"offset": 9223372036854775808}),
        ("/v1/jobs", {"offset": 2**31}),
        ("/v1/jobs/{id}/structures", {"n_sites_min": 2147483648}),
        ("/v1/jobs/{id}/structures", {"n_sites_max": 10**30}),
        ("/v1/jobs/{id}/structures", {"offset": 9223372036854775808}),
        ("/v1/jobs/{id}/structures", {"space_group": 2**40}),
        ("/v1/jobs/{id}/structures", {"elements": "Og"}),
        ("/v1/jobs/{id}/structures", {"formula": "x" * 300}),
    ],
)
def test_integers_beyond_column_ranges_are_422(client, job_factory, path, params):
    job = job_factory()
    r = client.get(path.format(id=job.id), params=params)
    assert r.status_code == 422, r.text
    assert r.json()["errors"][0]["field"] == next(iter(params))


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({**GOOD, "allowed_elements": ["Og"]}, "allowed_elements"),  # Z = 118: the model has no class
        ({**GOOD, "allowed_elements": ["Fm", "Md"]}, "allowed_elements"),  # Z = 100 ok, 101 not
        ({**GOOD, "allowed_elements": ["D"]}, "allowed_elements"),  # deuterium is not an element symbol here
        ({**GOOD, "required_elements": ["T"]}, "required_elements"),
        ({**GOOD, "allowed_elements": ["Li" * 40]}, "allowed_elements.0"),
        ({"num_samples": True, "seed": 1}, "num_samples"),
        ({"num_samples": "2", "seed": 1}, "num_samples"),
        ({"num_samples": 2.0, "seed": 1}, "num_samples"),
        ({**GOOD, "guidance_scale": "2.5"}, "guidance_scale"),
        ({**GOOD, "guidance_scale": False}, "guidance_scale"),
        ({**GOOD, "target": {"band_gap": "1.5"}}, "target.band_gap"),
        ({**GOOD, "num_atoms": {"min": True, "max": 4}}, "num_atoms.min"),
        ({**GOOD, "seed": 2**31}, "seed"),
        ({**GOOD, "steps": 10**12}, "steps"),
    ],
)
def test_unsupported_elements_and_coercions_are_422_at_submission(client, body, field):
    r = client.post("/v1/jobs", json=body)
    assert r.status_code == 422, r.text
    assert field in {e["field"] for e in r.json()["errors"]}, r.json()


def test_every_element_of_the_model_is_accepted_and_an_int_is_a_float(client):
    assert len(model_elements()) == MODEL_MAX_Z and "Fm" in model_elements() and "Md" not in model_elements()
    r = client.post("/v1/jobs", json={**GOOD, "allowed_elements": ["H", "Fm"], "guidance_scale": 2})
    assert r.status_code == 202, r.text
    assert r.json()["data"]["guidance_scale"] == 2.0


def test_model_range_matches_the_model_code():
    from models.diffusion.batch import NUM_ELEMENTS

    assert MODEL_MAX_Z == NUM_ELEMENTS


def test_cors_is_off_by_default_and_follows_configured_origins(client, services):
    preflight = {"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"}
    r = client.options("/v1/jobs", headers=preflight)
    assert "access-control-allow-origin" not in r.headers
    r = client.get("/healthz", headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in r.headers

    app = create_app(Settings(cors_origins=["https://lab.example"]))
    with TestClient(app) as c:
        ok = c.options(
            "/v1/jobs",
            headers={"Origin": "https://lab.example", "Access-Control-Request-Method": "POST",
                     "Access-Control-Request-Headers": "authorization,content-type"},
        )
        assert ok.status_code == 200 and ok.headers["access-control-allow-origin"] == "https://lab.example"
        denied = c.get("/healthz", headers={"Origin": "https://evil.example"})
        assert "access-control-allow-origin" not in denied.headers


def test_unknown_ids_in_other_shapes_are_422_not_500(client):
    assert client.get(f"/v1/jobs/{uuid.uuid4()}x").status_code == 422
    assert client.get("/v1/jobs", params={"state": "exploded"}).status_code == 422
