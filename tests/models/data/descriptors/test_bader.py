"""Bader convention on a synthetic density: basins, net charge = Z − population, sum ≈ 0."""

import numpy as np
import pytest


def _gaussian_density(n: int, cell: float, centres: np.ndarray, electrons: list[float], width: float) -> np.ndarray:
    g = (np.arange(n) / n) * cell
    x, y, z = np.meshgrid(g, g, g, indexing="ij")
    rho = np.zeros((n, n, n))
    for c, ne in zip(centres, electrons, strict=True):
        d2 = np.zeros_like(rho)
        for axis, coord in enumerate((x, y, z)):
            d = coord - c[axis]
            d -= cell * np.round(d / cell)  # minimum image
            d2 += d**2
        blob = np.exp(-0.5 * d2 / width**2)
        rho += ne * blob / (blob.sum() * cell**3 / n**3)
    return rho

@pytest.mark.dft
def test_two_site_partition_recovers_charges():
    from models.data.descriptors.bader import bader_net_charges

    cell = 6.0
    centres = np.array([[0.0, 0.0, 0.0], [3.0, 3.0, 3.0]])
    # Z = (11, 17); put 10.2 and 17.8 electrons on the sites: net +0.8 / −0.8
    rho = _gaussian_density(48, cell, centres, [10.2, 17.8], width=0.5)
    res = bader_net_charges(rho, np.eye(3) * cell, centres, np.array([11, 17]))
    assert res.total_electrons == pytest.approx(28.0, abs=1e-6)
    np.testing.assert_allclose(res.net_charges, [0.8, -0.8], atol=0.02)
    assert abs(res.residual) < 1e-6
