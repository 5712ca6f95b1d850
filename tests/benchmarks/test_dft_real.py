"""Real GPAW + Bader runs of 2-atom cells (tiny settings) through ``python -m benchmarks.dft``."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from benchmarks.dft import siteorder
from benchmarks.dft.__main__ import main
from tests.benchmarks.dft_fixtures import (
    TINY,
    _rec,
    _rocksalt,
    _success,
    _write_cell,
)


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
    # Another report folder reads the tracked stores through --store-dir; nothing is re-run or copied.
    elsewhere = tmp_path / "claim_variants"
    assert main([*argv[:-1], str(elsewhere), "--store-dir", str(tmp_path / "results"), "--report-only"],
                settings=TINY) == 0
    again = json.loads((elsewhere / "dft_verification_charge_dos.json").read_text())
    assert again["results"]["dft_success"] == data["results"]["dft_success"]
    assert not list(elsewhere.glob("*store*")) and len(store.read_text().splitlines()) == 1
