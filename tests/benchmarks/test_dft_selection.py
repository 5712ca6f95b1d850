"""DFT selection from benchmark caches, site order, crystal ids and the resumable store."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from benchmarks.dft import compare as cmp
from benchmarks.dft import selection as selmod
from benchmarks.dft import siteorder
from benchmarks.dft import store as st
from models.data.descriptor_spec import DOS_BINS
from models.data.descriptors.settings import DFTSettings
from tests.benchmarks.dft_fixtures import (
    SETUPS,
    TINY,
    _outcome,
    _rec,
    _rocksalt,
)


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


def test_regenerated_cell_reproduces_benchmark_crystals(tmp_path):
    """Records without structures (an older cache): the cell is re-sampled from the job arguments stored
    with the cache entry, and each crystal must match its record (a wrong volume drops it)."""
    from models.hashing import sha256_file
    from models.registry import CHECKPOINT_ROOT

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
    # job arguments without the flag were sampled before charge-balance closing existed: re-sampled without it
    closed = selmod.regenerate_cell({**kwargs, "charge_balance": True})
    unclosed = selmod.regenerate_cell({**kwargs, "charge_balance": False})
    formulas = [[c.structure.formula for c in cs] for cs in (crystals, closed, unclosed)]
    assert formulas[0] == formulas[2]
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
