"""CHGNet relaxation and symmetry of one generated crystal, as ``structures`` column values.

The relaxation is CHGNet's FIRE on positions and cell (``models.evaluate.chgnet_calc.relax``, the
same call the evaluation pipeline judges samples with), capped at RELAX_MAX_STEPS and stopped below
RELAX_FMAX. The relaxed structure gets spglib's space group at ``SYMPREC`` and a symmetrized CIF;
the generated structure is kept as it was sampled.

A crystal CHGNet must not see (collapsed cell, huge bond graph: the guards of
``models.evaluate.properties``) or whose relaxation raises is stored unrelaxed with
``relax_status = "failed"`` and the reason: relaxation never loses a structure.
"""

from __future__ import annotations

import logging
import math
import time
import warnings
from typing import Any

from pymatgen.core import Structure

from models.crystal_io import cif_with_charges
from worker.records import space_group

log = logging.getLogger(__name__)

SYMPREC = 0.1  # Å, spglib distance tolerance for the relaxed structure's space group and symmetrized CIF
ANGLE_TOLERANCE = 5.0  # degrees (spglib's default)

RELAXED = "relaxed"
FAILED = "failed"
SKIPPED = "skipped"  # the job asked "relax": false
DISABLED = "disabled"  # RELAX_STRUCTURES=false on the worker

RELAX_COLUMNS = (
    "relax_status",
    "relax_error",
    "relaxed_structure",
    "relaxed_cif",
    "symmetrized_cif",
    "relaxed_space_group_symbol",
    "relaxed_space_group_number",
    "relax_rmsd",
    "relaxed_energy_per_atom",
    "relax_converged",
    "relax_steps",
    "relax_seconds",
)


def not_relaxed(status: str, error: str | None = None) -> dict[str, Any]:
    return {**dict.fromkeys(RELAX_COLUMNS), "relax_status": status, "relax_error": error}


def refusal(structure: Structure) -> str | None:
    """Why CHGNet must not relax this crystal (None: go ahead); the guards of quick_properties."""
    from models.evaluate.properties import MAX_CHGNET_ANGLES, MIN_VOLUME_PER_ATOM, chgnet_angle_count

    per_atom = float(structure.volume) / max(len(structure), 1)
    if not math.isfinite(per_atom) or per_atom < MIN_VOLUME_PER_ATOM:
        return f"not relaxed: collapsed cell, {per_atom:.3g} Å³/atom < {MIN_VOLUME_PER_ATOM}"
    angles = chgnet_angle_count(structure)
    if angles > MAX_CHGNET_ANGLES:
        return f"not relaxed: {angles} CHGNet bond-graph angles > {MAX_CHGNET_ANGLES} (dense cell)"
    return None


def symmetrized_cif(structure: Structure, header: str) -> str | None:
    """CIF with the symmetry spglib finds at SYMPREC (asymmetric unit + operations); None if it fails."""
    from pymatgen.io.cif import CifWriter

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            text = str(CifWriter(structure, symprec=SYMPREC, angle_tolerance=ANGLE_TOLERANCE))
    except Exception as exc:  # spglib gives up on some degenerate cells; the P1 CIF is still served
        log.warning("symmetrized CIF failed: %r", exc)
        return None
    return "".join(f"# {line}\n" for line in header.splitlines()) + text


def relax_columns(structure: Structure, fmax: float, max_steps: int) -> tuple[dict[str, Any], Structure | None]:
    """(column values, relaxed structure or None). Never raises."""
    from models.evaluate.chgnet_calc import relax
    from models.evaluate.stability import relaxation_rmsd

    reason = refusal(structure)
    if reason is not None:
        return not_relaxed(FAILED, reason), None
    started = time.perf_counter()
    try:
        result = relax(structure, fmax=fmax, steps=max_steps)
        relaxed = result.structure
        energy = float(result.energy_per_atom)
        if not math.isfinite(energy) or not math.isfinite(float(relaxed.volume)):
            raise ValueError(f"non-finite relaxed energy {energy} or volume")
        rmsd = relaxation_rmsd(structure, relaxed)
    except Exception as exc:
        log.warning("relaxation failed for %s: %r", structure.composition.formula, exc)
        return not_relaxed(FAILED, f"relaxation failed: {exc!r}"[:500]), None
    seconds = time.perf_counter() - started
    symbol, number = space_group(relaxed, symprec=SYMPREC)
    header = (
        f"CHGNet-relaxed (FIRE, fmax {fmax} eV/A, {result.n_steps} steps, "
        f"{'converged' if result.converged else 'NOT converged'}); symprec {SYMPREC} A"
    )
    plain = Structure(relaxed.lattice, relaxed.species, relaxed.frac_coords)  # no site properties
    return {
        "relax_status": RELAXED,
        "relax_error": None,
        "relaxed_structure": plain.as_dict(),
        "relaxed_cif": cif_with_charges(plain, None, header=header),
        "symmetrized_cif": symmetrized_cif(plain, header),
        "relaxed_space_group_symbol": symbol,
        "relaxed_space_group_number": number,
        "relax_rmsd": rmsd if math.isfinite(rmsd) else None,
        "relaxed_energy_per_atom": energy,
        "relax_converged": bool(result.converged),
        "relax_steps": int(result.n_steps),
        "relax_seconds": seconds,
    }, plain
