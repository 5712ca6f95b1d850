"""The real DFT path on a 2-atom cell with small settings (well under a minute on one core)."""

import time

import numpy as np
import pytest

from models.data.descriptor_spec import DOS_BINS, DOS_ENERGIES, DOS_NORM

gpaw = pytest.importorskip("gpaw", reason="the DFT extra (gpaw, gpaw-data) is not installed")

TINY = dict(basis="dzp", kpt_length=4.0, h=0.3)
CHARGE_SUM_TOL = 1e-3  # e; Bader basins tile the grid, so only grid-integration error remains


@pytest.fixture(scope="module")
def nacl_result(nacl_rocksalt):
    from models.data.descriptors.gpaw_path import run_crystal
    from models.data.descriptors.settings import DFTSettings

    t0 = time.perf_counter()
    rec = run_crystal(nacl_rocksalt, DFTSettings(**TINY))
    rec["_wall"] = time.perf_counter() - t0
    return rec


@pytest.mark.dft
def test_nacl_is_an_ionic_insulator(nacl_result):
    r = nacl_result
    assert r["species"] == ["Na", "Cl"]
    assert not r["is_metal"] and 3.5 < r["band_gap"] < 6.5
    q = np.array(r["charges"])
    assert 0.6 < q[0] < 1.0 and q[1] < 0  # Na cation, Cl anion
    assert abs(q.sum()) < CHARGE_SUM_TOL and abs(r["charge_residual"]) < CHARGE_SUM_TOL
    assert r["bader_total_electrons"] == pytest.approx(28.0, abs=1e-3)  # all-electron: ΣZ = 11 + 17
    assert r["_wall"] < 60


@pytest.mark.dft
def test_site_dos_follows_descriptor_spec(nacl_result):
    dos = np.array(nacl_result["dos"])
    assert dos.shape == (2, DOS_BINS) and (dos >= 0).all()
    np.testing.assert_allclose(np.trapezoid(dos, DOS_ENERGIES, axis=1), DOS_NORM, atol=1e-3)
    # gapped: referenced to the VBM, so Cl-p weight sits just below 0 and the gap region is empty
    gap = nacl_result["band_gap"]
    inside_gap = (DOS_ENERGIES > 1.5) & (DOS_ENERGIES < gap - 1.5)
    below = (DOS_ENERGIES > -3.0) & (DOS_ENERGIES < 0.5)
    assert dos[1, below].max() > 10 * dos[1, inside_gap].max()
