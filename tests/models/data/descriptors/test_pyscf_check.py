"""PySCF second opinion on a 2-atom NaCl cell with tiny settings (well under a minute on one core)."""

import importlib.util
import time

import numpy as np
import pytest

pytest.importorskip("pyscf", reason="the DFT extra (pyscf) is not installed")
if importlib.util.find_spec("pybader") is None:  # not imported here: it needs bader.py's pkg_resources shim
    pytest.skip("the DFT extra (pybader) is not installed", allow_module_level=True)

# Γ point only, minimal basis, coarse Bader grid, loose lattice sums: checks the plumbing
# (SCF → density on the grid → pybader → Z_ion − population), not the converged numbers.
TINY = dict(
    kmesh=1, grid_spacing=0.15, basis="gth-szv-molopt-sr", precision=1e-5, grids_level=0, conv_tol=1e-6
)
CHARGE_SUM_TOL = 0.05  # e; pseudo-valence density on a coarse uniform grid misses a little semicore charge


@pytest.fixture(scope="module")
def nacl_result(nacl_rocksalt):
    from models.data.descriptors.validation.pyscf_check import run_crystal

    t0 = time.perf_counter()
    rec = run_crystal(nacl_rocksalt, **TINY)
    rec["_wall"] = time.perf_counter() - t0
    return rec


@pytest.mark.dft
def test_nacl_pseudo_valence_bader(nacl_result):
    r = nacl_result
    assert r["species"] == ["Na", "Cl"]
    assert r["converged"]
    assert r["z_ion"] == [9.0, 7.0]  # GTH-PBE-q9 (Na with 2s2p semicore), GTH-PBE-q7
    assert r["valence_electrons"] == 16
    assert r["grid_electrons"] == pytest.approx(16.0, abs=CHARGE_SUM_TOL)
    q = np.array(r["charges"])
    assert 0.5 < q[0] < 1.2 and q[1] < -0.5  # Na cation, Cl anion
    assert abs(q.sum()) < CHARGE_SUM_TOL
    assert r["charge_residual"] == pytest.approx(q.sum(), abs=1e-4)
    assert r["band_gap"] > 2.0  # an insulator even at Γ only with a minimal basis
    assert r["_wall"] < 60


@pytest.mark.dft
def test_markdown_table_compares_with_gpaw(nacl_result):
    from models.data.descriptors.validation.pyscf_check import gpaw_reference, markdown_table

    table = markdown_table([{**nacl_result, "crystal": "NaCl"}], gpaw_reference())
    row = table.splitlines()[2]
    assert row.startswith("| NaCl | 1×1×1 |") and "Na +0.868" in row and "4.961" in row
