"""The report writer: JSON + markdown with the required columns and provenance, from synthetic data."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks import inverse, sampling_report
from benchmarks.inverse import cell as inverse_cell
from benchmarks.inverse import grid as inverse_grid
from benchmarks.inverse.upgrade import SCHEMA
from benchmarks.report import write_suite
from benchmarks.settings import InverseSettings, SamplingSettings, target_grid
from benchmarks.variants import VariantInfo

INVERSE_COLUMNS = ["variant", "target", "γ", "n", "V", "SMACT", "SMACT not all-metal", "all-metal", "S", "S strict",
                   "hull gap flag", "U", "N", "known", "VSUN", "VSUN strict", "success", "mean abs err gap (eV)",
                   "mean abs err E_form (eV/atom)", "compositions", "space groups", "P1", "seconds"]
_key = inverse_grid.cell_key


def _result(variants: list[str], s: InverseSettings, results: dict, sweep: str | None = None) -> dict:
    """What ``benchmarks.inverse.assemble`` builds, without the corpus-band table (needs the corpus)."""
    grid = inverse.assemble_grid(variants, s, results)
    out = {"schema": SCHEMA, "grid": grid, "sweep": None, "sweep_variant_note": "x"}
    if sweep:
        out["sweep"] = inverse.assemble_sweep(sweep, s, results)
    return out


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
    results = {_key(v.name, t, s.guidance): synthetic_cell(t) for t in target_grid()}
    for t in s.sweep_targets:
        for g in (1.0, 4.0):
            results[_key(v.name, t, g)] = synthetic_cell(t, guidance=g)
    result = _result([v.name], s, results, sweep=v.name)
    grid = result["grid"]
    payload = _payload("inverse", v) | {"results": result}
    json_path, md_path = write_suite(tmp_path / "out", payload, inverse.markdown(result, s))

    md = md_path.read_text()
    header = next(line for line in md.splitlines() if line.replace(" ", "").startswith("|variant|target|"))
    assert [c.strip() for c in header.strip("|").split("|")] == INVERSE_COLUMNS
    assert "SMOKE RUN" in md and "PARTIAL: step 4000 of 8000" in md
    assert "`0123abcd`" in md and "ab" * 32 in md and "nproc 2" in md
    assert "- `dummy`: skipped — no shipped checkpoint at X" in md
    # band gap 3 eV: two of the four crystals are VSUN, one of them (2.9 eV) within ±0.5 eV
    row = next(r for r in grid["rows"] if r["target"] == "band gap 3 eV")
    assert row["vsun_rate"] == 0.5 and row["success_rate"] == 0.25 and row["n"] == 4
    assert row["unique_compositions"] == 4 and row["unique_spacegroups"] == 2
    cells = [c.strip() for c in next(line for line in md.splitlines() if "| band gap 3 eV " in line).strip("|").split("|")]
    assert cells == ["structure_only", "band gap 3 eV", "2", "4", "75.0 %", "75.0 %", "75.0 %", "0.0 %", "75.0 %",
                     "75.0 %", "0.0 %", "100.0 %", "100.0 %", "0.0 %", "50.0 %", "50.0 %", "25.0 %", "0.733", "–",
                     "4", "2", "0.0 %", "10"]
    assert "core-hours" in md
    # guided formation-energy errors (generated − target): −0.1, +0.5, +0.1 eV/atom at −2 eV/atom
    ef_rows = [[c.strip() for c in line.strip("|").split("|")] for line in md.splitlines()
               if line.startswith("| structure_only ") and "E_form -2 eV/atom" in line]
    assert ["structure_only", "E_form -2 eV/atom", "3", "-0.08", "+0.00", "+0.10", "+0.30", "+0.46", "67 %",
            "0 %"] in ef_rows
    png = inverse.plot(result, tmp_path, stamp="2026-01-01 · commit 0123abcd")
    assert [p.name for p in png][2] == "inverse_formation_energy_errors.png" and png[2].stat().st_size > 10_000

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
    cell = inverse_grid.rescore(uncond, {"band_gap": 1.0})
    assert cell["summary"]["success_rate"] == 0.25  # only MgO (1.0 eV) is VSUN and on target
    assert cell["guidance"] == 0.0 and "rescored_from" in cell
    assert uncond["records"][1]["target_errors"] == {}  # the source cell is not modified


def test_sampling_report_has_required_columns(tmp_path):
    v = _variant(tmp_path, step=8000)
    run = {"n": 10, "steps": 100, "torch_threads": 1, "structure_valid_rate": 0.9, "composition_valid_rate": 0.8,
           "valid_rate": 0.7, "seconds_per_structure": 0.5, "cpu_seconds_per_structure": 0.4, "mean_elements": 3.25,
           "composition_valid_not_all_metal_rate": 0.5, "all_metal_rate": 0.6, "known_match_rate": 0.1,
           "unique_formulas": 9, "p1_rate": 0.9}
    leak = {"descriptor_channels": "charge_dos", "crystals": 256, "masked_sites": 461, "t": 0.2, "seed": 1,
            "own": {"cross_entropy_nats": 0.2367, "top1_accuracy": 0.9479},
            "noise": {"cross_entropy_nats": 3.6191, "top1_accuracy": 0.2603}}
    result = {"training_mean_elements": 2.8015, "training_p1": {"p1": 8, "analysed": 1000, "rate": 0.008,
                                                                "symprec": 0.1, "seed": 0}, "variants": [v.as_dict() | {
        "param_count": 1234, "training_throughput": {"crystals_per_s_median": 200.0, "threads": 1},
        "unconditional": run, "guided": run, "steps_tradeoff": [run | {"steps": 1000}, run], "type_leak": leak}]}
    _, md_path = write_suite(tmp_path, _payload("sampling", v, quick=False) | {"results": result},
                             sampling_report.markdown(result, SamplingSettings()))
    md = md_path.read_text()
    assert "SMOKE RUN" not in md and "Partially trained" not in md
    for col in ("structurally valid", "SMACT valid", "s / structure", "CPU s / structure", "threads",
                "parameters", "crystals/s", "SMACT not all-metal", "matches a known crystal", "CE own descriptors"):
        assert col in md
    lines = md.splitlines()

    def row(prefix: str) -> list[str]:
        return [c.strip() for c in next(x for x in lines if x.startswith(prefix)).strip("|").split("|")]

    assert row("| structure_only | complete: step 8000 of 8000 | guided")[3:8] == ["10", "100", "90.0 %", "80.0 %",
                                                                                   "70.0 %"]
    assert row("| structure_only | guided ")[2:] == ["10", "3.25", "80.0 %", "50.0 %", "60.0 %", "10.0 %", "9", "90.0 %"]
    assert "symprec 0.1 Å; 1000 random training crystals: 0.8 % P1" in md
    assert row("| structure_only | charge_dos ")[4:] == ["0.237", "94.8 %", "3.619", "26.0 %"]
    assert "Training split: 2.80 distinct elements" in md
    assert row("| structure_only | 1000 ")[2:4] == ["10", "90.0 %"]


def test_crystals_with_too_many_elements_are_not_put_on_the_hull():
    """A 9-element cell (what an undertrained checkpoint emits) must not reach the hull builder."""
    from pymatgen.core import Lattice, Structure

    from models.sample import GeneratedCrystal

    symbols = ["Li", "Na", "K", "Mg", "Ca", "O", "S", "F", "Cl"]
    coords = [[i / 9, (2 * i % 9) / 9, (4 * i % 9) / 9] for i in range(9)]
    s = Structure(Lattice.cubic(8.0), symbols, coords)
    assert len(s.composition.elements) > inverse_cell.MAX_HULL_ELEMENTS
    records, summary = inverse_cell.evaluate_cell([GeneratedCrystal(s, None, None)] * 2, {"band_gap": 3.0}, 100)
    assert [r["hull_skipped"] for r in records] == [True, True]
    assert [r["unique"] for r in records] == [True, False]
    assert summary["n"] == 2 and summary["stable_rate"] == 0.0 and summary["success_rate"] == 0.0
    assert summary["structure_valid_rate"] == 1.0 and summary["stable_strict_rate"] == 0.0
    assert summary["settings"]["max_hull_elements"] == inverse_cell.MAX_HULL_ELEMENTS
    assert records[0]["cif"].startswith("# generated using pymatgen") and records[0]["relaxed_cif"] is None
    assert "cif" not in inverse_cell.light(records[0]) and records[0]["n_elements"] == 9


def test_pooled_rates_count_guided_cells_only_and_compare_to_structure_only(tmp_path, synthetic_cell, synthetic_records):
    """structure_only: 2 of 4 VSUN per cell; joint: 4 of 4. Pooled over the 7 guided targets → 14/28 vs
    28/28; the unconditional cell (made all-VSUN for structure_only) must not enter the pool."""
    s = InverseSettings(samples_per_cell=4)
    good = [dict(r, valid=True, stable=True, vsun=True) for r in synthetic_records]
    results = {}
    for v, recs in (("structure_only", None), ("charge_dos", good)):
        for t in target_grid():
            cell_recs = good if (t is None and v == "structure_only") else recs
            results[_key(v, t, s.guidance)] = synthetic_cell(t, records=cell_recs)
    result = _result(["structure_only", "charge_dos"], s, results)
    pooled = result["grid"]["pooled"]
    base, joint = pooled["variants"]["structure_only"], pooled["variants"]["charge_dos"]
    assert base["n"] == joint["n"] == 28
    assert base["vsun"]["k"] == 14 and joint["vsun"]["k"] == 28
    assert base["unconditional"]["vsun"]["k"] == 4 and base["unconditional"]["n"] == 4
    lo, hi = base["vsun"]["ci95"]
    assert lo == pytest.approx(0.3263, abs=1e-4) and hi == pytest.approx(0.6737, abs=1e-4)  # Wilson, 14/28
    assert joint["vsun"]["ci95"][1] == 1.0 and joint["vsun"]["ci95"][0] < 1.0
    d = joint["vs_structure_only"]["vsun"]
    assert d["difference"] == pytest.approx(0.5) and d["ci95"][0] > 0.25 and d["p_value"] < 1e-4
    assert "vs_structure_only" not in base
    md = "\n".join(inverse.markdown(result, s))
    assert "Pooled over the 7 guided targets" in md
    assert "| charge_dos     | 28  |" in md and "+50.0 pts [" in md
    assert "| joint > structure-only in VSUN rate " in md and "| supported " in md


def test_hull_skipped_cells_are_listed_once(tmp_path, synthetic_cell):
    """The sweep's γ = 2 rows are the grid's cells: a skipped crystal there must not be listed twice."""
    v = _variant(tmp_path, "charge_dos")
    s = InverseSettings(samples_per_cell=4)
    results = {_key(v.name, t, s.guidance): synthetic_cell(t) for t in target_grid()}
    for t in s.sweep_targets:
        for g in (1.0, 4.0):
            results[_key(v.name, t, g)] = synthetic_cell(t, guidance=g)
    results[_key(v.name, {"band_gap": 3.0}, 2.0)]["hull_skipped"] = 1
    results[_key(v.name, {"band_gap": 3.0}, 4.0)]["hull_skipped"] = 2
    md = "\n".join(inverse.markdown(_result([v.name], s, results, sweep=v.name), s))
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
    assert src.exists(), f"the committed {suite} result is missing"
    shutil.copy(src, tmp_path / src.name)
    md = rerender(tmp_path / src.name)
    assert md.read_text() == src.with_suffix(".md").read_text()
    assert json.loads((tmp_path / src.name).read_text()) == json.loads(src.read_text())


def test_old_records_get_the_new_flags_from_their_own_fields():
    """Results written before the flags existed still report them: each is a function of stored fields."""
    from benchmarks.inverse.upgrade import derive_flags

    old = {"formula": "Fe3Al", "valid": True, "stable": True, "unique": True, "novel": False,
           "matched_material_id": "mp-2", "e_above_hull": -0.2}
    rec = derive_flags(old)
    assert rec["all_metal"] and rec["known_match"] and rec["n_elements"] == 2
    assert rec["below_hull_flag"] and not rec["stable_strict"] and not rec["vsun_strict"]
    rec = derive_flags({**old, "formula": "NaCl", "novel": True, "matched_material_id": None, "e_above_hull": -0.01})
    assert not rec["all_metal"] and rec["known_match"] is False and rec["stable_strict"] and rec["vsun_strict"]
    assert derive_flags({**old, "novel": None})["known_match"] is None  # novelty not checked: unknown
    assert derive_flags({**old, "all_metal": False})["all_metal"] is False  # a stored flag wins
