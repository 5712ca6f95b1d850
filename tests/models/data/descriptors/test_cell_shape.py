import numpy as np
from pymatgen.core import Lattice, Structure

from models.data.descriptors.gpaw_path import better_shaped_cell, orthogonality_defect


def _skewed_bn() -> Structure:
    # rhombohedral BN as stored for mp-13150: a = b = c = 3.938 Å, all angles 37.19°
    lat = Lattice.from_parameters(3.93786577, 3.93786577, 3.93786602, 37.19449175, 37.19449175, 37.19450572)
    return Structure(lat, ["B", "N"], [[0.999586] * 3, [0.332847] * 3])


def test_skewed_cell_is_reshaped_without_changing_the_crystal():
    s = _skewed_bn()
    b = better_shaped_cell(s)
    assert b is not s
    assert orthogonality_defect(b.lattice.matrix) < 0.5 * orthogonality_defect(s.lattice.matrix)
    assert np.linalg.det(b.lattice.matrix) > 0
    assert [x.specie.symbol for x in b] == ["B", "N"]
    assert b.matches(s, primitive_cell=False, scale=False)
    assert abs(b.volume - s.volume) < 1e-6


def test_reasonable_cell_is_left_alone():
    cubic = Structure(Lattice.cubic(3.905), ["Sr", "Ti"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    assert better_shaped_cell(cubic) is cubic
