"""The report writer: JSON + markdown with the required columns and provenance, from synthetic data."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks import inverse, sampling
from benchmarks.report import write_suite
from benchmarks.settings import InverseSettings, SamplingSettings, target_grid
from benchmarks.variants import VariantInfo

INVERSE_COLUMNS = ["variant", "target", "γ", "n", "V", "S", "U", "N", "VSUN", "success", "mean abs err gap (eV)",
                   "mean abs err E_form (eV/atom)", "compositions", "space groups", "seconds"]


def _variant(tmp_path: Path, name: str = "structure_only", step: int = 4000) -> VariantInfo:
    ckpt = tmp_path / name / "model.pt"
    return VariantInfo(name, ckpt, ckpt, "ab" * 32, {"step": step, "max_steps": 8000, "param_count": 10})


def _payload(suite: str, variant: VariantInfo, quick: bool = True) -> dict:
    return {
        "suite": suite,
        "quick": quick,
        "provenance": {
            "git": {"commit": "0123abcd", "dirty": False},
            "machine": {"nproc": 2, "worker_processes": 2, "torch_threads_per_worker": 1},
            "date_start": "2026-01-01T00:00:00Z",
            "date_end": "2026-01-01T00:01:00Z",
            "wall_seconds": 60.0,
            "job_cpu_seconds": 100.0,
            "command": "python -m benchmarks.run --quick",
        },
        "settings": {},
        "variants": [variant.as_dict()],
        "skipped": [{"variant": "dummy", "reason": "no shipped checkpoint at X"}],
    }


def test_inverse_report_has_required_columns_and_provenance(tmp_path, synthetic_cell):
    v = _variant(tmp_path)
    s = InverseSettings(samples_per_cell=4)
    results = {inverse._cell_key(v.name, t, s.guidance): synthetic_cell(t) for t in target_grid()}
    for t in s.sweep_targets:
        for g in (1.0, 4.0):
            results[inverse._cell_key(v.name, t, g)] = synthetic_cell(t, guidance=g)
    grid = inverse.assemble_grid([v], s, results)
    sweep_v, note = inverse.sweep_variant([v], grid["rows"])
    result = {"grid": grid, "sweep": inverse.assemble_sweep(sweep_v, s, results), "sweep_variant_note": note}
    payload = _payload("inverse", v) | {"results": result}
    json_path, md_path = write_suite(tmp_path / "out", payload, inverse.markdown(result, s))

    md = md_path.read_text()
    header = next(line for line in md.splitlines() if line.startswith("| variant | target"))
    assert [c.strip() for c in header.strip("|").split("|")] == INVERSE_COLUMNS
    assert "SMOKE RUN" in md and "PARTIAL: step 4000 of 8000" in md
    assert "`0123abcd`" in md and "ab" * 32 in md and "nproc 2" in md
    assert "- `dummy`: skipped — no shipped checkpoint at X" in md
    # band gap 3 eV: two of the four crystals are VSUN, one of them (2.9 eV) within ±0.5 eV
    row = next(r for r in grid["rows"] if r["target"] == "band gap 3 eV")
    assert row["vsun_rate"] == 0.5 and row["success_rate"] == 0.25 and row["n"] == 4
    assert row["unique_compositions"] == 4 and row["unique_spacegroups"] == 2
    assert "| structure_only | band gap 3 eV | 2 | 4 | 75.0 % | 75.0 % | 100.0 % | 100.0 % | 50.0 % | 25.0 % | 0.733 | – | 4 | 2 | 10 |" in md

    data = json.loads(json_path.read_text())
    assert data["provenance"]["git"]["commit"] == "0123abcd"
    assert data["variants"][0]["checkpoint_sha256"] == "ab" * 32
    assert len(data["results"]["grid"]["rows"]) == len(target_grid())
    gammas = {(r["target"], r["gamma"]) for r in data["results"]["sweep"]["rows"]}
    assert ("band gap 3 eV", "1") in gammas and ("band gap 3 eV", "4") in gammas
    assert ("band gap 1 eV", "0 (re-scored unconditional)") in gammas


def test_gamma_zero_rows_rescore_unconditional_crystals(synthetic_cell):
    uncond = synthetic_cell(None)
    assert uncond["summary"]["success_rate"] == 0.5  # no target: success = VSUN
    cell = inverse.rescore(uncond, {"band_gap": 1.0})
    assert cell["summary"]["success_rate"] == 0.25  # only MgO (1.0 eV) is VSUN and on target
    assert cell["guidance"] == 0.0 and "rescored_from" in cell
    assert uncond["records"][1]["target_errors"] == {}  # the source cell is not modified


def test_sampling_report_has_required_columns(tmp_path):
    v = _variant(tmp_path, step=8000)
    run = {"n": 10, "steps": 100, "torch_threads": 1, "structure_valid_rate": 0.9, "composition_valid_rate": 0.8,
           "valid_rate": 0.7, "seconds_per_structure": 0.5, "cpu_seconds_per_structure": 0.4}
    result = {"variants": [v.as_dict() | {
        "param_count": 1234, "training_throughput": {"crystals_per_s_median": 200.0, "threads": 1},
        "unconditional": run, "guided": run, "steps_tradeoff": [run | {"steps": 1000}, run]}]}
    _, md_path = write_suite(tmp_path, _payload("sampling", v, quick=False) | {"results": result},
                             sampling.markdown(result, SamplingSettings()))
    md = md_path.read_text()
    assert "SMOKE RUN" not in md and "Partially trained" not in md
    for col in ("structurally valid", "SMACT valid", "s / structure", "CPU s / structure", "threads",
                "parameters", "crystals/s"):
        assert col in md
    assert "| structure_only | complete: step 8000 of 8000 | guided | 10 | 100 | 90.0 % | 80.0 % | 70.0 % | 0.500 |" in md
    assert "| structure_only | 1000 | 10 | 90.0 % |" in md


def test_crystals_with_too_many_elements_are_not_put_on_the_hull():
    """A 9-element cell (what an undertrained checkpoint emits) must not reach the hull builder."""
    from pymatgen.core import Lattice, Structure

    from models.sample import GeneratedCrystal

    symbols = ["Li", "Na", "K", "Mg", "Ca", "O", "S", "F", "Cl"]
    coords = [[i / 9, (2 * i % 9) / 9, (4 * i % 9) / 9] for i in range(9)]
    s = Structure(Lattice.cubic(8.0), symbols, coords)
    assert len(s.composition.elements) > inverse.MAX_HULL_ELEMENTS
    records, summary = inverse.evaluate_cell([GeneratedCrystal(s, None, None)] * 2, {"band_gap": 3.0}, 100)
    assert [r["hull_skipped"] for r in records] == [True, True]
    assert [r["unique"] for r in records] == [True, False]
    assert summary["n"] == 2 and summary["stable_rate"] == 0.0 and summary["success_rate"] == 0.0
    assert summary["structure_valid_rate"] == 1.0
    assert summary["settings"]["max_hull_elements"] == inverse.MAX_HULL_ELEMENTS


def test_pooled_rates_count_guided_cells_only_and_compare_to_structure_only(tmp_path, synthetic_cell, synthetic_records):
    """structure_only: 2 of 4 VSUN per cell; joint: 4 of 4. Pooled over the 7 guided targets → 14/28 vs
    28/28; the unconditional cell (made all-VSUN for structure_only) must not enter the pool."""
    s = InverseSettings(samples_per_cell=4)
    good = [dict(r, valid=True, stable=True, vsun=True) for r in synthetic_records]
    results = {}
    for v, recs in (("structure_only", None), ("charge_dos", good)):
        for t in target_grid():
            cell_recs = good if (t is None and v == "structure_only") else recs
            results[inverse._cell_key(v, t, s.guidance)] = synthetic_cell(t, records=cell_recs)
    variants = [_variant(tmp_path, "structure_only"), _variant(tmp_path, "charge_dos")]
    grid = inverse.assemble_grid(variants, s, results)
    pooled = grid["pooled"]
    base, joint = pooled["variants"]["structure_only"], pooled["variants"]["charge_dos"]
    assert base["n"] == joint["n"] == 28
    assert base["vsun"]["k"] == 14 and joint["vsun"]["k"] == 28
    lo, hi = base["vsun"]["ci95"]
    assert 0.32 < lo < 0.5 < hi < 0.68  # Wilson interval of 14/28 is [0.326, 0.674]
    assert joint["vsun"]["ci95"][1] == 1.0 and joint["vsun"]["ci95"][0] < 1.0
    d = joint["vs_structure_only"]["vsun"]
    assert abs(d["difference"] - 0.5) < 1e-12 and d["se"] > 0
    assert "vs_structure_only" not in base
    md = "\n".join(inverse.markdown({"grid": grid}, s))
    assert "Pooled over the 7 guided targets" in md
    assert "| charge_dos | 28 |" in md and "+50.0 ±" in md


def test_hull_skipped_cells_are_listed_once(tmp_path, synthetic_cell):
    """The sweep's γ = 2 rows are the grid's cells: a skipped crystal there must not be listed twice."""
    v = _variant(tmp_path, "charge_dos")
    s = InverseSettings(samples_per_cell=4)
    results = {inverse._cell_key(v.name, t, s.guidance): synthetic_cell(t) for t in target_grid()}
    for t in s.sweep_targets:
        for g in (1.0, 4.0):
            results[inverse._cell_key(v.name, t, g)] = synthetic_cell(t, guidance=g)
    results[inverse._cell_key(v.name, {"band_gap": 3.0}, 2.0)]["hull_skipped"] = 1
    results[inverse._cell_key(v.name, {"band_gap": 3.0}, 4.0)]["hull_skipped"] = 2
    grid = inverse.assemble_grid([v], s, results)
    result = {"grid": grid, "sweep": inverse.assemble_sweep(v, s, results), "sweep_variant_note": "x"}
    md = "\n".join(inverse.markdown(result, s))
    assert md.count("charge_dos / band gap 3 eV / γ 2: 1") == 1
    assert md.count("charge_dos / band gap 3 eV / γ 4: 2") == 1


@pytest.mark.parametrize("suite", ["inverse", "sampling"])
def test_committed_report_is_what_its_json_renders_to(tmp_path, suite):
    """The markdown a person reads and the JSON behind it never drift: re-rendering the committed JSON
    with the current report code gives the committed markdown (after a report fix, run
    ``python -m benchmarks.report benchmarks/results/<suite>.json``), and leaves the JSON as it was."""
    import shutil

    from benchmarks.report import rerender

    src = Path(__file__).resolve().parents[2] / "benchmarks" / "results" / f"{suite}.json"
    if not src.exists():
        pytest.skip(f"no committed {suite} result")
    shutil.copy(src, tmp_path / src.name)
    md = rerender(tmp_path / src.name)
    assert md.read_text() == src.with_suffix(".md").read_text()
    assert json.loads((tmp_path / src.name).read_text()) == json.loads(src.read_text())
