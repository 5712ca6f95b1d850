"""Serialisations of a generated crystal: pymatgen dict with per-site charges, CIF with a charge
column, and extended XYZ carrying charges and DOS as per-atom arrays.

The worker uses these when storing a structure (so the stored CIF/JSON never drift from each other)
and the API uses them for the archive.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

import numpy as np
from pymatgen.core import Structure

CIF_CHARGE_TAG = "_atom_site_bader_charge"


def with_charges(structure: Structure, charges: Sequence[float] | np.ndarray | None) -> Structure:
    """A copy of ``structure`` whose sites carry a ``charge`` property (e) when charges are known."""
    out = structure.copy()
    if charges is not None:
        values = [float(c) for c in np.asarray(charges, dtype=float).ravel()]
        if len(values) != len(out):
            raise ValueError(f"{len(values)} charges for {len(out)} sites")
        out.add_site_property("charge", values)
    return out


def structure_dict(structure: Structure, charges: Sequence[float] | np.ndarray | None) -> dict:
    """pymatgen ``Structure.as_dict()`` with each site's ``properties.charge`` in e."""
    return with_charges(structure, charges).as_dict()


def cif_with_charges(
    structure: Structure, charges: Sequence[float] | np.ndarray | None, header: str = ""
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


def extxyz_frames(
    records: Sequence[tuple[Structure, Sequence[float] | None, np.ndarray | None, dict]],
) -> str:
    """One extended-XYZ text with a frame per structure: per-atom ``bader_charge`` (e) and ``dos``
    (DOS_BINS columns, states/eV); ``info`` becomes the comment-line key=value pairs."""
    from ase.io import write
    from pymatgen.io.ase import AseAtomsAdaptor

    frames = []
    for structure, charges, dos, info in records:
        atoms = AseAtomsAdaptor.get_atoms(Structure.from_sites(structure.sites))
        if charges is not None:
            atoms.new_array("bader_charge", np.asarray(charges, dtype=float))
        if dos is not None:
            atoms.new_array("dos", np.asarray(dos, dtype=float))
        atoms.info.update(info)
        frames.append(atoms)
    buf = io.StringIO()
    write(buf, frames, format="extxyz")
    return buf.getvalue()
