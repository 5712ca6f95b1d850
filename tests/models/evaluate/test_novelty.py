import numpy as np
import pytest
from pymatgen.core import Structure

from models.data.corpus import corpus_frame
from models.evaluate.novelty import KnownCrystals, known_crystals, uniqueness
from models.evaluate.reference_crystals import parse_cif


def _jitter(s: Structure, sigma: float, seed: int) -> Structure:
    noise = np.random.default_rng(seed).normal(0, sigma, (len(s), 3))
    return Structure(s.lattice, s.species, s.cart_coords + noise, coords_are_cartesian=True)


@pytest.fixture(scope="module")
def known_row():
    df = corpus_frame()
    row = df[(df["material_id"] == "mp-10009")].iloc[0]  # GaTe, hexagonal, in the corpus
    return row


def test_known_corpus_crystal_is_not_novel(known_row):
    s = parse_cif(known_row["cif"])
    assert known_crystals().match(s) is not None
    # a supercell with tiny noise is still the same crystal
    noisy = _jitter(s * (1, 1, 2), 0.01, seed=0)
    assert known_crystals().match(noisy) is not None


def test_perturbed_crystal_is_novel(known_row):
    s = parse_cif(known_row["cif"])
    # Default tolerances forgive a lot (stol 0.3 of (V/n)^(1/3) is ~1 Å here, and volume is rescaled):
    # 0.5 Å of noise is still "the same crystal", a c/a ratio stretched by 50 % is not.
    assert known_crystals().match(_jitter(s, 0.5, seed=1)) is not None
    stretched = s.copy()
    stretched.apply_strain([0.0, 0.0, 0.5])
    assert known_crystals().match(stretched) is None


def test_novelty_only_probes_the_formula_bucket(nacl):
    other = nacl.copy()
    other.replace_species({"Na": "K"})
    known = KnownCrystals([("x-1", "NaCl", nacl.to(fmt="cif"))])
    assert known.match(nacl) == "x-1"
    assert known.match(other) is None
    assert len(known) == 1


def test_uniqueness_marks_later_duplicates(nacl, non_neutral):
    sc = nacl.copy()
    sc.make_supercell([2, 1, 1])
    assert uniqueness([nacl, non_neutral, sc, nacl]) == [0, 1, 0, 0]
