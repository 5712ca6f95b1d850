"""The one convention every per-site electronic descriptor in the project follows.

Every producer (GPAW DFT path, the descriptor predictor, the dummy control, the diffusion model's
de-standardized output) and every consumer (training, evaluation, the web service) reads these
constants, so that a DOS vector means the same thing everywhere.

Charge
    Net Bader charge of the site in elementary charges ``e``: nuclear charge minus the electron
    population of the site's Bader basin of the all-electron density (positive for cations).
    For a neutral cell the charges sum to ~0.

Atomic DOS
    Spin-summed projected density of states of the site on ``DOS_ENERGIES`` (eV), measured from the
    reference energy: the valence-band maximum for a gapped crystal, the Fermi level for a metal.
    Each state is broadened with a Gaussian of standard deviation ``DOS_SIGMA`` eV, and each site's
    curve is scaled so that its trapezoidal integral over the window equals ``DOS_NORM`` (1 state), so
    the DOS describes *where* the site's states lie, in states/eV per state in the window.
"""

from __future__ import annotations

import numpy as np

DOS_EMIN: float = -10.0
DOS_EMAX: float = 10.0
DOS_BINS: int = 64
DOS_SIGMA: float = 0.3
DOS_NORM: float = 1.0
DOS_ENERGIES: np.ndarray = np.linspace(DOS_EMIN, DOS_EMAX, DOS_BINS)
DOS_STEP: float = float(DOS_ENERGIES[1] - DOS_ENERGIES[0])

CHARGE_UNIT = "e"
DOS_UNIT = "states/eV (per site, normalized to 1 state over the window)"


def normalize_dos(dos: np.ndarray) -> np.ndarray:
    """Scale each row of ``dos`` (n_sites, DOS_BINS) so it integrates to ``DOS_NORM`` on the grid.

    Rows with no weight in the window (should not happen for valence states) become flat, which keeps
    the vector finite and the norm honoured rather than dividing by zero.
    """
    dos = np.clip(np.asarray(dos, dtype=np.float64), 0.0, None)
    area = np.trapezoid(dos, DOS_ENERGIES, axis=-1)
    flat = np.full(DOS_BINS, DOS_NORM / (DOS_EMAX - DOS_EMIN))
    out = np.where(area[..., None] > 1e-12, dos * (DOS_NORM / np.maximum(area, 1e-12))[..., None], flat)
    return out


def gaussian_broadened_dos(energies: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Broaden eigenvalues ``energies`` (relative to the reference, eV) with per-state ``weights``.

    ``weights`` has shape (n_sites, n_states): the projection of each state on each site (already
    multiplied by k-point weight and spin degeneracy). Returns (n_sites, DOS_BINS) in states/eV,
    *not yet* normalized.
    """
    e = np.asarray(energies, dtype=np.float64).ravel()
    w = np.asarray(weights, dtype=np.float64).reshape(-1, e.size)
    g = np.exp(-0.5 * ((DOS_ENERGIES[None, :] - e[:, None]) / DOS_SIGMA) ** 2) / (DOS_SIGMA * np.sqrt(2 * np.pi))
    return w @ g
