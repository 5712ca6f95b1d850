import numpy as np
import pytest

from models.data.descriptors.band_gap import band_edges
from models.data.descriptors.magnetism import initial_moments
from models.data.descriptors.settings import DFTSettings


def test_indirect_gap_over_kpoints():
    eps = np.array([[[-2.0, -0.5, 2.0], [-2.0, -0.2, 1.5]]])  # (1 spin, 2 k, 3 bands)
    e = band_edges(eps, fermi_level=0.5)
    assert not e.is_metal
    assert e.vbm == -0.2 and e.cbm == 1.5 and e.gap == pytest.approx(1.7)
    assert e.reference_energy == -0.2


def test_band_crossing_fermi_level_is_metal():
    eps = np.array([[[-2.0, -0.5], [-2.0, 0.7]]])
    e = band_edges(eps, fermi_level=0.0)
    assert e.is_metal and e.gap == 0.0 and e.reference_energy == 0.0


def test_spin_channels_combined():
    eps = np.array([[[-1.0, 2.0]], [[-0.3, 1.2]]])  # spin up / down
    e = band_edges(eps, fermi_level=0.5)
    assert e.vbm == -0.3 and e.cbm == 1.2


def test_kpoint_grid_from_length():
    s = DFTSettings(kpt_length=12.0)
    assert s.kpoint_grid(np.eye(3) * 4.0) == (3, 3, 3)
    assert s.kpoint_grid(np.diag([4.0, 4.0, 13.0])) == (3, 3, 1)


def test_magnetic_policy():
    assert initial_moments(["Na", "Cl"], "ferromagnetic-open-shell") is None
    assert initial_moments(["Li", "Co", "O", "O"], "ferromagnetic-open-shell") == [0.0, 0.6, 0.0, 0.0]
    assert initial_moments(["Fe", "O"], "restricted") is None
    with pytest.raises(ValueError, match="unknown spin policy 'antiferro'"):
        initial_moments(["Fe"], "antiferro")
