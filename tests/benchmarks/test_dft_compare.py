"""DFT comparison, verification success rate and reports, on fabricated DFT outcomes."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from benchmarks.dft import compare as cmp
from benchmarks.dft import report as rep
from benchmarks.dft import selection as selmod
from benchmarks.dft import store as st
from benchmarks.dft.__main__ import RESULTS_DIR, _physical
from tests.benchmarks.dft_fixtures import (
    SETUPS,
    TINY,
    _dos,
    _outcome,
    _row,
)


def test_verify_selects_relaxed_gap_successes_with_their_generated_descriptors(verify_bench):
    sel = selmod.collect_candidates(verify_bench, "charge_dos", setups=SETUPS, mode="verify")
    assert sel.counts["successes"] == 2 and sel.counts["selected"] == 2
    by = {c.formula: c for c in sel.candidates}
    nacl = by["NaCl"]
    assert "__relaxed__" in nacl.crystal_id and nacl.target == {"band_gap": 3.0}
    assert nacl.structure.lattice.a == pytest.approx(5.64 / np.sqrt(2), abs=1e-4)  # the relaxed cell
    # sampled Cl, Na: the DFT child parses Na first, and the generated charges follow their sites
    assert [x.specie.symbol for x in nacl.structure] == ["Na", "Cl"] and nacl.charges.tolist() == [0.7, -0.6]


def test_verify_success_rate_and_report(tmp_path, verify_bench):
    sel = selmod.collect_candidates(verify_bench, "charge_dos", setups=SETUPS, mode="verify")
    by = {c.formula: c for c in sel.candidates}
    outcomes = {by["NaCl"].crystal_id: _outcome(by["NaCl"], True, TINY, [0.8, -0.8]),  # DFT gap 4.5 eV: a miss
                by["MgO"].crystal_id: _outcome(by["MgO"], True, TINY, [1.5, -1.5])}
    outcomes[by["MgO"].crystal_id]["dft"]["band_gap"] = 3.4  # within ±0.5 eV of 3 eV: confirmed
    res = cmp.compare(sel.candidates, outcomes, use_predictor=False)
    assert res["dft_success"]["k"] == 1 and res["dft_success"]["n"] == 2
    assert res["dft_success"]["ci95"][0] < 0.5 < res["dft_success"]["ci95"][1]
    assert res["dft_success"]["n_unfinished"] == 0
    # The dummy control's generated values are not charges: never scored against DFT.
    assert not _physical("dummy") and _physical("charge_dos") and _physical("structure_only")
    control = cmp.compare(sel.candidates, outcomes, use_predictor=False, generated_is_physical=False)
    assert control["comparisons"]["generated"] is None and "dummy control" in control["notes"][0]
    assert control["dft_success"] == res["dft_success"]
    # A crystal DFT did not finish is left out of the rate and counted as a miss in its bound.
    timed_out = {**outcomes, by["MgO"].crystal_id: {"ok": False, "reason": "timeout", "message": "600 s"}}
    res_cut = cmp.compare(sel.candidates, timed_out, use_predictor=False)
    cut = res_cut["dft_success"]
    assert (cut["k"], cut["n"], cut["n_unfinished"]) == (0, 1, 1)
    assert (cut["if_unfinished_missed"]["k"], cut["if_unfinished_missed"]["n"]) == (0, 2)
    assert "Counting the 1 crystal(s) DFT did not finish as misses: 0.0 % (0/2)" in rep.markdown(
        rep.build_payload("charge_dos", verify_bench, sel, res_cut, TINY, 600.0, st.ReferenceStore(tmp_path / "t"),
                          {"git": {}, "machine": {}}, mode="verify"))
    gen = res["comparisons"]["generated"]
    assert gen["charge_mae_e"] == pytest.approx((0.1 + 0.2 + 1.5 + 1.5) / 4) and gen["dos_emd_mean_ev"] == 0.0
    prov = {"git": {"commit": "c0ffee"}, "machine": {}, "command": "x", "date_start": "a", "date_end": "b",
            "wall_seconds": 1}
    payload = rep.build_payload("charge_dos", verify_bench, sel, res, TINY, 600.0, st.ReferenceStore(tmp_path / "s"),
                                prov, mode="verify")
    md = rep.markdown(payload)
    assert "DFT verification of the judges' successes" in md and "**CHGNet-relaxed** cell" in md
    assert "**DFT success rate**" in md and "50.0 % (1/2)" in md and "fewer than the 30" in md


def test_verification_summary_reaches_the_headline(tmp_path):
    """``verify`` attaches its summary to inverse.json; the re-rendered headline reads the Bader MAE."""

    from benchmarks.dft.__main__ import attach_to_inverse

    shutil.copy(RESULTS_DIR / "inverse.json", tmp_path / "inverse.json")
    payload = {"variant": "charge_dos", "results": {
        "comparisons": {"generated": {"charge_mae_e": 0.2, "n_crystals": 31, "n_sites_charge": 250},
                        "element_mean": {"charge_mae_e": 0.35}},
        "dft_success": {"k": 12, "n": 31, "rate": 12 / 31, "ci95": [0.24, 0.56]}}}
    attach_to_inverse(tmp_path, {"charge_dos": payload})
    data = json.loads((tmp_path / "inverse.json").read_text())
    grid = data["results"]["grid"]
    bg = [r for key, cell in grid["cells"].items() if key.startswith("inverse__charge_dos__bg")
          and key.endswith(f"__g{grid['pooled']['guidance']:g}") for r in cell["records"]]
    est = data["results"]["dft_verification"]["dft_confirmed_band_gap_success_by_variant"]["charge_dos"]
    assert est["judged"]["n"] == len(bg) > 0 and est["judged"]["k"] == sum(bool(r["success"]) for r in bg)
    assert est["rate"] == pytest.approx(est["judged"]["rate"] * 12 / 31)
    md = (tmp_path / "inverse.md").read_text()
    assert "| band-gap success as DFT would judge it (charge_dos)" in md
    row = next(line for line in md.splitlines() if line.startswith("| generated Bader charges"))
    assert "0.200 e" in row and "31 crystals, 250 sites" in row and "not reproduced (3.6×" in row
    assert "| judge band-gap successes confirmed by DFT (charge_dos)" in md and "38.7 % (12/31)" in md


def test_compare_and_report_on_fabricated_dft(tmp_path, bench):
    from models.data.descriptors.store import ResultWriter

    sel = selmod.collect_candidates(bench, "charge_dos", setups=SETUPS, regenerate=False)
    nacl, mgo, _aln = sel.candidates
    outcomes = {
        nacl.crystal_id: _outcome(nacl, True, TINY, [0.8, -0.8]),
        mgo.crystal_id: _outcome(mgo, False, TINY, reason="timeout", message="killed after 400 s"),
    }
    corpus = tmp_path / "corpus_dft"  # the per-element-mean baseline's corpus: Na +0.85, Cl −0.75
    ResultWriter(corpus).add_result(
        {
            "material_id": "mp-x",
            "species": ["Na", "Cl"],
            "charges": [0.85, -0.75],
            "dos": _dos(2, 1.0),
            "band_gap": 5.0,
            "is_metal": False,
            "energy_ev": -6.0,
            "seconds": 1.0,
        }
    )
    res = cmp.compare(sel.candidates, outcomes, baseline_results_dir=corpus)
    assert (res["n_dft_ok"], res["n_dft_failed"], res["n_pending"]) == (1, 1, 1)
    assert res["failure_reasons"] == {"timeout": 1} and res["n_sites"] == 2
    gen, base = res["comparisons"]["generated"], res["comparisons"]["element_mean"]
    assert gen["charge_mae_e"] == pytest.approx(0.1) and gen["dos_cosine_mean"] == pytest.approx(1.0)
    assert gen["by_element"]["Na"]["charge_mae_e"] == pytest.approx(0.1)
    assert base["charge_mae_e"] == pytest.approx(0.05) and base["dos_cosine_mean"] < 0.99
    pred = res["comparisons"]["predictor"]  # the shipped predictor ran on the same crystal
    assert pred["n_crystals"] == 1 and 0.0 <= pred["charge_mae_e"] < 2.0 and res["predictor_weights_sha256"]
    row = next(r for r in res["crystals"] if r["crystal_id"] == nacl.crystal_id)
    assert row["generated_charge_mae_e"] == pytest.approx(0.1) and row["dft_band_gap"] == 4.5

    store = st.ReferenceStore(tmp_path / "ref.jsonl")
    prov = {
        "git": {"commit": "0123abcd", "dirty": True},
        "machine": {"nproc": 2, "worker_processes": 1},
        "command": "python -m benchmarks.dft reference",
        "date_start": "d0",
        "date_end": "d1",
        "wall_seconds": 5,
    }
    payload = rep.build_payload("charge_dos", bench, sel, res, TINY, 400.0, store, prov)
    json_path, md_path = rep.write_report(payload, tmp_path / "results")
    md = md_path.read_text()
    assert "fewer than the 20" in md and "non-production settings" in md and "`0123abcd`" in md
    assert _row(md, "generated by the model") == ["generated by the model", "1", "2", "0.100", "1.000", "0.000"]
    assert _row(md, "per-element mean of the DFT corpus")[:4] == ["per-element mean of the DFT corpus", "1", "2", "0.050"]
    assert "failed: timeout" in md and "Failures by reason: timeout 1" in md
    data = json.loads(json_path.read_text())
    assert data["results"]["comparisons"]["generated"]["charge_mae_e"] == pytest.approx(0.1)
    assert data["selection"]["counts"]["duplicates_across_cells"] == 1 and not data["dft_settings_production"]


def test_judge_vs_dft_gap_counts_disagreements():
    """The judge calling a crystal a 2 eV insulator that DFT finds metallic is counted, not averaged away."""
    crystals = [
        {"ok": True, "predicted_band_gap": 2.0, "dft_band_gap": 0.0},  # judge non-metal, DFT metal
        {"ok": True, "predicted_band_gap": 1.5, "dft_band_gap": 1.75},  # both non-metal
        {"ok": True, "predicted_band_gap": 0.0, "dft_band_gap": 0.0},  # both metal
        {"ok": False, "predicted_band_gap": 3.0, "dft_band_gap": None},  # DFT failed: left out
    ]
    gap = cmp.judge_vs_dft_gap(crystals)
    assert (gap["n"], gap["dft_metal"], gap["judge_metal"]) == (3, 2, 1)
    assert (gap["both_nonmetal"], gap["judge_nonmetal_dft_metal"]) == (1, 1)
    assert gap["mae_ev"] == pytest.approx((2.0 + 0.25 + 0.0) / 3)
    assert cmp.judge_vs_dft_gap([])["n"] == 0


def test_committed_report_is_what_its_json_renders_to():
    """The committed markdown is re-rendered from the committed JSON whenever the report code changes."""
    results = RESULTS_DIR
    assert (results / "dft_reference.json").exists(), "the committed DFT reference report is missing"
    payload = json.loads((results / "dft_reference.json").read_text())
    assert rep.markdown(payload) == (results / "dft_reference.md").read_text()
