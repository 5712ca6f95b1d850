"""A generated crystal becomes one ``structures`` row: every field computed once, non-finite values
made JSON-safe, mismatched descriptor arrays refused."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
from pymatgen.core import Lattice, Structure

from models.crystal_io import charges_from_cif
from worker.records import structure_record


@pytest.fixture()
def nacl() -> Structure:
    return Structure(
        Lattice.cubic(5.64), ["Na", "Na", "Cl", "Cl"], [[0, 0, 0], [0.5, 0.5, 0], [0.5, 0, 0], [0, 0.5, 0]]
    )


def _record(crystal):
    """structure_record with fixed provenance: these tests are about the crystal's fields only."""
    return structure_record(
        crystal,
        sample_index=0,
        chunk_index=0,
        seed=1,
        model_name="m",
        checkpoint_sha256="0" * 64,
        guidance_scale=2.0,
        steps=10,
    )


def test_structure_record_sanitises_non_finite_values(nacl):
    crystal = SimpleNamespace(
        structure=nacl, charges=np.array([1.0, np.nan, -1.0, -1.0]), dos=np.ones((4, 64))
    )
    rec = _record(crystal)
    assert rec["charges"] == [1.0, None, -1.0, -1.0]
    # The four sites form a primitive tetragonal cell of rock salt: P4/mmm.
    assert rec["space_group_number"] == 123 and rec["space_group_symbol"] == "P4/mmm"
    assert rec["elements"] == ["Cl", "Na"] and rec["n_sites"] == 4 and rec["reduced_formula"] == "NaCl"
    assert len(rec["dos"]) == 4 and len(rec["dos"][0]) == 64
    # The CIF and the pymatgen dict carry the NaN charge as 0 (neither format has a null).
    assert charges_from_cif(rec["cif"]) == pytest.approx([1.0, 0.0, -1.0, -1.0])


def test_structure_record_rejects_mismatched_descriptors(nacl):
    crystal = SimpleNamespace(structure=nacl, charges=np.zeros(3), dos=None)
    with pytest.raises(ValueError, match="3 charges for 4 sites"):
        _record(crystal)
    crystal = SimpleNamespace(structure=nacl, charges=None, dos=np.zeros((3, 64)))
    with pytest.raises(ValueError, match="DOS for 3 sites"):
        _record(crystal)
