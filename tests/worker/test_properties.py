"""Predicted properties in the worker: the real evaluation package on crystals it cannot fully handle,
and the guarantee that such crystals are stored (with nulls) instead of lost."""

from __future__ import annotations

import math
import os
import time

import numpy as np
import pytest
from pymatgen.core import Lattice, Structure
from sqlalchemy import select

from app.core.config import get_settings
from app.core.db import session_scope
from app.tables import Job, JobState
from app.tables import Structure as StructureRow
from models.evaluate.properties import MAX_CHGNET_ANGLES, chgnet_angle_count
from models.sample import GeneratedCrystal
from worker import properties, store
from worker.records import structure_record
from worker.tasks import run_chunk

MANY_ELEMENTS = ["Ba", "Li", "Lu", "Ta", "Tl", "Zn", "Co", "Bi", "B", "Te", "Se", "S"]
ROCK_SALT = Structure.from_spacegroup("Fm-3m", Lattice.cubic(5.64), ["Na", "Cl"], [[0, 0, 0], [0.5] * 3])


def awkward_crystals() -> dict[str, Structure]:
    rng = np.random.default_rng(0)
    return {
        "rock_salt": ROCK_SALT,
        # Two atoms 0.004 Å apart: structurally invalid, but CHGNet and the gap model still answer.
        "overlapping": Structure(Lattice.cubic(4.0), ["Na", "Cl"], [[0, 0, 0], [0, 0, 0.001]]),
        # One atom with no neighbour within CHGNet's 6 Å cutoff: CHGNet refuses, the gap model answers.
        "isolated_atom": Structure(Lattice.cubic(50.0), ["H"], [[0, 0, 0]]),
        # No elemental data for oganesson: the whole prediction raises.
        "unknown_element": Structure(Lattice.cubic(5.0), ["Og", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]]),
        # 20 atoms at 2 Å³/atom: CHGNet would need ~2 GB here (0.4 Å³/atom was OOM-killed at 22 GB).
        "dense": Structure(Lattice.cubic(40 ** (1 / 3)), ["Li", "O"] * 10, rng.random((20, 3))),
        # 0.4 Å³/atom: not even the band-gap features' neighbour list is built.
        "collapsed": Structure(Lattice.cubic(2.0), ["Li", "O"] * 10, rng.random((20, 3))),
        # 12 elements (as the tiny test model samples): a 12-dimensional phase diagram would take minutes.
        "many_elements": Structure(Lattice.cubic(10.0), MANY_ELEMENTS, rng.random((len(MANY_ELEMENTS), 3))),
    }


@pytest.fixture(scope="module")
def predicted() -> dict[str, dict]:
    crystals = awkward_crystals()
    return dict(zip(crystals, properties.predict_properties(list(crystals.values())), strict=True))


def test_well_formed_crystal_gets_every_property(predicted):
    p = predicted["rock_salt"]
    assert p["properties_status"] == "computed" and p["properties_errors"] is None
    assert 2.0 < p["band_gap_pred"] < 8.0  # NaCl: MP (PBE) gap 5.0 eV
    assert -2.5 < p["formation_energy_pred"] < -1.7  # MP: -2.1 eV/atom
    assert abs(p["e_above_hull_pred"]) < 0.1  # it is on the reference hull
    assert p["structurally_valid"] is True and p["smact_valid"] is True


