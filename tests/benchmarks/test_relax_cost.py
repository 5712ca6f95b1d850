"""The relaxation-cost / screen benchmark on the tiny model at a tiny size (the full run is a
long job: README, "Long-running jobs")."""

from __future__ import annotations

import json

import pytest


@pytest.mark.slow
def test_relax_cost_benchmark_on_tiny_model(tmp_path, tiny_checkpoint, monkeypatch):
    from app.core.config import get_settings
    from benchmarks.relax_cost import main

    monkeypatch.setenv("RELAX_MAX_STEPS", "5")
    get_settings.cache_clear()
    try:
        argv = ["--checkpoint", str(tiny_checkpoint), "--samples", "3", "--targets", "2", "--out-dir", str(tmp_path)]
        assert main([*argv, "--work-dir", str(tmp_path / "work")]) == 0
    finally:
        get_settings.cache_clear()
    data = json.loads((tmp_path / "relax_cost.json").read_text())
    (target,) = data["targets"]
    assert data["max_steps"] == 5 and target["n"] == 3 and target["band_gap"] == 2.0
    rel = target["relaxation"]
    assert rel["relaxed"] + rel["failed"] == 3 and rel["converged"] <= rel["relaxed"]
    if rel["relaxed"]:
        assert rel["rmsd_angstrom"]["n"] == rel["relaxed"] and rel["rmsd_angstrom"]["median"] >= 0
        assert rel["steps"]["max"] <= 5
    cost = target["seconds_per_crystal"]
    assert cost["sampling"] > 0 and cost["relaxation"] >= 0 and set(cost) >= {"properties", "descriptors", "screen"}
    screen = target["screen"]
    assert 0 <= screen["passed"] <= 3 and screen["pass_rate"]["k"] == screen["passed"]
    assert screen["spec"]["band_gap_range"] == [1.5, 2.5]
    md = (tmp_path / "relax_cost.md").read_text()
    assert "screen pass rate" in md and "| 2 |" in md and "core-hours" in md
    assert data["pooled"]["n"] == 3 and len(rel["rmsd_values"]) == rel["rmsd_angstrom"]["n"]
    assert "dft" not in data and "screened" not in target  # the CIFs stay in the work dir's cache


@pytest.mark.slow
def test_relax_cost_dft_stage_resumes_from_the_target_cache(tmp_path, tiny_checkpoint, monkeypatch):
    """A second run with --dft reads the per-target cache (no sampling) and verifies its screen passes
    whose predicted gap is in the window, through the service's run_dft (stubbed here)."""
    import benchmarks.relax_cost as rc
    import worker.dft_run
    from app.core.config import get_settings
    from worker.dft_run import DftOutcome

    monkeypatch.setenv("RELAX_MAX_STEPS", "3")
    get_settings.cache_clear()
    base = ["--checkpoint", str(tiny_checkpoint), "--samples", "2", "--targets", "2", "3"]
    base += ["--out-dir", str(tmp_path), "--work-dir", str(tmp_path / "work")]
    try:
        assert rc.main(base) == 0
        (cache,) = [p for p in (tmp_path / "work").glob("target_*bg2_*.json")]
        rec = json.loads(cache.read_text())
        fake = {"target": 2.0, "index": 0, "passed": True, "band_gap_pred": 2.2, "window": [1.5, 2.5]}
        fake |= {"formula": "NaCl", "n_sites": 2, "cif": _nacl_cif(), "basis": "relaxed"}
        rec["screened"] = [fake, {**fake, "index": 1, "band_gap_pred": 2.8}]  # the second: gap outside
        cache.write_text(json.dumps(rec))
        monkeypatch.setattr(rc, "run_target", lambda *a, **k: pytest.fail("the cache was not used"))
        rec_dft = {"band_gap": 1.9, "charges": [0.8, -0.8], "dos": [[0.0] * 64] * 2, "species": ["Na", "Cl"]}
        monkeypatch.setattr(worker.dft_run, "run_dft", lambda *a, **k: DftOutcome(True, 3.0, record=rec_dft))
        assert rc.main([*base, "--dft", "5", "--dft-settings", '{"kpt_length": 3}', "--dft-max-seconds", "60"]) == 0
    finally:
        get_settings.cache_clear()
    data = json.loads((tmp_path / "relax_cost.json").read_text())
    s = data["dft"]["summary"]
    assert data["dft"]["settings"]["kpt_length"] == 3 and data["dft"]["max_seconds"] == 60
    ours = [c for c in s["crystals"] if c["formula"] == "NaCl"]
    assert len(ours) == 1 and ours[0]["dft_success"] is True and ours[0]["dft_band_gap"] == 1.9
    assert s["verified"] == s["candidates"] >= 1
    assert "DFT verification of the screened band-gap successes" in (tmp_path / "relax_cost.md").read_text()


def _nacl_cif() -> str:
    from pymatgen.core import Lattice, Structure

    return Structure(Lattice.cubic(4.0), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]]).to(fmt="cif")
