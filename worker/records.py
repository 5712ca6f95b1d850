"""Turn one generated crystal into a ``structures`` row (everything the API will serve, computed once)."""

from __future__ import annotations

import logging
import math
from typing import Any

import numpy as np
from pymatgen.core import Structure

from models.crystal_io import cif_with_charges, structure_dict

log = logging.getLogger(__name__)


def _finite_or_none(values: np.ndarray | None) -> Any:
    """Arrays as nested lists with non-finite entries as None (JSON cannot carry NaN)."""
    if values is None:
        return None
    arr = np.asarray(values, dtype=float)
    return (
        [_finite_or_none(row) for row in arr]
        if arr.ndim > 1
        else [float(v) if math.isfinite(v) else None for v in arr]
    )


def space_group(structure: Structure, symprec: float = 0.1) -> tuple[str | None, int | None]:
    """spglib space group at a tolerance loose enough for generated (unrelaxed) crystals."""
    from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

    try:
        sga = SpacegroupAnalyzer(structure, symprec=symprec)
        return sga.get_space_group_symbol(), int(sga.get_space_group_number())
    except Exception as exc:  # spglib fails on degenerate cells; the structure is still worth storing
        log.warning("space group detection failed: %s", exc)
        return None, None


def structure_record(
    crystal: Any,
    *,
    sample_index: int,
    chunk_index: int,
    seed: int,
    model_name: str,
    checkpoint_sha256: str,
    guidance_scale: float,
    steps: int,
    properties: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """``properties``: the predicted-property columns from :func:`worker.properties.predict_properties`
    (left null when omitted)."""
    structure: Structure = crystal.structure
    charges = None if crystal.charges is None else np.asarray(crystal.charges, dtype=float).ravel()
    dos = None if crystal.dos is None else np.asarray(crystal.dos, dtype=float)
    if charges is not None and len(charges) != len(structure):
        raise ValueError(f"model returned {len(charges)} charges for {len(structure)} sites")
    if dos is not None and dos.shape[0] != len(structure):
        raise ValueError(f"model returned DOS for {dos.shape[0]} sites, structure has {len(structure)}")
    symbol, number = space_group(structure)
    lat = structure.lattice
    try:
        density = float(structure.density)
    except Exception:
        density = None
    header = (
        f"mattergen-e sample {sample_index}; model {model_name}; checkpoint sha256 {checkpoint_sha256}\n"
        f"guidance_scale {guidance_scale}; seed {seed}; steps {steps}"
    )
    if charges is not None:
        header += "\n_atom_site_bader_charge: net Bader charge of the site in e"
    charges_list = _finite_or_none(charges)
    return {
        "sample_index": sample_index,
        "chunk_index": chunk_index,
        "formula": structure.composition.formula,
        "reduced_formula": structure.composition.reduced_formula,
        "elements": sorted({el.symbol for el in structure.composition.elements}),
        "n_sites": len(structure),
        "lattice": {
            "matrix": lat.matrix.tolist(),
            "a": lat.a,
            "b": lat.b,
            "c": lat.c,
            "alpha": lat.alpha,
            "beta": lat.beta,
            "gamma": lat.gamma,
            "volume": lat.volume,
        },
        "volume": float(lat.volume),
        "density": density if density is None or math.isfinite(density) else None,
        "space_group_symbol": symbol,
        "space_group_number": number,
        "structure": structure_dict(structure, None if charges is None else np.nan_to_num(charges)),
        "cif": cif_with_charges(
            structure, None if charges is None else np.nan_to_num(charges), header=header
        ),
        "charges": charges_list,
        "dos": _finite_or_none(dos),
        "model_name": model_name,
        "checkpoint_sha256": checkpoint_sha256,
        "guidance_scale": guidance_scale,
        "seed": seed,
        "steps": steps,
        **(properties or {}),
    }