def test_crystals_the_evaluator_cannot_fully_handle_get_nulls_and_reasons(predicted):
    overlapping = predicted["overlapping"]
    assert overlapping["structurally_valid"] is False and overlapping["smact_valid"] is True
    assert math.isfinite(overlapping["band_gap_pred"]) and math.isfinite(overlapping["formation_energy_pred"])

    isolated = predicted["isolated_atom"]
    assert isolated["properties_status"] == "partial" and math.isfinite(isolated["band_gap_pred"])
    assert isolated["formation_energy_pred"] is None and isolated["e_above_hull_pred"] is None
    assert "isolated atom" in isolated["properties_errors"]["energy"]

    unknown = predicted["unknown_element"]
    assert unknown["properties_status"] == "failed" and "Og" in unknown["properties_errors"]["all"]
    assert all(unknown[c] is None for c in properties.PROPERTY_COLUMNS)

    dense = predicted["dense"]
    assert (
        dense["properties_status"] == "partial" and "skipped CHGNet" in dense["properties_errors"]["energy"]
    )
    assert dense["band_gap_pred"] is not None and dense["formation_energy_pred"] is None

    many = predicted["many_elements"]
    assert many["properties_status"] == "partial" and many["e_above_hull_pred"] is None
    assert (
        math.isfinite(many["formation_energy_pred"]) and "12-element" in many["properties_errors"]["energy"]
    )

    collapsed = predicted["collapsed"]
    assert collapsed["properties_status"] == "partial" and collapsed["band_gap_pred"] is None
    assert "collapsed cell" in collapsed["properties_errors"]["band_gap"]
    assert collapsed["structurally_valid"] is not None  # validity is still judged


def test_dense_cells_never_reach_chgnet_quickly():
    """The guard is what keeps a collapsed sample from OOM-killing the worker: it must be cheap."""
    evaluator = properties.get_evaluator()
    assert evaluator is not None
    started = time.perf_counter()
    out = evaluator.predict(awkward_crystals()["dense"])
    assert time.perf_counter() - started < 2.0 and out["formation_energy_pred"] is None
    assert chgnet_angle_count(ROCK_SALT) < 1000 < MAX_CHGNET_ANGLES


def test_awkward_crystals_are_stored_not_lost(job_factory, client, predicted):
    """The storage path the worker runs (predict → record → commit) with crystals the evaluator chokes
    on: every one lands, with values or nulls, and the job completes."""
    crystals = awkward_crystals()
    job = job_factory(num_samples=len(crystals), chunk_size=len(crystals), seed=31)
    claim = store.claim_chunk(job.id, 0, "test", stale_after=30)
    assert claim is not None
    props = [predicted[name] for name in crystals]  # predict_properties' output for these crystals
    records = [
        structure_record(
            GeneratedCrystal(structure=s, charges=None, dos=None),
            sample_index=i,
            chunk_index=0,
            seed=claim.seed,
            model_name="awkward",
            checkpoint_sha256="0" * 64,
            guidance_scale=1.0,
            steps=1,
            properties=p,
        )
        for i, (s, p) in enumerate(zip(crystals.values(), props, strict=True))
    ]
    assert store.commit_chunk(claim, records, 0.1) == "committed"
    with session_scope() as s:
        assert s.get(Job, job.id).state == JobState.succeeded
        rows = s.scalars(
            select(StructureRow).where(StructureRow.job_id == job.id).order_by(StructureRow.sample_index)
        ).all()
        statuses = [r.properties_status for r in rows]
    assert statuses == ["computed", "computed", "partial", "failed", "partial", "partial", "partial"]

    listing = client.get(f"/v1/jobs/{job.id}/structures").json()
    assert listing["meta"]["predicted_properties"]["status_counts"] == {
        "computed": 2,
        "partial": 4,
        "failed": 1,
    }
    failed = listing["data"][3]
    assert failed["predicted"]["band_gap"] is None and failed["validity"]["valid"] is None
    detail = client.get(f"/v1/structures/{failed['id']}").json()
    assert detail["data"]["properties"]["status"] == "failed"
    assert "Og" in detail["data"]["properties"]["errors"]["all"]
    assert "raised" in detail["meta"]["predicted_properties"]["note"]
    invalid = client.get(f"/v1/jobs/{job.id}/structures", params={"structurally_valid": "false"}).json()
    indices = [r["sample_index"] for r in invalid["data"]]
    assert 1 in indices and not {0, 2, 3} & set(indices)  # 3 (failed) has no flag: excluded too
    assert all(r["validity"]["structurally_valid"] is False for r in invalid["data"])


