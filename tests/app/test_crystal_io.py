from __future__ import annotations

import io
from types import SimpleNamespace

import numpy as np
import pytest
from pymatgen.core import Lattice, Structure
from pymatgen.io.cif import CifParser

from app.services.crystal_io import charges_from_cif, cif_with_charges, extxyz_frames, structure_dict
from worker.records import structure_record


@pytest.fixture()
def nacl() -> Structure:
    return Structure(
        Lattice.cubic(5.64), ["Na", "Na", "Cl", "Cl"], [[0, 0, 0], [0.5, 0.5, 0], [0.5, 0, 0], [0, 0.5, 0]]
    )


def test_cif_round_trips_sites_and_charges(nacl):
    charges = [0.81, 0.79, -0.8, -0.8]
    text = cif_with_charges(nacl, charges, header="provenance line")
    assert text.startswith("# provenance line")
    parsed = CifParser.from_str(text).parse_structures(primitive=False)[0]
    assert [str(s.specie) for s in parsed] == ["Na", "Na", "Cl", "Cl"]
    assert charges_from_cif(text) == pytest.approx(charges)
    with pytest.raises(ValueError):
        cif_with_charges(nacl, [1.0], header="")


def test_structure_dict_carries_site_charge(nacl):
    d = structure_dict(nacl, [1, 1, -1, -1])
    assert Structure.from_dict(d).site_properties["charge"] == [1, 1, -1, -1]


def test_extxyz_has_charge_and_dos_arrays(nacl):
    from ase.io import read

    text = extxyz_frames([(nacl, [1, 1, -1, -1], np.ones((4, 64)), {"sample_index": 3})])
    frame = read(io.StringIO(text), format="extxyz")
    assert frame.arrays["bader_charge"].tolist() == [1, 1, -1, -1]
    assert frame.arrays["dos"].shape == (4, 64) and frame.info["sample_index"] == 3


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
    assert rec["space_group_number"] == 123 or rec["space_group_number"] is not None
    assert rec["elements"] == ["Cl", "Na"] and rec["n_sites"] == 4 and rec["reduced_formula"] == "NaCl"
    assert len(rec["dos"]) == 4 and len(rec["dos"][0]) == 64


def test_structure_record_rejects_mismatched_descriptors(nacl):
    crystal = SimpleNamespace(structure=nacl, charges=np.zeros(3), dos=None)
    with pytest.raises(ValueError, match="3 charges for 4 sites"):
        _record(crystal)
