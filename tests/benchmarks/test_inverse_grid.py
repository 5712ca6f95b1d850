"""The inverse grid's job arguments say how each cell samples, and old cache entries keep their meaning."""

from __future__ import annotations

import json
from pathlib import Path

from benchmarks.inverse.grid import CELL_JOB_FN, grid_jobs
from benchmarks.jobs import Job
from benchmarks.report import inverse_settings_from
from benchmarks.settings import InverseSettings, inverse_settings
from benchmarks.variants import VariantInfo

VARIANT = VariantInfo("charge_dos", Path("charge_dos.pt"), Path("snap/charge_dos.pt"), "a" * 64)

RESULTS = Path(__file__).resolve().parents[2] / "benchmarks" / "results"


def test_cells_sample_with_charge_balance_closing_by_default_and_say_so():
    jobs = grid_jobs([VARIANT], inverse_settings(quick=False))
    assert jobs and all(j.fn == CELL_JOB_FN and j.kwargs["charge_balance"] is True for j in jobs)
    off = grid_jobs([VARIANT], inverse_settings(quick=False, charge_balance=False))
    assert all("charge_balance" not in j.kwargs for j in off)  # cell_job's own default: off
    assert {j.fingerprint() for j in jobs}.isdisjoint(j.fingerprint() for j in off)


def test_a_cell_cached_before_closing_existed_is_still_found_with_closing_off():
    """The committed grid's cells ran without closing; their stored job arguments have no flag, and the
    grid with closing off asks for exactly those arguments (the cache hit is right), with it on it does not."""
    s = InverseSettings(charge_balance=False)
    job = grid_jobs([VARIANT], s)[0]
    before = Job(job.key, job.fn, {k: v for k, v in job.kwargs.items() if k != "charge_balance"})
    assert before.fingerprint() == job.fingerprint()


def test_stored_results_without_the_flag_render_as_closing_off():
    payload = json.loads((RESULTS / "v2_claim_variants" / "inverse.json").read_text())
    assert "charge_balance" not in payload["settings"]
    assert inverse_settings_from(payload["settings"]).charge_balance is False
    assert "charge-balance closing off" in (RESULTS / "v2_claim_variants" / "inverse.md").read_text()
    assert inverse_settings_from({**payload["settings"], "charge_balance": True}).charge_balance is True
