"""The crystal writers every output goes through (CLI, worker, archive): CIF with a charge column,
pymatgen dict with site charges, extxyz with per-atom charge and DOS arrays."""

from __future__ import annotations

import io

import numpy as np
import pytest
from ase.io import read
from pymatgen.core import Lattice, Structure
from pymatgen.io.cif import CifParser

from models.crystal_io import (
    EXTXYZ_CHARGE_ARRAY,
    EXTXYZ_DOS_ARRAY,
    charges_from_cif,
    cif_with_charges,
    extxyz_frames,
    structure_dict,
    write_extxyz,
)


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
    with pytest.raises(ValueError, match="1 charges for 4 sites"):
        cif_with_charges(nacl, [1.0], header="")


def test_cif_without_charges_has_no_charge_column(nacl):
    assert charges_from_cif(cif_with_charges(nacl, None)) is None


def test_structure_dict_carries_site_charge(nacl):
    d = structure_dict(nacl, [1, 1, -1, -1])
    assert Structure.from_dict(d).site_properties["charge"] == [1, 1, -1, -1]


def test_extxyz_has_charge_and_dos_arrays(nacl):
    text = extxyz_frames([(nacl, [1, 1, -1, -1], np.ones((4, 64)), {"sample_index": 3})])
    frame = read(io.StringIO(text), format="extxyz")
    assert frame.arrays[EXTXYZ_CHARGE_ARRAY].tolist() == [1, 1, -1, -1]
    assert frame.arrays[EXTXYZ_DOS_ARRAY].shape == (4, 64) and frame.info["sample_index"] == 3


def test_write_extxyz_appends_one_frame_per_record(nacl):
    buf = io.StringIO()
    records = ((nacl, None, None, {"sample_index": i}) for i in range(3))
    assert write_extxyz(records, buf) == 3
    frames = read(io.StringIO(buf.getvalue()), index=":", format="extxyz")
    assert [f.info["sample_index"] for f in frames] == [0, 1, 2]
    assert EXTXYZ_CHARGE_ARRAY not in frames[0].arrays
