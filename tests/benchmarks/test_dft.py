"""DFT of generated crystals (``python -m benchmarks.dft``): selection from benchmark caches, resumable DFT runs,
comparison and report — on synthetic cache files, fabricated DFT outcomes, one regenerated cell of a
shipped checkpoint and one real (tiny-settings) GPAW + Bader run of a 2-atom cell."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from pymatgen.core import Lattice, Structure

from benchmarks.dft import compare as cmp
from benchmarks.dft import report as rep
from benchmarks.dft import selection as selmod
from benchmarks.dft import siteorder
from benchmarks.dft import store as st
from benchmarks.dft.__main__ import RESULTS_DIR, main
from models.data.descriptor_spec import DOS_BINS, DOS_ENERGIES
from models.data.descriptors.settings import DFTSettings

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
TINY = DFTSettings(basis="dzp", kpt_length=3.0, h=0.3)  # the DFT runner tests' tiny settings
SETUPS = frozenset("Na Cl Mg O Al N K Br".split())  # "Th" has no PAW setup in gpaw-data


def _rocksalt(a: str, b: str, lat: float) -> Structure:
    h = lat / 2
    return Structure(Lattice([[0, h, h], [h, 0, h], [h, h, 0]]), [a, b], [[0, 0, 0], [0.5, 0.5, 0.5]])


def _wurtzite_aln() -> Structure:
    return Structure(
        Lattice.hexagonal(3.11, 4.98),
        ["Al", "Al", "N", "N"],
        [[1 / 3, 2 / 3, 0], [2 / 3, 1 / 3, 0.5], [1 / 3, 2 / 3, 0.38], [2 / 3, 1 / 3, 0.88]],
    )


def _dos(n: int, centre: float = 0.0) -> list[list[float]]:
    rows = np.exp(-0.5 * ((DOS_ENERGIES - centre) / 1.5) ** 2)
    rows = rows / np.trapezoid(rows, DOS_ENERGIES)
    return [rows.tolist()] * n


def _rec(
    i: int,
    s: Structure,
    *,
    stable=True,
    valid=True,
    e_hull=0.0,
    gap=3.0,
    dup=None,
    charges=None,
    as_dict=False,
) -> dict:
    return {
        "name": f"sample_{i:04d}",
        "formula": s.composition.reduced_formula,
        "n_sites": len(s),
        "volume": s.volume,
        "valid": valid,
        "stable": stable,
        "e_above_hull": e_hull,
        "band_gap": gap,
        "duplicate_of": dup,
        **({"structure": s.as_dict()} if as_dict else {"cif": s.to(fmt="cif")}),
        "charges": charges if charges is not None else [0.0] * len(s),
        "dos": _dos(len(s)),
    }


def _row(md: str, first: str) -> list[str]:
    """The cells of the markdown table row whose first cell is ``first``."""
    for line in md.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("|") and cells[0] == first:
            return cells
    raise AssertionError(f"no row {first!r}")


def _write_cell(cache: Path, stem: str, records: list[dict], fingerprint: str) -> None:
    cache.mkdir(parents=True, exist_ok=True)
    result = {"target": None, "guidance": 0.0, "n": len(records), "seed": 0, "steps": 80, "records": records}
    (cache / f"{stem}.json").write_text(
        json.dumps({"fingerprint": fingerprint, "key": stem, "result": result})
    )


@pytest.fixture()
def bench(tmp_path) -> Path:
    """Two cells of a charge-generating variant: cheap and costly stable crystals, and every way to drop one."""
    nacl, om = _rocksalt("Na", "Cl", 5.64), _rocksalt("O", "Mg", 4.21)
    kbr, th = _rocksalt("K", "Br", 6.6), _rocksalt("Th", "O", 5.6)
    cell_a = [
        _rec(0, _wurtzite_aln(), gap=4.0),  # 4 sites, gapped: cost 4·16·... > NaCl
        _rec(1, nacl, gap=5.0, charges=[0.9, -0.7]),  # cheapest
        _rec(2, om, gap=0.0, charges=[-1.1, 1.3], as_dict=True),  # metal by the predictor: ×3; O listed first
        _rec(3, kbr, stable=False, e_hull=0.5),  # unstable
        _rec(4, kbr, valid=False),  # invalid
        _rec(5, kbr, e_hull=0.15),  # flagged stable but above 0.1 eV/atom: not trusted
        _rec(6, kbr, dup="sample_0001"),  # duplicate within the cell
        _rec(7, th),  # no GPAW setup for Th
    ]
    moved = nacl.copy()
    moved.translate_sites([0, 1], [0.01, 0.0, 0.0])  # the same crystal, shifted, in another cell; a metal by
    cell_b = [_rec(0, moved, gap=0.0)]  # the predictor so it costs more and the first cell's copy is kept
    cache = tmp_path / "bench" / "cache"
    _write_cell(cache, "inverse__charge_dos__uncond__g2", cell_a, "a" * 64)
    _write_cell(cache, "inverse__charge_dos__bg_3__g2", cell_b, "b" * 64)
    _write_cell(cache, "inverse__structure_only__uncond__g2", [_rec(0, kbr)], "c" * 64)  # other variant
    return tmp_path / "bench"


def test_selection_filters_dedups_and_orders_cheapest_first(bench):
    sel = selmod.collect_candidates(bench, "charge_dos", max_crystals=24, setups=SETUPS, regenerate=False)
    assert [c.formula for c in sel.candidates] == ["NaCl", "MgO", "AlN"]
    c = sel.counts
    assert (c["cells"], c["records"], c["stable_valid"], c["without_gpaw_setup"]) == (2, 9, 5, 1)
    assert c["duplicates_across_cells"] == 1 and c["selected"] == 3
    nacl = sel.candidates[0]
    assert nacl.crystal_id.endswith("__sample_0001__" + "a" * 12 + "__" + siteorder.structure_digest(nacl.structure))
    assert nacl.source == "record"
    assert nacl.charges.tolist() == [0.9, -0.7] and nacl.dos.shape == (2, DOS_BINS)
    # the DFT child parses the CIF, which groups sites by species: O-first MgO comes back Mg-first, and
    # the generated charges must follow their sites
    mgo = sel.candidates[1]
    assert [x.specie.symbol for x in mgo.structure] == ["Mg", "O"] and mgo.charges.tolist() == [1.3, -1.1]
    assert all(siteorder.cif_keeps_site_order(c.structure) for c in sel.candidates)
    capped = selmod.collect_candidates(bench, "charge_dos", max_crystals=2, setups=SETUPS, regenerate=False)
    assert [c.formula for c in capped.candidates] == ["NaCl", "MgO"]


def test_records_without_structure_and_no_snapshot_are_reported(bench):
    path = bench / "cache" / "inverse__charge_dos__uncond__g2.json"
    entry = json.loads(path.read_text())
    for r in entry["result"]["records"]:
        r.pop("cif", None), r.pop("structure", None)
    path.write_text(json.dumps(entry))
    sel = selmod.collect_candidates(bench, "charge_dos", setups=SETUPS)
    assert [c.formula for c in sel.candidates] == ["NaCl"]  # the other cell still has its structure
    assert sel.counts["no_structure"] == 3
    assert any("no job arguments" in n for n in sel.notes)


def _outcome(c: selmod.Candidate, ok: bool, settings: DFTSettings, charges=None, **extra) -> dict:
    rec = {**c.row(), "ok": ok, "settings": settings.model_dump(), "wall_seconds": 12.0}
    if ok:
        species = [x.specie.symbol for x in c.structure]
        rec["dft"] = {
            "species": species,
            "charges": charges,
            "dos": _dos(len(species)),
            "band_gap": 4.5,
            "is_metal": False,
            "seconds": 10.0,
            "charge_residual": 0.0,
        }
    return {**rec, **extra}


def test_store_resume_semantics(tmp_path, bench):
    sel = selmod.collect_candidates(bench, "charge_dos", setups=SETUPS, regenerate=False)
    nacl, mgo = sel.candidates[:2]
    store = st.ReferenceStore(tmp_path / "ref" / "charge_dos.jsonl")
    store.append(_outcome(nacl, True, TINY, [0.8, -0.8]))
    store.append(_outcome(nacl, False, TINY, reason="timeout"))  # a later failure never hides a success
    store.append(_outcome(mgo, False, TINY, reason="error"))
    store.append(_outcome(mgo, True, DFTSettings(), [1.0, -1.0]))  # other settings: not mixed in
    with store.path.open("a") as fh:
        fh.write('{"crystal_id": "cut by a ki')
    latest = store.latest(TINY)
    assert latest[nacl.crystal_id]["ok"] and not latest[mgo.crystal_id]["ok"] and len(latest) == 2
    assert set(st.ReferenceStore(store.path).latest(DFTSettings())) == {mgo.crystal_id}


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


def test_regenerated_cell_reproduces_benchmark_crystals(tmp_path):
    """Records without structures (an older cache): the cell is re-sampled from the job arguments stored
    with the cache entry, and each crystal must match its record (a wrong volume drops it)."""
    from models.hashing import sha256_file
    from models.sample import CHECKPOINT_ROOT

    shipped = next(
        (
            CHECKPOINT_ROOT / v / "model.pt"
            for v in ("charge_dos", "dummy", "charge", "dos")
            if (CHECKPOINT_ROOT / v / "model.pt").exists()
        ),
        None,
    )
    assert shipped is not None, "no shipped checkpoint that generates descriptors"
    snaps = tmp_path / "bench" / "snapshots"
    snaps.mkdir(parents=True)
    sha = sha256_file(shipped)
    snap = snaps / f"charge_dos-{sha[:16]}.pt"
    shutil.copyfile(shipped, snap)
    kwargs = {
        "checkpoint": str(snap),
        "sha256": sha,
        "target": {"band_gap": 3.0},
        "guidance": 2.0,
        "n": 3,
        "seed": 0,
        "steps": 8,
        "relax_steps": 20,
        "batch_size": 64,
    }
    crystals = selmod.regenerate_cell(kwargs)
    assert crystals[0].charges is not None and crystals[0].dos is not None
    records = [
        {**_rec(i, c.structure), "cif": None, "charges": None, "dos": None} for i, c in enumerate(crystals)
    ]
    records[2]["volume"] += 1.0
    stem = "inverse__charge_dos__bg_3__g2"
    entry = {
        "fingerprint": "e" * 64,
        "key": stem,
        "kwargs": kwargs,  # stored with the job by benchmarks.jobs
        "result": {
            **{k: kwargs[k] for k in ("target", "guidance", "n", "seed", "relax_steps")},
            "steps": 8,
            "records": records,
        },
    }
    (tmp_path / "bench" / "cache").mkdir()
    (tmp_path / "bench" / "cache" / f"{stem}.json").write_text(json.dumps(entry))
    every = {x.specie.symbol for c in crystals for x in c.structure}
    sel = selmod.collect_candidates(tmp_path / "bench", "charge_dos", setups=every)
    assert sel.counts["regeneration_mismatch"] == 1 and sel.cells[0]["checkpoint_sha256"] == sha
    got = {c.name: c for c in sel.candidates}
    assert got and "sample_0002" not in got and all(c.source == "regenerated" for c in got.values())
    for (
        name,
        c,
    ) in got.items():  # the sampled crystal and its descriptors, in the DFT's (CIF-parsed) site order
        ref = crystals[int(name[-4:])]
        perm = siteorder.cif_site_permutation(ref.structure)
        assert sorted(perm) == list(range(len(ref.structure)))
        assert np.allclose(c.charges, ref.charges[perm]) and np.allclose(c.dos, ref.dos[perm])
        assert np.allclose(c.structure.frac_coords, ref.structure.frac_coords[perm])
        assert siteorder.cif_keeps_site_order(c.structure)


@pytest.mark.dft
def test_real_dft_run_end_to_end(tmp_path):
    pytest.importorskip("gpaw", reason="the DFT extra (gpaw, gpaw-data) is not installed")
    clna = _rocksalt("Cl", "Na", 5.64)  # sampling order Cl, Na; the DFT result comes back Na, Cl
    _write_cell(
        tmp_path / "bench" / "cache",
        "inverse__charge_dos__uncond__g2",
        [_rec(0, clna, charges=[-0.5, 0.5])],
        "d" * 64,
    )
    argv = [
        "--bench-dir",
        str(tmp_path / "bench"),
        "--variant",
        "charge_dos",
        "--max-seconds",
        "600",
        "--out-dir",
        str(tmp_path / "ref"),
        "--results",
        str(tmp_path / "results"),
    ]
    assert main(["reference", *argv], settings=TINY) == 0
    store = tmp_path / "results" / "dft_reference_store_charge_dos.jsonl"  # beside the report, tracked
    assert not (tmp_path / "ref" / "charge_dos.jsonl").exists()
    lines = store.read_text().splitlines()
    rec = json.loads(lines[0])
    assert len(lines) == 1 and rec["ok"], rec.get("message")
    assert (
        rec["dft"]["species"] == ["Na", "Cl"]
        and rec["dft"]["charges"][0] > 0.5 > -0.5 > rec["dft"]["charges"][1]
    )
    data = json.loads((tmp_path / "results" / "dft_reference.json").read_text())
    gen = data["results"]["comparisons"]["generated"]
    q = rec["dft"]["charges"]
    assert gen["charge_mae_e"] == pytest.approx((abs(q[0] - 0.5) + abs(q[1] + 0.5)) / 2)
    assert data["results"]["n_dft_ok"] == 1 and data["results"]["comparisons"]["predictor"]["n_crystals"] == 1
    assert rec["charges"] == [0.5, -0.5]  # the generated charges, in the DFT (CIF) site order
    assert main(["reference", *argv], settings=TINY) == 0  # resumed: nothing re-run
    assert len(store.read_text().splitlines()) == 1
    shutil.rmtree(tmp_path / "bench" / "cache")  # the cache is gone: the report comes from the store
    (tmp_path / "results" / "dft_reference.json").unlink()
    assert main(["reference", *argv, "--report-only"], settings=TINY) == 0
    again = json.loads((tmp_path / "results" / "dft_reference.json").read_text())
    assert again["results"]["comparisons"]["generated"]["charge_mae_e"] == pytest.approx(gen["charge_mae_e"])


def test_formulas_first_puts_second_polymorphs_after_every_composition():
    from types import SimpleNamespace

    pool = [
        SimpleNamespace(formula=f, i=i)
        for i, f in enumerate(["Rb2O2", "Rb2O2", "AgF3", "Rb2O2", "CsBaI3", "AgF3"])
    ]
    ordered = selmod.formulas_first(pool)  # type: ignore[arg-type]
    assert [(c.formula, c.i) for c in ordered] == [
        ("Rb2O2", 0),
        ("AgF3", 2),
        ("CsBaI3", 4),
        ("Rb2O2", 1),
        ("Rb2O2", 3),
        ("AgF3", 5),
    ]


def test_the_store_alone_rebuilds_the_crystals_and_their_descriptors(tmp_path, bench):
    """Without the benchmark cache the report is rebuilt from the store: CIF, generated charges and DOS
    of each outcome (an outcome from before the store kept them is compared by predictor/floor only)."""
    sel = selmod.collect_candidates(bench, "charge_dos", setups=SETUPS, regenerate=False)
    nacl, mgo, _aln = sel.candidates
    store = st.ReferenceStore(tmp_path / "ref.jsonl")
    new = {"cif": nacl.structure.to(fmt="cif"), **st.generated_descriptors(nacl)}
    store.append({**_outcome(nacl, True, TINY, [0.8, -0.8]), **new})
    store.append({**_outcome(mgo, True, TINY, [1.2, -1.2]), "cif": mgo.structure.to(fmt="cif")})
    rebuilt = st.candidates_from_store(store, TINY)
    assert rebuilt.counts == {"stored": 2, "without_generated_descriptors": 1, "selected": 2}
    by_id = {c.crystal_id: c for c in rebuilt.candidates}
    assert by_id[nacl.crystal_id].charges.tolist() == [0.9, -0.7] and by_id[mgo.crystal_id].charges is None
    assert by_id[nacl.crystal_id].dos.shape == (2, DOS_BINS) and by_id[nacl.crystal_id].source == "store"
    res = cmp.compare(rebuilt.candidates, store.latest(TINY), use_predictor=False)
    gen = res["comparisons"]["generated"]  # NaCl only: MgO's outcome holds no generated descriptors
    assert res["n_dft_ok"] == 2 and gen["n_crystals"] == 1 and gen["charge_mae_e"] == pytest.approx(0.1)


def test_a_different_crystal_under_the_same_job_gets_a_new_id(bench):
    """A cell regenerated on another CPU may hold other crystals under the same fingerprint and names;
    their ids differ, so no stored DFT outcome is paired with a crystal it was not run on."""
    before = selmod.collect_candidates(bench, "charge_dos", setups=SETUPS, regenerate=False).candidates[0]
    path = bench / "cache" / "inverse__charge_dos__uncond__g2.json"
    entry = json.loads(path.read_text())
    moved = _rocksalt("Na", "Cl", 5.70)  # same cell, same name, same fingerprint; another lattice
    entry["result"]["records"][1] = _rec(1, moved, gap=5.0, charges=[0.9, -0.7])
    path.write_text(json.dumps(entry))
    after = selmod.collect_candidates(bench, "charge_dos", setups=SETUPS, regenerate=False).candidates[0]
    assert after.formula == before.formula == "NaCl"
    assert after.crystal_id.rsplit("__", 1)[0] == before.crystal_id.rsplit("__", 1)[0]
    assert after.crystal_id != before.crystal_id


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


def _success(i: int, s: Structure, relaxed: Structure, *, success=True, gap=3.1, charges=None) -> dict:
    return {**_rec(i, s, gap=gap, charges=charges), "success": success, "relaxed_cif": relaxed.to(fmt="cif")}


@pytest.fixture()
def verify_bench(tmp_path) -> Path:
    """A band-gap cell with two judge successes (relaxed cells differ from the sampled ones), one failure,
    and an E_form cell whose success must not be verified (GPAW energies are not on the MP scale)."""
    clna, clna_relaxed = _rocksalt("Cl", "Na", 5.2), _rocksalt("Cl", "Na", 5.64)
    mgo, mgo_relaxed = _rocksalt("Mg", "O", 4.0), _rocksalt("Mg", "O", 4.21)
    cell = [
        _success(0, clna, clna_relaxed, charges=[-0.6, 0.7]),
        _success(1, mgo, mgo_relaxed, gap=2.9),
        _success(2, _rocksalt("K", "Br", 6.6), _rocksalt("K", "Br", 6.6), success=False),
    ]
    cache = tmp_path / "bench" / "cache"
    _write_cell(cache, "inverse__charge_dos__bg+3__g2", cell, "f" * 64)
    path = cache / "inverse__charge_dos__bg+3__g2.json"
    entry = json.loads(path.read_text())
    entry["result"]["target"] = {"band_gap": 3.0}
    path.write_text(json.dumps(entry))
    _write_cell(cache, "inverse__charge_dos__ef-2__g2", [_success(0, _rocksalt("K", "Br", 6.6), _rocksalt("K", "Br", 6.6))],
                "0" * 64)
    return tmp_path / "bench"


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
    import shutil

    from benchmarks.dft.__main__ import attach_to_inverse

    shutil.copy(RESULTS_DIR / "inverse.json", tmp_path / "inverse.json")
    payload = {"variant": "charge_dos", "results": {
        "comparisons": {"generated": {"charge_mae_e": 0.2, "n_crystals": 31, "n_sites_charge": 250},
                        "element_mean": {"charge_mae_e": 0.35}},
        "dft_success": {"k": 12, "n": 31, "rate": 12 / 31, "ci95": [0.24, 0.56]}}}
    attach_to_inverse(tmp_path, {"charge_dos": payload})
    md = (tmp_path / "inverse.md").read_text()
    row = next(line for line in md.splitlines() if line.startswith("| generated Bader charges"))
    assert "0.200 e" in row and "31 crystals, 250 sites" in row and "not reproduced (3.6×" in row
    assert "| judge band-gap successes confirmed by DFT (charge_dos)" in md and "38.7 % (12/31)" in md


@pytest.mark.dft
def test_real_dft_verification_of_a_relaxed_success(tmp_path):
    """``verify`` end to end with GPAW: the relaxed cell of a judge success goes to DFT, and the report
    states whether DFT confirms the gap target."""
    pytest.importorskip("gpaw", reason="the DFT extra (gpaw, gpaw-data) is not installed")
    sampled, relaxed = _rocksalt("Cl", "Na", 5.3), _rocksalt("Cl", "Na", 5.64)
    cache = tmp_path / "bench" / "cache"
    _write_cell(cache, "inverse__charge_dos__bg+3__g2", [_success(0, sampled, relaxed, charges=[-0.5, 0.5])], "9" * 64)
    path = cache / "inverse__charge_dos__bg+3__g2.json"
    entry = json.loads(path.read_text())
    entry["result"]["target"] = {"band_gap": 3.0}
    path.write_text(json.dumps(entry))
    argv = ["verify", "--bench-dir", str(tmp_path / "bench"), "--variants", "charge_dos", "--max-seconds", "600",
            "--out-dir", str(tmp_path / "logs"), "--results", str(tmp_path / "results")]
    assert main(argv, settings=TINY) == 0
    store = tmp_path / "results" / "dft_verification_store_charge_dos.jsonl"
    rec = json.loads(store.read_text().splitlines()[0])
    assert rec["ok"], rec.get("message")
    assert rec["dft"]["species"] == ["Na", "Cl"] and rec["charges"] == [0.5, -0.5]
    assert siteorder.parse_cif(rec["cif"]).lattice.a == pytest.approx(5.64 / np.sqrt(2), abs=1e-3)  # relaxed cell
    data = json.loads((tmp_path / "results" / "dft_verification_charge_dos.json").read_text())
    hit = abs(rec["dft"]["band_gap"] - 3.0) <= 0.5
    assert data["results"]["dft_success"]["n"] == 1 and data["results"]["dft_success"]["k"] == int(hit)
    assert data["mode"] == "verify" and "DFT success rate" in (tmp_path / "results" / "dft_verification_charge_dos.md").read_text()
