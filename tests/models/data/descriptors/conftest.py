"""The 2-atom NaCl cell both DFT-path tests (GPAW production path, PySCF second opinion) run on."""

import pytest


@pytest.fixture(scope="session")
def nacl_rocksalt():
    """Rocksalt NaCl primitive cell, a = 5.64 Å (experiment), sites in the order Na, Cl."""
    from ase.build import bulk
    from pymatgen.io.ase import AseAtomsAdaptor

    return AseAtomsAdaptor.get_structure(bulk("NaCl", "rocksalt", a=5.64))
