"""Space groups at the reporting tolerance, and the P1 share the benchmarks report."""

import numpy as np
from pymatgen.core import Lattice, Structure

from models.evaluate.pipeline import summarize
from models.evaluate.symmetry import SYMPREC, p1_count, space_group_number

ROCK_SALT = Structure.from_spacegroup("Fm-3m", Lattice.cubic(5.64), ["Na", "Cl"], [[0, 0, 0], [0.5] * 3])


def _displaced(structure: Structure, angstrom: float, seed: int = 0) -> Structure:
    """Every site moved by ``angstrom`` in a random direction."""
    rng = np.random.default_rng(seed)
    out = structure.copy()
    for i in range(len(out)):
        v = rng.normal(size=3)
        out.translate_sites([i], angstrom * v / np.linalg.norm(v), frac_coords=False)
    return out


def test_symmetry_survives_noise_below_the_tolerance_and_not_above_it():
    assert SYMPREC == 0.1
    assert space_group_number(ROCK_SALT) == 225
    assert space_group_number(_displaced(ROCK_SALT, 0.02)) == 225
    assert space_group_number(_displaced(ROCK_SALT, 0.4)) == 1


def test_p1_count_and_the_summary_rate_ignore_cells_spglib_cannot_analyse():
    structures = [ROCK_SALT, _displaced(ROCK_SALT, 0.4, seed=1), _displaced(ROCK_SALT, 0.4, seed=2)]
    assert p1_count(structures) == (2, 3)
    records = [{"formula": "NaCl", "spacegroup": g} for g in (225, 1, 1, None)]
    assert summarize(records, {})["p1_rate"] == 2 / 3
    assert summarize([{"formula": "NaCl", "spacegroup": None}], {})["p1_rate"] is None
