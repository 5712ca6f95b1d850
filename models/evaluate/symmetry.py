"""Space group of a crystal at a stated tolerance (spglib through pymatgen).

Real crystals are almost never P1 (space group 1, no symmetry but the identity); a generator whose
cells come out P1 places atoms only near, not on, symmetric positions, or not near them at all. The
tolerance is the one Materials Project and the generative-model papers report space groups at.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable

from pymatgen.core import Structure
from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

SYMPREC = 0.1  # Å


def space_group_number(structure: Structure, symprec: float = SYMPREC) -> int | None:
    """International space-group number, or None where spglib cannot analyse the cell."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return int(SpacegroupAnalyzer(structure, symprec=symprec).get_space_group_number())
    except Exception:
        return None


def p1_tally(numbers: Iterable[int | None]) -> tuple[int, int]:
    """(P1 among ``numbers``, numbers known): cells spglib could not analyse (None) count in neither."""
    known = [n for n in numbers if n is not None]
    return sum(n == 1 for n in known), len(known)


def p1_count(structures: Iterable[Structure], symprec: float = SYMPREC) -> tuple[int, int]:
    """(crystals found P1, crystals analysed)."""
    return p1_tally(space_group_number(s, symprec) for s in structures)
