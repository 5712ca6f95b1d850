"""Known crystals for validating the DFT path, built from experimental lattice constants.

Where the same crystal is in the corpus (MP-relaxed geometry) its material id is given and the corpus
structure is used instead, so the gap can be compared with MP's for the identical cell.
"""

from __future__ import annotations

from ase.build import bulk
from pymatgen.core import Lattice, Structure
from pymatgen.io.ase import AseAtomsAdaptor

CORPUS_IDS = {"NaCl": "mp-22862", "LiCoO2": "mp-22526"}


def _from_ase(atoms) -> Structure:
    return AseAtomsAdaptor.get_structure(atoms)


def known_crystal(name: str) -> Structure:
    """Primitive cell of a validation crystal (experimental room-temperature lattice constants)."""
    if name in CORPUS_IDS:
        from models.data.corpus import corpus_frame

        df = corpus_frame()
        cif = df.loc[df["material_id"] == CORPUS_IDS[name], "cif"].iloc[0]
        return Structure.from_str(cif, fmt="cif")
    if name == "MgO":
        return _from_ase(bulk("MgO", "rocksalt", a=4.212))
    if name == "Si":
        return _from_ase(bulk("Si", "diamond", a=5.431))
    if name == "GaAs":
        return _from_ase(bulk("GaAs", "zincblende", a=5.653))
    if name == "Cu":
        return _from_ase(bulk("Cu", "fcc", a=3.615))
    if name == "SrTiO3":
        return Structure(
            Lattice.cubic(3.905),
            ["Sr", "Ti", "O", "O", "O"],
            [[0, 0, 0], [0.5, 0.5, 0.5], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]],
        )
    raise KeyError(f"unknown validation crystal {name!r}")


VALIDATION_CRYSTALS = ["NaCl", "MgO", "Si", "GaAs", "SrTiO3", "LiCoO2", "Cu"]
