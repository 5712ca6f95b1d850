import numpy as np
import pandas as pd
import pytest
from pymatgen.core import Lattice, Structure

from models.evaluate.stability import ReferenceHull, relaxation_rmsd

MU = {"Li": -2.0, "O": -3.0}


@pytest.fixture
def tiny_hull() -> ReferenceHull:
    # One binary reference: LiO with formation energy -1.5 eV/atom (-4.0 - (0.5*-2 + 0.5*-3)).
    refs = pd.DataFrame(
        {"material_id": ["ref-1"], "formula": ["LiO"], "n_sites": [2], "energy_per_atom": [-4.0]}
    )
    return ReferenceHull(refs, MU)


def test_formation_energy(tiny_hull):
    assert tiny_hull.formation_energy_per_atom("LiO", -4.0) == pytest.approx(-1.5)
    assert tiny_hull.formation_energy_per_atom("Li2O2", -4.0) == pytest.approx(-1.5)  # per atom
    assert tiny_hull.formation_energy_per_atom("Li", -2.0) == pytest.approx(0.0)


def test_e_above_hull_on_hand_made_references(tiny_hull):
    assert tiny_hull.e_above_hull("LiO", -4.0) == pytest.approx(0.0, abs=1e-9)
    assert tiny_hull.e_above_hull("LiO", -3.9) == pytest.approx(0.1)
    assert tiny_hull.e_above_hull("LiO", -4.2) == pytest.approx(-0.2)  # below the hull: negative
    # Li2O: hull at x_O = 1/3 is the Li--LiO tie line, formation -1.0; a -0.8 crystal sits 0.2 above.
    e_li2o = -0.8 + (2 / 3) * MU["Li"] + (1 / 3) * MU["O"]
    assert tiny_hull.e_above_hull("Li2O", e_li2o) == pytest.approx(0.2)
    # LiO2: tie line LiO--O at x_O = 2/3, formation -1.0 as well.
    e_lio2 = -1.0 + (1 / 3) * MU["Li"] + (2 / 3) * MU["O"]
    assert tiny_hull.e_above_hull("LiO2", e_lio2) == pytest.approx(0.0, abs=1e-9)


def test_unknown_element_is_a_clear_error(tiny_hull):
    with pytest.raises(KeyError, match="Na"):
        tiny_hull.e_above_hull("NaO", -3.0)
    with pytest.raises(KeyError, match="Na"):
        tiny_hull.formation_energy_per_atom("NaO", -3.0)


def test_too_many_elements_is_refused_quickly():
    import time

    from models.evaluate.stability import MAX_HULL_ELEMENTS

    symbols = ["H", "Li", "Be", "B", "C", "N", "O", "F", "Na", "Mg"][: MAX_HULL_ELEMENTS + 1]
    hull = ReferenceHull(pd.DataFrame(columns=["formula", "n_sites", "energy_per_atom"]), dict.fromkeys(symbols, -1.0))
    started = time.perf_counter()
    with pytest.raises(KeyError, match="at most"):
        hull.e_above_hull("".join(symbols), -1.0)
    assert time.perf_counter() - started < 1.0


def test_relaxation_rmsd_site_by_site():
    a = Structure(Lattice.cubic(4.0), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    b = a.copy()
    b.translate_sites([1], [0.05, 0, 0])  # Cl moves 0.2 Å along x
    # After removing the mean translation each site moved 0.1 Å.
    assert relaxation_rmsd(a, b) == pytest.approx(0.1)
    shifted = a.copy()
    shifted.translate_sites([0, 1], [0.3, 0.3, 0.3])  # rigid shift of everything: no displacement
    assert relaxation_rmsd(a, shifted) == pytest.approx(0.0, abs=1e-9)
    wrapped = a.copy()
    wrapped.translate_sites([0], [0.99, 0, 0], to_unit_cell=True)  # -0.04 Å via the periodic image
    assert relaxation_rmsd(a, wrapped) == pytest.approx(np.sqrt(0.02**2), abs=1e-9)


def test_strict_stability_and_the_hull_gap_flag():
    """S strict = on or below the hull; more than 0.05 eV/atom below is flagged, not counted as stable."""
    from models.evaluate.stability import is_below_hull_flag, is_stable_strict

    assert is_stable_strict(0.0) and is_stable_strict(-0.03) and not is_stable_strict(0.02)
    assert not is_stable_strict(-0.2) and is_below_hull_flag(-0.2) and not is_below_hull_flag(-0.03)
    assert not is_stable_strict(None) and not is_below_hull_flag(None)


def test_hull_coverage_counts_reference_compounds_per_system():
    import pandas as pd

    from models.evaluate.stability import ReferenceHull

    entries = pd.DataFrame({"formula": ["NaCl", "Na2O", "NaClO3", "Na"], "energy_per_atom": [-3.0, -2.5, -4.0, -1.0]})
    hull = ReferenceHull(entries, {"Na": -1.3, "Cl": -1.8, "O": -4.9, "K": -1.1})
    assert hull.coverage(frozenset({"Na", "Cl"})) == {"reference_compounds_in_system": 1,
                                                      "reference_compounds_in_subsystems": 1}
    assert hull.coverage(frozenset({"Na", "Cl", "O"})) == {"reference_compounds_in_system": 1,
                                                           "reference_compounds_in_subsystems": 3}
    assert hull.coverage(frozenset({"K", "Cl"}))["reference_compounds_in_system"] == 0
