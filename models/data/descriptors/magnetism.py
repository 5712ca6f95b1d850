"""How magnetic compounds are treated: spin-polarized, ferromagnetic start, for open-shell elements only.

Decision and why:
- Crystals containing an element from ``MAGNETIC_ELEMENTS`` (3d V–Ni, the 4f lanthanides Ce–Yb and the
  early actinides) are run spin-polarized, every such site starting with the moment in
  ``INITIAL_MOMENT`` (μB; pymatgen's MPRelaxSet defaults for the neutral element: 5 for V–Ni except
  Co 0.6, 5 for the lanthanides), all other sites at 0.
  The SCF is free to lose the moment (e.g. low-spin Co³⁺ in LiCoO2 ends non-magnetic).
  Materials Project computed these compounds spin-polarized from the same kind of ferromagnetic start,
  so our band gaps are like-for-like with MP's in spin treatment (not in +U: MP used GGA+U for oxides
  and fluorides of Co, Cr, Fe, Mn, Mo, Ni, V, W, which we do not — those gap comparisons are flagged).
  A spin-restricted run of an open-shell 3d compound is forced into a non-magnetic, usually metallic
  state with distorted charges, which would poison the labels.
- Everything else is spin-restricted (half the cost; closed-shell compounds do not polarize).
- Antiferromagnetic orderings are not searched (they need supercells); the ferromagnetic solution is the
  one recorded. The record of every crystal holds ``spin_polarized``, the initial and final moments.
Charges are Bader charges of the total (spin-summed) density; the DOS is spin-summed.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

MAGNETIC_ELEMENTS: frozenset[str] = frozenset(
    "V Cr Mn Fe Co Ni Ce Pr Nd Pm Sm Eu Gd Tb Dy Ho Er Tm Yb U Np Pu".split()
)

INITIAL_MOMENT: dict[str, float] = {
    "V": 5.0,
    "Cr": 5.0,
    "Mn": 5.0,
    "Fe": 5.0,
    "Co": 0.6,
    "Ni": 5.0,
    "Eu": 10.0,
}
DEFAULT_F_MOMENT = 5.0


def initial_moments(symbols: Sequence[str], policy: str) -> list[float] | None:
    """Initial moments per site, or ``None`` for a spin-restricted calculation."""
    if policy == "restricted":
        return None
    if policy != "ferromagnetic-open-shell":
        raise ValueError(f"unknown spin policy {policy!r}")
    if not any(s in MAGNETIC_ELEMENTS for s in symbols):
        return None
    return [INITIAL_MOMENT.get(s, DEFAULT_F_MOMENT) if s in MAGNETIC_ELEMENTS else 0.0 for s in symbols]


def largest_feasible_moment(symbol: str, moment: float, xc: str = "PBE", basis: str = "dzp") -> float:
    """``moment`` lowered (in steps of 1 μB) until GPAW can place it in the atom's basis functions.

    Why: GPAW builds its starting density from atomic occupations restricted to the orbitals the LCAO
    basis holds. Fe's 8-valence-electron PBE setup with the dzp basis can hold at most 4 μB (4s¹3d⁵ up,
    3d² down), so MP's ferromagnetic start of 5 μB fails at once with "Bad basis for Fe" — every Fe
    crystal would be lost. The clamp keeps the start as ferromagnetic as the basis allows; the SCF then
    finds the moment itself, as before.
    """
    return _largest_feasible_moment(symbol, float(moment), xc, basis)


@lru_cache(maxsize=256)
def _largest_feasible_moment(symbol: str, moment: float, xc: str, basis: str) -> float:
    from gpaw.basis_data import Basis
    from gpaw.setup import create_setup

    setup = create_setup(symbol, xc, basis=Basis.find(symbol, basis))
    m = moment
    while m > 0:
        try:
            setup.calculate_initial_occupation_numbers(m, False, 0, 2)
            return m
        except ValueError:
            m = max(m - 1.0, 0.0)
    return 0.0


def feasible_initial_moments(
    symbols: Sequence[str], moments: Sequence[float], xc: str, basis: str
) -> list[float]:
    """Apply :func:`largest_feasible_moment` per site (sites at 0 stay 0)."""
    return [
        largest_feasible_moment(s, m, xc, basis) if m > 0 else 0.0
        for s, m in zip(symbols, moments, strict=True)
    ]
