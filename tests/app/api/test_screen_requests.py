"""Screened jobs, range targets and relax flags at submission (issue 17): accepted ones are planned for
their budget; bad ones are a 422 with a message, never a 500."""

from __future__ import annotations

import pytest

from tests.app.api.test_validation import assert_error


@pytest.mark.parametrize(
    ("body", "needles"),
    [
        ({"num_samples": 2, "screen": {"within_target": True}}, ["within_target needs a target"]),
        ({"num_samples": 2, "max_generated": 10}, ["max_generated is the budget of a screened job"]),
        ({"num_samples": 5, "max_generated": 4, "screen": {"valid": True}}, ["at least num_samples"]),
        ({"num_samples": 1, "target": {"band_gap": {"min": 3, "max": 2}}}, ["must not exceed max"]),
        ({"num_samples": 1, "target": {"band_gap": {"min": 2, "max": 11}}}, ["target.band_gap", "less than or equal to 10"]),
        ({"num_samples": 1, "target": {"band_gap": {"min": "2", "max": 3}}}, ["range: min", "valid number"]),
        ({"num_samples": 1, "target": {"band_gap": {"min": 2}}}, ["range: max", "required"]),
        ({"num_samples": 1, "target": {"formation_energy_per_atom": {"min": -7, "max": 0}}}, ["greater than or equal to -6"]),
        ({"num_samples": 1, "screen": {"novel": True, "stable": True}}, []),
        ({"num_samples": 1, "screen": {"e_above_hull_max": 99}}, []),
        ({"num_samples": 1, "relax": "no"}, []),
        ({"num_samples": 1, "max_generated": 0, "screen": {"valid": True}}, []),
    ],
)
def test_bad_screens_and_ranges_are_422(client, body, needles):
    assert_error(client.post("/v1/jobs", json=body), 422, *needles)


def test_range_target_is_a_guidance_value_and_a_screen(client):
    body = {"target": {"band_gap": {"min": 2, "max": 3}}, "num_samples": 3, "seed": 4}
    r = client.post("/v1/jobs", json=body)
    assert r.status_code == 202, r.text
    job = r.json()["data"]
    assert job["target"]["band_gap"] == {"min": 2.0, "max": 3.0} and job["relax"] is True
    screen = job["screen"]
    assert screen["spec"]["within_target"] and screen["spec"]["band_gap_range"] == [2.0, 3.0]
    assert screen["max_generated"] == 30 and screen["generated"] == 0 and screen["pass_rate"] is None
    assert job["num_chunks"] == 8  # the budget of 30 in chunks of 4 (sampled one after another)

    from app.core.db import get_sessionmaker
    from app.tables import Job

    with get_sessionmaker()() as session:
        row = session.get(Job, job["id"])
        assert row.target_band_gap == 2.5 and row.max_generated == 30  # guidance aims at the midpoint


def test_point_target_screen_uses_the_success_tolerance(client):
    body = {"target": {"band_gap": 0.2, "formation_energy_per_atom": -1.0}, "num_samples": 2, "seed": 1,
            "screen": {"within_target": True, "valid": True, "e_above_hull_max": 0.1, "unique": True, "novel": True},
            "max_generated": 6, "relax": False}
    job = client.post("/v1/jobs", json=body).json()["data"]
    spec = job["screen"]["spec"]
    assert spec["band_gap_range"] == [0.0, 0.7] and spec["formation_energy_range"] == [-1.2, -0.8]
    assert spec["novel"] and spec["unique"] and spec["e_above_hull_max"] == 0.1
    assert job["relax"] is False and job["phases"]["relaxation"] is None and job["num_chunks"] == 2
    plain = client.post("/v1/jobs", json={"num_samples": 1, "seed": 1}).json()["data"]
    assert plain["screen"] is None and plain["target"] == {"band_gap": None, "formation_energy_per_atom": None}
