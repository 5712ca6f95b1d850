"""Dummy per-site descriptors for the control experiment: right shape and scale, no physics.

Each site gets values drawn from a generator seeded by SHA-256 of ``"<material_id>:<site index>"``
(stable across processes and Python versions, unlike ``hash()``), so a site's dummy descriptors never
change and do not depend on the other sites or on the crystal's structure.
- charge ~ N(0, DUMMY_CHARGE_SIGMA): σ = 0.8 e is the spread of Bader net charges in ionic and polar
  crystals (e.g. Na +0.86 / Cl −0.86, Mg +1.68 / O −1.68, O ≈ −1.2 in oxides, ~0 in metals);
- DOS: a random non-negative curve (sum of 1–6 Gaussians of random centre, width and height in the
  window, like a real atomic DOS's few peaks), normalized per ``descriptor_spec``.
"""

from __future__ import annotations

import hashlib

import numpy as np

from models.data.descriptor_spec import DOS_BINS, DOS_EMAX, DOS_EMIN, DOS_ENERGIES, normalize_dos

DUMMY_CHARGE_SIGMA = 0.8


def _site_rng(material_id: str, site_index: int) -> np.random.Generator:
    digest = hashlib.sha256(f"{material_id}:{int(site_index)}".encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "little"))


def dummy_site(material_id: str, site_index: int) -> tuple[float, np.ndarray]:
    """(charge, dos (DOS_BINS,)) of one site."""
    rng = _site_rng(material_id, site_index)
    charge = float(rng.normal(0.0, DUMMY_CHARGE_SIGMA))
    n_peaks = int(rng.integers(1, 7))
    centres = rng.uniform(DOS_EMIN, DOS_EMAX, n_peaks)
    widths = rng.uniform(0.3, 2.5, n_peaks)
    heights = rng.exponential(1.0, n_peaks)
    curve = (heights[:, None] * np.exp(-0.5 * ((DOS_ENERGIES[None, :] - centres[:, None]) / widths[:, None]) ** 2)).sum(0)
    return charge, normalize_dos(curve[None, :])[0]


def dummy_descriptors(material_id: str, n_sites: int) -> tuple[np.ndarray, np.ndarray]:
    """(charges (n_sites,), dos (n_sites, DOS_BINS)) — deterministic per (material_id, site index)."""
    if n_sites < 0:
        raise ValueError("n_sites must be non-negative")
    charges = np.empty(n_sites, dtype=np.float64)
    dos = np.empty((n_sites, DOS_BINS), dtype=np.float64)
    for i in range(n_sites):
        charges[i], dos[i] = dummy_site(material_id, i)
    return charges, dos