def test_run_chunk_stores_structures_when_prediction_raises(job_factory, monkeypatch):
    """Fault injection: a predictor that raises on every crystal costs the properties, not the chunk."""
    evaluator = properties.get_evaluator()
    assert evaluator is not None

    def broken(structure, **kwargs):
        raise RuntimeError("predictor exploded")

    monkeypatch.setattr(evaluator, "quick_properties", broken)
    job = job_factory(num_samples=3, seed=32, steps=5)
    assert run_chunk(str(job.id), 0) == "committed"
    with session_scope() as s:
        assert s.get(Job, job.id).state == JobState.succeeded
        rows = s.scalars(select(StructureRow).where(StructureRow.job_id == job.id)).all()
    assert len(rows) == 3
    assert {r.properties_status for r in rows} == {"failed"} and {r.band_gap_pred for r in rows} == {None}
    assert "predictor exploded" in rows[0].properties_errors["all"]


@pytest.fixture()
def env_var():
    """Set an environment variable for one test, with the settings cache re-read on both sides."""
    saved: dict[str, str | None] = {}

    def set_(name: str, value: str) -> None:
        saved.setdefault(name, os.environ.get(name))
        os.environ[name] = value
        get_settings.cache_clear()

    yield set_
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    get_settings.cache_clear()


def test_disabled_setting_stores_nulls_and_says_so(job_factory, client, env_var):
    env_var("PREDICT_PROPERTIES", "false")
    job = job_factory(num_samples=2, seed=33, steps=5)
    assert run_chunk(str(job.id), 0) == "committed"
    listing = client.get(f"/v1/jobs/{job.id}/structures").json()
    assert [r["predicted"]["status"] for r in listing["data"]] == ["disabled", "disabled"]
    assert all(r["predicted"]["band_gap"] is None for r in listing["data"])
    meta = listing["meta"]["predicted_properties"]
    assert meta["predict_properties"] is False and meta["status_counts"] == {"disabled": 2}
    assert "PREDICT_PROPERTIES=false" in meta["notes"]["disabled"]


def test_without_the_evaluation_package_structures_are_stored_with_nulls(job_factory, monkeypatch):
    def missing_extra():
        raise ModuleNotFoundError("No module named 'chgnet'")

    properties.clear()
    monkeypatch.setattr(properties, "_load", missing_extra)
    try:
        job = job_factory(num_samples=2, seed=34, steps=5)
        assert run_chunk(str(job.id), 0) == "committed"
        with session_scope() as s:
            rows = s.scalars(select(StructureRow).where(StructureRow.job_id == job.id)).all()
        assert [r.properties_status for r in rows] == ["unavailable"] * 2
        assert "chgnet" in rows[0].properties_errors["all"] and rows[0].band_gap_pred is None
    finally:
        monkeypatch.undo()
        properties.clear()  # the next test loads the real evaluator again


def test_run_chunk_fills_properties_with_the_real_evaluator(job_factory):
    job = job_factory(num_samples=3, seed=35, steps=5)
    assert run_chunk(str(job.id), 0) == "committed"
    with session_scope() as s:
        rows = s.scalars(select(StructureRow).where(StructureRow.job_id == job.id)).all()
    assert len(rows) == 3 and {r.properties_status for r in rows} <= {"computed", "partial"}
    assert all(r.band_gap_pred is not None and r.band_gap_pred >= 0 for r in rows)
    assert all(isinstance(r.structurally_valid, bool) and isinstance(r.smact_valid, bool) for r in rows)


def test_loading_chgnet_leaves_the_process_thread_count_alone():
    """TORCH_THREADS is the worker's to set (worker process init); the evaluation library must not
    override it when it loads CHGNet."""
    import torch

    from models.evaluate.chgnet_calc import chgnet_model

    threads = torch.get_num_threads()
    wanted = 2 if threads != 2 else 3
    torch.set_num_threads(wanted)
    try:
        chgnet_model.cache_clear()
        chgnet_model()
        assert torch.get_num_threads() == wanted
    finally:
        torch.set_num_threads(threads)
