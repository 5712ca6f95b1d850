"""CHGNet answers for a cell must not depend on what ran earlier in the same process."""

from __future__ import annotations

import pytest
from pymatgen.core import Lattice, Structure

from models.evaluate.chgnet_calc import relax, static_energy_per_atom

NACL = Structure.from_spacegroup("Fm-3m", Lattice.cubic(5.64), ["Na", "Cl"], [[0, 0, 0], [0.5] * 3])
ISOLATED_H = Structure(Lattice.cubic(50.0), ["H"], [[0, 0, 0]])


def test_isolated_atom_is_refused_even_after_a_relaxation() -> None:
    # chgnet's calculator flips the shared graph converter to "warn"; a relaxation first is the trap.
    relax(NACL, steps=1)
    with pytest.raises(ValueError, match="isolated atom"):
        static_energy_per_atom(ISOLATED_H)
    with pytest.raises(ValueError, match="isolated atom"):
        relax(ISOLATED_H, steps=1)
    assert -4.0 < static_energy_per_atom(NACL) < -3.0  # NaCl: MP energy ≈ -3.4 eV/atom
