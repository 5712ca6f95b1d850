"""Every bad input gets a 4xx with a message in the {data, meta, errors} envelope — never a 500.

Runs the real app in-process against the real (embedded) PostgreSQL; no worker is needed because
validation happens before anything is queued.
"""

from __future__ import annotations

import uuid

import pytest

GOOD = {"target": {"band_gap": 2.5}, "num_samples": 1, "seed": 1}


def assert_error(r, status: int, *needles: str, code: str | None = None) -> dict:
    assert r.status_code == status, r.text
    body = r.json()
    assert body["data"] is None and body["errors"], body
    text = " ".join(e["message"] for e in body["errors"]).lower()
    for needle in needles:
        assert needle.lower() in text, (needle, body)
    if code:
        assert body["errors"][0]["code"] == code, body
    return body


@pytest.mark.parametrize(
    ("body", "needles", "code"),
    [
        (
            {"target": {"bandgap": 2.0}, "num_samples": 1},
            ["unknown property 'bandgap'", "supported: band_gap"],
            "unknown_field",
        ),
        (
            {"target": {"band_gap": 2.0, "density": 3}, "num_samples": 1},
            ["'density'", "supported"],
            "unknown_field",
        ),
        ({**GOOD, "temperature": 300}, ["unknown field", "temperature"], "unknown_field"),
        (
            {"target": {"band_gap": 50}, "num_samples": 1},
            ["target.band_gap", "less than or equal to 10"],
            None,
        ),
        (
            {"target": {"band_gap": -1}, "num_samples": 1},
            ["target.band_gap", "greater than or equal to 0"],
            None,
        ),
        (
            {"target": {"formation_energy_per_atom": -9}, "num_samples": 1},
            ["formation_energy_per_atom"],
            None,
        ),
        ({"target": {"formation_energy_per_atom": 3}, "num_samples": 1}, ["formation_energy_per_atom"], None),
        ({"target": {"band_gap": "high"}, "num_samples": 1}, ["target.band_gap"], None),
        ({**GOOD, "num_samples": 10_001}, ["num_samples", "10000"], None),
        ({**GOOD, "num_samples": 0}, ["num_samples"], None),
        ({**GOOD, "num_samples": 2.5}, ["num_samples"], None),
        ({"target": {"band_gap": 1.0}}, ["num_samples", "required"], "missing_field"),
        ({**GOOD, "guidance_scale": -1}, ["guidance_scale"], None),
        ({**GOOD, "seed": -3}, ["seed"], None),
        ({**GOOD, "steps": 0}, ["steps"], None),
        ({**GOOD, "num_atoms": {"min": 10, "max": 4}}, ["num_atoms.min (10) must not exceed"], None),
        ({**GOOD, "num_atoms": {"min": 1, "max": 500}}, ["num_atoms.max"], None),
        ({**GOOD, "allowed_elements": ["Na", "Xx"]}, ["unknown element", "Xx"], None),
        (
            {**GOOD, "allowed_elements": ["Na", "Cl"], "required_elements": ["O"]},
            ["not in allowed_elements"],
            None,
        ),
        ({**GOOD, "allowed_elements": []}, ["allowed_elements"], None),
        ([1, 2, 3], ["dictionary"], None),
    ],
)
def test_bad_job_bodies_are_422(client, body, needles, code):
    assert_error(client.post("/v1/jobs", json=body), 422, *needles, code=code)


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
def test_non_finite_targets_are_rejected(client, literal):
    raw = '{"target": {"band_gap": ' + literal + '}, "num_samples": 1}'
    r = client.post("/v1/jobs", content=raw, headers={"Content-Type": "application/json"})
    assert_error(r, 422, "finite number", "target.band_gap")


def test_non_finite_guidance_is_rejected(client):
    raw = '{"num_samples": 1, "guidance_scale": NaN}'
    assert_error(
        client.post("/v1/jobs", content=raw, headers={"Content-Type": "application/json"}), 422, "finite"
    )


@pytest.mark.parametrize(
    "raw", ['{"target": {"band_gap": 2.5}, "num_samples": ', "{'single': 'quotes'}", "not json"]
)
def test_malformed_json_is_400(client, raw):
    r = client.post("/v1/jobs", content=raw, headers={"Content-Type": "application/json"})
    assert_error(r, 400, "not valid json", code="malformed_json")


def test_empty_and_wrong_content_type_bodies_are_4xx(client):
    assert_error(client.post("/v1/jobs"), 422, "required")
    r = client.post("/v1/jobs", content="num_samples=1", headers={"Content-Type": "text/plain"})
    assert 400 <= r.status_code < 500 and r.json()["errors"]


def test_unknown_model_is_422(client):
    assert_error(
        client.post("/v1/jobs", json={**GOOD, "model": "no-such-model"}), 422, "unknown model", "available"
    )


def test_idempotency_key_too_long_is_422(client):
    assert_error(
        client.post("/v1/jobs", json=GOOD, headers={"Idempotency-Key": "k" * 300}), 422, "idempotency-key"
    )


@pytest.mark.parametrize(
    "path",
    [
        "/v1/jobs/{id}",
        "/v1/jobs/{id}/structures",
        "/v1/jobs/{id}/archive",
        "/v1/structures/{id}",
        "/v1/structures/{id}.cif",
        "/v1/structures/{id}/dos",
    ],
)
def test_unknown_ids_are_404(client, path):
    missing = uuid.uuid4()
    assert_error(client.get(path.format(id=missing)), 404, str(missing), code="not_found")


def test_cancel_unknown_job_is_404(client):
    assert_error(client.post(f"/v1/jobs/{uuid.uuid4()}/cancel"), 404, "not found")


def test_malformed_ids_are_422(client):
    assert_error(client.get("/v1/jobs/not-a-uuid"), 422, "job_id")
    assert_error(client.get("/v1/structures/42.cif"), 422, "structure_id")


def test_unknown_route_and_method(client):
    assert_error(client.get("/v2/nothing"), 404, "not found")
    assert_error(client.delete("/v1/jobs"), 405, "method not allowed")
