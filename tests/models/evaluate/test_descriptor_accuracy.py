import numpy as np
import pytest
from pymatgen.core import Lattice, Structure

from models.data.descriptor_spec import DOS_BINS, DOS_ENERGIES, normalize_dos
from models.evaluate.descriptor_accuracy import compare_sites, descriptor_accuracy, dos_cosine


def _gauss(center: float, width: float = 0.5) -> np.ndarray:
    return normalize_dos(np.exp(-0.5 * ((DOS_ENERGIES - center) / width) ** 2)[None, :])[0]


def test_dos_cosine_math():
    a = np.zeros((3, DOS_BINS))
    b = np.zeros((3, DOS_BINS))
    a[0, 3] = b[0, 3] = 2.0  # identical direction
    a[1, 3], b[1, 40] = 1.0, 1.0  # disjoint support: orthogonal
    a[2, :] = 1.0  # b row zero: defined as 0, not NaN
    np.testing.assert_allclose(dos_cosine(a, b), [1.0, 0.0, 0.0])
    g1, g2 = _gauss(-3.0), _gauss(-2.5)
    expected = float(g1 @ g2 / (np.linalg.norm(g1) * np.linalg.norm(g2)))
    assert dos_cosine(g1[None], g2[None])[0] == pytest.approx(expected)
    assert 0.0 < expected < 1.0


def test_descriptor_accuracy_by_element():
    s = Structure.from_spacegroup("Fm-3m", Lattice.cubic(5.64), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    n = len(s)
    is_na = np.array([site.specie.symbol == "Na" for site in s])
    ref_q = np.where(is_na, 0.87, -0.87)
    ref_d = np.stack([_gauss(-2.0) if na else _gauss(-1.0) for na in is_na])

    def predictor(structure):
        assert len(structure) == n
        return ref_q, ref_d

    # generated: Na charges off by +0.1, Cl exact; Na DOS exact, Cl DOS shifted
    gen_q = ref_q + np.where(is_na, 0.1, 0.0)
    gen_d = np.stack([_gauss(-2.0) if na else _gauss(-4.0) for na in is_na])
    out = descriptor_accuracy([s, s], [gen_q, None], [gen_d, gen_d], predictor)
    assert out["n_crystals"] == 2
    assert out["n_sites_charge"] == n and out["n_sites_dos"] == 2 * n
    assert out["by_element"]["Na"]["charge_mae_e"] == pytest.approx(0.1)
    assert out["by_element"]["Cl"]["charge_mae_e"] == pytest.approx(0.0)
    assert out["charge_mae_e"] == pytest.approx(0.05)
    assert out["by_element"]["Na"]["dos_cosine_mean"] == pytest.approx(1.0)
    assert out["by_element"]["Cl"]["dos_cosine_mean"] < 0.5


def test_shape_mismatch_is_a_clear_error():
    with pytest.raises(ValueError, match="charges must have shape"):
        compare_sites(["Na", "Cl"], np.zeros(3), None, np.zeros(2), np.zeros((2, DOS_BINS)))
    with pytest.raises(ValueError, match="DOS must have shape"):
        compare_sites(["Na"], None, np.zeros((1, 10)), np.zeros(1), np.zeros((1, DOS_BINS)))


def test_dos_emd_is_the_shift_of_a_peak():
    """A Gaussian moved by 3 eV has EMD 3 eV (its cosine with the original is already ~0 after 1.5 eV)."""
    from models.evaluate.descriptor_accuracy import dos_emd

    a, b, c = _gauss(-3.0), _gauss(0.0), _gauss(-1.5)
    emd = dos_emd(np.stack([a, a]), np.stack([b, c]))
    assert emd[0] == pytest.approx(3.0, abs=0.05) and emd[1] == pytest.approx(1.5, abs=0.05)
    assert np.isnan(dos_emd(np.zeros((1, DOS_BINS)), a[None])[0])
    s = Structure(Lattice.cubic(3.0), ["Na"], [[0, 0, 0]])
    out = descriptor_accuracy([s], [None], [a[None]], lambda _: (np.zeros(1), b[None]))
    assert out["dos_emd_mean_ev"] == pytest.approx(3.0, abs=0.05)
    assert out["by_element"]["Na"]["dos_emd_mean_ev"] == pytest.approx(3.0, abs=0.05)
