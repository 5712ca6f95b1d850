"""The shipped energy tables are on one scale: CHGNet formation energies agree with MP's."""

import numpy as np

from models.data.corpus import load_corpus
from models.evaluate.chemical_potentials import chemical_potentials
from models.evaluate.chgnet_calc import static_energy_per_atom
from models.evaluate.references import load_reference_energies
from models.evaluate.stability import reference_hull


def test_reference_table_covers_the_corpus():
    refs = load_reference_energies()
    assert len(refs) > 18000
    assert np.isfinite(refs["energy_per_atom"]).mean() > 0.99
    assert {"train", "val", "test", "reference"} <= set(refs["split"])


def test_chgnet_formation_energies_match_mp_on_test_crystals():
    mu = chemical_potentials()
    assert {"O", "Na", "Fe"} <= set(mu)
    entries = [
        e
        for e in load_corpus(split="test", descriptors="none", limit=12)
        if e.formation_energy_per_atom is not None
    ]
    hull = reference_hull()
    errs = []
    for e in entries:
        ef = hull.formation_energy_per_atom(e.structure.composition, static_energy_per_atom(e.structure))
        errs.append(ef - e.formation_energy_per_atom)
    # Double-applying MP2020 corrections would put oxides/chalcogenides off by ~0.5 eV/atom.
    assert np.mean(np.abs(errs)) < 0.1


def test_known_stable_crystal_sits_near_the_hull():
    entries = [e for e in load_corpus(split="train", descriptors="none", limit=200) if e.e_above_hull == 0.0][
        :3
    ]
    hull = reference_hull()
    for e in entries:
        d = hull.e_above_hull(e.structure.composition, static_energy_per_atom(e.structure))
        assert -0.15 < d < 0.1
