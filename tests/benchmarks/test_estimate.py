"""The full-run projection is plain arithmetic on measured CPU rates; check it on round numbers."""

from __future__ import annotations

import pytest

from benchmarks.estimate import WORKER_STARTUP_CPU_S, project
from benchmarks.settings import InverseSettings, SamplingSettings


def test_projection_arithmetic():
    run = {"n": 10, "steps": 100, "sampling_cpu_seconds": 10.0, "job_cpu_seconds": 10.0}
    sampling = {"variants": [{"guided": run, "unconditional": run | {"sampling_cpu_seconds": 5.0, "job_cpu_seconds": 5.0},
                              "steps_tradeoff": [run]}]}
    records = [{"structure_valid": True, "relax_steps": 49}, {"structure_valid": False}]
    cell = {"n": 2, "steps": 100, "relax_steps": 100, "generation_cpu_seconds": 0.0,
            "evaluation_cpu_seconds": 5.0, "records": records}
    inverse = {"grid": {"cells": {"c": cell}}}
    s = SamplingSettings(samples=100, steps_sweep=[200, 100], sweep_samples=10)
    i = InverseSettings(samples_per_cell=10, uncond_samples=20, relax_steps=100, sweep_targets=[{"band_gap": 3.0}])
    est = project(sampling, inverse, n_variants=1, default_steps=100, workers=2, s=s, i=i)
    # sampling: 0.01 s/crystal-step guided, 0.005 unconditional -> 100*100*0.015 + 10*200*0.01 = 170 s
    assert est["sampling"]["cpu_seconds"] == pytest.approx(170.0)
    # inverse: 7 guided cells × 10 + the unconditional 20 + 2 sweep cells (γ 1, 4) × 10 = 110 crystals; half
    # structurally valid; 0.1 s per FIRE step (5 s / (49 + 1) steps); 49 % of the cap used
    # -> 55 * (49 + 1) * 0.1 + generation 110 * 100 * 0.01
    assert est["inverse"]["crystals"] == 110 and est["inverse"]["cells"] == 10
    assert est["inverse"]["cpu_seconds_central"] == pytest.approx(55 * 50 * 0.1 + 110.0)
    assert est["inverse"]["cpu_seconds_upper"] == pytest.approx(55 * 101 * 0.1 + 110.0)
    assert est["inverse"]["cpu_s_per_crystal_central"] == pytest.approx((275 + 110) / 110)
    assert est["wall_hours_central"] == pytest.approx(((170 + 275 + 110) / 2 + WORKER_STARTUP_CPU_S) / 3600)
    assert est["core_hours_central"] == pytest.approx((170 + 275 + 110) / 3600)
    # DFT verification from the committed DFT reference: 30 crystals at 6,778 s in all + 4 timeouts at 600 s
    dft = est["dft_verification"]
    assert dft["crystals"] == 108 and dft["cpu_s_per_crystal"] == pytest.approx((6778 + 4 * 600) / 34, rel=1e-3)
