"""Relaxation, symmetry, self-consistency and screening through HTTP, against a real worker (CHGNet
FIRE capped at RELAX_MAX_STEPS=8 steps in the tests, the shipped descriptor predictor)."""

from __future__ import annotations

import math

import pytest
from pymatgen.core import Structure

from tests.integration.helpers import all_structures, submit, wait_terminal

pytestmark = [pytest.mark.integration]


def test_structures_are_relaxed_symmetrized_and_scored(http, worker):
    job = submit(http, {"target": {"band_gap": 2.0}, "num_samples": 4, "seed": 21})
    assert job["relax"] is True and job["phases"] == {"sampling": 0.0, "relaxation": 0.0}
    done = wait_terminal(http, job["id"])
    assert done["state"] == "succeeded", done
    assert done["phases"] == {"sampling": 1.0, "relaxation": 1.0} and done["progress"] == 1.0

    rows = all_structures(http, job["id"])
    assert len(rows) == 4
    relaxed = [r for r in rows if r["relaxed"]["status"] == "relaxed"]
    assert len(relaxed) >= 2, [r["relaxed"] for r in rows]
    for row in rows:
        assert row["relaxed"]["status"] in ("relaxed", "failed"), row["relaxed"]
        if row["relaxed"]["status"] == "failed":
            assert row["relaxed"]["error"] and row["predicted"]["basis"] == "generated"
    for row in relaxed:
        r = row["relaxed"]
        assert r["space_group"]["symprec"] == 0.1 and 1 <= r["space_group"]["number"] <= 230
        assert r["space_group"]["symbol"] and 0 <= r["steps"] <= 8 and isinstance(r["converged"], bool)
        assert r["converged"] or r["steps"] == 8
        assert math.isfinite(r["rmsd"]) and r["rmsd"] >= 0 and math.isfinite(r["energy_per_atom"])
        assert row["predicted"]["basis"] == "relaxed"
        c = row["consistency"]
        assert 0 <= c["charge_mae"] < 10 and -1 <= c["dos_cosine"] <= 1
        e_hull = row["predicted"]["e_above_hull"]
        if e_hull is not None:
            flagged = e_hull < -0.05
            assert (row["predicted"]["below_hull_flag"] == "reference hull lacks this chemical system") == flagged
    with_hull = [r for r in relaxed if r["predicted"]["e_above_hull"] is not None]
    assert with_hull, relaxed

    first = relaxed[0]
    detail = http.get(f"/v1/structures/{first['id']}").json()["data"]
    generated = Structure.from_dict(detail["structure"])
    relaxed_structure = Structure.from_dict(detail["relaxed"]["structure"])
    assert len(relaxed_structure) == len(generated) == first["n_sites"]
    assert [s.specie.symbol for s in relaxed_structure] == [s.specie.symbol for s in generated]
    assert len(detail["relaxed"]["predicted_charges"]) == first["n_sites"]
    assert len(detail["relaxed"]["predicted_dos"]) == first["n_sites"] and detail["relaxed"]["descriptor_predictor_sha256"]
    assert detail["consistency"]["charge_mae"] == first["consistency"]["charge_mae"]

    sym = http.get(f"/v1/structures/{first['id']}.cif", params={"symmetrized": "true"})
    assert sym.status_code == 200 and "symprec 0.1" in sym.text
    assert f"_symmetry_Int_Tables_number   {first['relaxed']['space_group']['number']}" in sym.text
    assert Structure.from_str(sym.text, fmt="cif").composition.reduced_formula == first["reduced_formula"]
    p1 = http.get(f"/v1/structures/{first['id']}.cif", params={"relaxed": "true"})
    assert p1.status_code == 200 and len(Structure.from_str(p1.text, fmt="cif")) == first["n_sites"]

    ordered = all_structures(http, job["id"], sort="consistency_charge_mae")
    maes = [r["consistency"]["charge_mae"] for r in ordered if r["consistency"]["charge_mae"] is not None]
    assert maes == sorted(maes) and len(maes) >= len(relaxed)
    desc = all_structures(http, job["id"], sort="-consistency_dos_cosine")
    cos = [r["consistency"]["dos_cosine"] for r in desc if r["consistency"]["dos_cosine"] is not None]
    assert cos == sorted(cos, reverse=True)
    cut = sorted(maes)[len(maes) // 2]
    kept = all_structures(http, job["id"], consistency_charge_mae_max=cut)
    assert {r["id"] for r in kept} == {r["id"] for r in ordered if (r["consistency"]["charge_mae"] or 1e9) <= cut}
    group = first["relaxed"]["space_group"]["number"]
    same = all_structures(http, job["id"], relaxed_space_group=group)
    assert first["id"] in {r["id"] for r in same}
    assert http.get(f"/v1/jobs/{job['id']}/structures", params={"sort": "bogus"}).status_code == 422


def test_relax_false_keeps_the_generated_structure(http, worker):
    job = submit(http, {"num_samples": 1, "seed": 5, "relax": False})
    assert wait_terminal(http, job["id"])["state"] == "succeeded"
    (row,) = all_structures(http, job["id"])
    assert row["relaxed"]["status"] == "skipped" and row["relaxed"]["rmsd"] is None
    assert row["predicted"]["basis"] == "generated"
    r = http.get(f"/v1/structures/{row['id']}.cif", params={"symmetrized": "true"})
    assert r.status_code == 404 and "skipped" in r.json()["errors"][0]["message"]


def test_screened_job_stops_at_its_count(http, worker):
    body = {"num_samples": 2, "seed": 31, "screen": {"unique": True}, "max_generated": 12}
    job = submit(http, body)
    assert job["num_chunks"] == 3 and job["screen"]["max_generated"] == 12
    done = wait_terminal(http, job["id"])
    assert done["state"] == "succeeded", done
    screen = done["screen"]
    assert screen["stopped"] == "count" and screen["passed"] >= 2
    assert screen["generated"] == 4 and done["chunks_done"] == 1  # the first chunk sufficed
    assert screen["pass_rate"] == pytest.approx(screen["passed"] / screen["generated"], abs=1e-4)
    passed = all_structures(http, job["id"], passed="true")
    assert len(passed) == screen["passed"] and all(r["screen"]["checks"]["unique"] for r in passed)
    assert len(all_structures(http, job["id"])) == 4  # every generated crystal is kept


def test_screened_job_stops_when_its_budget_is_spent(http, worker):
    # A band-gap range no generated crystal of the tiny model reaches: nothing passes.
    body = {"target": {"band_gap": {"min": 9.7, "max": 10.0}}, "num_samples": 2, "seed": 41, "max_generated": 8}
    job = submit(http, body)
    assert job["target"]["band_gap"] == {"min": 9.7, "max": 10.0}
    assert job["screen"]["spec"]["within_target"] and job["screen"]["spec"]["band_gap_range"] == [9.7, 10.0]
    done = wait_terminal(http, job["id"])
    assert done["state"] == "succeeded", done
    assert done["screen"]["stopped"] == "budget" and done["screen"]["generated"] == 8
    assert done["screen"]["passed"] == 0 and done["screen"]["pass_rate"] == 0.0 and done["chunks_done"] == 2
    rows = all_structures(http, job["id"], passed="false", fields="predicted,screen")
    assert len(rows) == 8
    assert all(r["screen"]["checks"]["within_target"] is not True for r in rows)
    assert all(r["predicted"]["band_gap"] is None or r["predicted"]["band_gap"] < 9.7 for r in rows)
