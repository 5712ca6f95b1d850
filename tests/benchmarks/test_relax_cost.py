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
        assert main(argv) == 0
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
    assert "screen pass rate" in md and "| 2 |" in md
