"""Atomic (site-projected) DOS from a GPAW LCAO calculation.

Projection: for every Kohn–Sham state ψ_nk the weight on site a is the norm of its projection onto the
span of that atom's LCAO basis functions, ⟨ψ|P_a|ψ⟩ with P_a = |φ_a⟩ S_aa⁻¹ ⟨φ_a| (GPAW's
``LCAODOS.get_atomic_subspace_pdos``). It is non-negative and accounts for the non-orthogonality of
the basis within each atom. Weights already carry the k-point weight and the spin degeneracy, so
summing over spins and k-points gives the spin-summed, k-weighted DOS. Each state is then broadened and
each site normalized exactly as ``models.data.descriptor_spec`` prescribes.
"""

from __future__ import annotations

import numpy as np

from models.data.descriptor_spec import gaussian_broadened_dos, normalize_dos


def site_state_weights(calc, n_sites: int, eps_skn_ev: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(energies in eV (n_states,), weights (n_sites, n_states)) over all spins, k-points and bands.

    ``eps_skn_ev`` are the calculator's eigenvalues in eV (``get_eigenvalues``). ``LCAODOS`` returns
    the legacy calculator's internal eigenvalues (Hartree), so its energies are only used to check that
    the weights belong to the same states, in the same (spin, k, band) order.
    """
    from ase.units import Ha
    from gpaw.utilities.dos import LCAODOS

    eps_ev = np.asarray(eps_skn_ev, dtype=np.float64)
    pdos = LCAODOS(calc)
    weights = []
    for a in range(n_sites):
        eps_skn, w_skn = pdos.get_atomic_subspace_pdos(a, ravel=False)
        eps_skn = np.asarray(eps_skn, dtype=np.float64)
        if eps_skn.shape != eps_ev.shape or not (
            np.allclose(eps_skn, eps_ev, atol=1e-4) or np.allclose(eps_skn * Ha, eps_ev, atol=1e-4)
        ):
            raise RuntimeError("LCAO projections do not line up with the calculator's eigenvalues")
        weights.append(np.asarray(w_skn, dtype=np.float64).ravel())
    return eps_ev.ravel(), np.vstack(weights)


def site_dos(energies: np.ndarray, weights: np.ndarray, reference_energy: float) -> np.ndarray:
    """Broadened, normalized per-site DOS (n_sites, DOS_BINS) on the descriptor_spec grid."""
    raw = gaussian_broadened_dos(np.asarray(energies) - reference_energy, weights)
    return normalize_dos(raw)
