"""Serialisations of a generated crystal: pymatgen dict with per-site charges, CIF with a charge
column, and extended XYZ carrying charges and DOS as per-atom arrays.

One module for every writer (the sampling CLI, the worker storing a structure, the API's archive),
so the files they produce carry the same fields under the same names.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, TextIO

import numpy as np
from pymatgen.core import Structure

if TYPE_CHECKING:
    from ase import Atoms

CIF_CHARGE_TAG = "_atom_site_bader_charge"
# Per-atom extxyz arrays. Not "charges": ASE turns an array of that name into a calculator result
# when it reads the file back, which hides it from ``atoms.arrays``.
EXTXYZ_CHARGE_ARRAY = "bader_charge"
EXTXYZ_DOS_ARRAY = "dos"

Charges = Sequence[float] | np.ndarray | None


def with_charges(structure: Structure, charges: Charges) -> Structure:
    """A copy of ``structure`` whose sites carry a ``charge`` property (e) when charges are known."""
    out = structure.copy()
    if charges is not None:
        values = [float(c) for c in np.asarray(charges, dtype=float).ravel()]
        if len(values) != len(out):
            raise ValueError(f"{len(values)} charges for {len(out)} sites")
        out.add_site_property("charge", values)
    return out


def structure_dict(structure: Structure, charges: Charges) -> dict:
    """pymatgen ``Structure.as_dict()`` with each site's ``properties.charge`` in e."""
    return with_charges(structure, charges).as_dict()


def cif_with_charges(
    structure: Structure, charges: Charges, header: str = ""
) -> str:
    """A P1 CIF (one row per site, same order as the structure) with a Bader-charge column.

    P1 keeps the one-to-one mapping between CIF rows and the stored per-site charge/DOS arrays, which
    a symmetrised CIF would break by merging equivalent sites.
    """
    from pymatgen.io.cif import CifWriter

    writer = CifWriter(structure.copy())
    block = next(iter(writer.cif_file.data.values()))
    if charges is not None:
        values = np.asarray(charges, dtype=float).ravel()
        if len(values) != len(structure):
            raise ValueError(f"{len(values)} charges for {len(structure)} sites")
        loop = next(loop for loop in block.loops if "_atom_site_label" in loop)
        loop.append(CIF_CHARGE_TAG)
        block.data[CIF_CHARGE_TAG] = [f"{v:.4f}" for v in values]
    text = str(writer)
    if header:
        comment = "".join(f"# {line}\n" for line in header.splitlines())
        text = comment + text
    return text


def charges_from_cif(cif: str) -> list[float] | None:
    """Read back the charge column written by :func:`cif_with_charges` (used in tests and by clients)."""
    from pymatgen.io.cif import CifFile

    block = next(iter(CifFile.from_str(cif).data.values()))
    if CIF_CHARGE_TAG not in block.data:
        return None
    return [float(v) for v in block.data[CIF_CHARGE_TAG]]


def extxyz_atoms(
    structure: Structure,
    charges: Charges,
    dos: np.ndarray | None,
    info: dict,
    charge_array: str = EXTXYZ_CHARGE_ARRAY,
) -> Atoms:
    """One extxyz frame: per-atom ``bader_charge`` (e) and ``dos`` (DOS_BINS columns, states/eV) when
    known; ``info`` becomes the comment-line key=value pairs."""
    from pymatgen.io.ase import AseAtomsAdaptor

    atoms = AseAtomsAdaptor.get_atoms(Structure.from_sites(structure.sites))
    if charges is not None:
        atoms.new_array(charge_array, np.asarray(charges, dtype=float).ravel())
    if dos is not None:
        atoms.new_array(EXTXYZ_DOS_ARRAY, np.asarray(dos, dtype=float))
    atoms.info.update(info)
    return atoms


def write_extxyz(
    records: Iterable[tuple[Structure, Charges, np.ndarray | None, dict]],
    out: TextIO,
    charge_array: str = EXTXYZ_CHARGE_ARRAY,
) -> int:
    """Append one frame per record to ``out``, one at a time (a long job never sits in memory).
    Returns the number of frames written."""
    from ase.io import write

    n = 0
    for structure, charges, dos, info in records:
        write(out, extxyz_atoms(structure, charges, dos, info, charge_array), format="extxyz")
        n += 1
    return n


def extxyz_frames(records: Iterable[tuple[Structure, Charges, np.ndarray | None, dict]]) -> str:
    """:func:`write_extxyz` into a string."""
    buf = io.StringIO()
    write_extxyz(records, buf)
    return buf.getvalue()
