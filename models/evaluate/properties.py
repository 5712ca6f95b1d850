"""Predicted properties of a crystal: formation energy (CHGNet) and band gap (independent predictor).

Formation energy per atom = CHGNet energy per atom − Σ x_el μ_el with the elemental chemical
potentials of :mod:`models.evaluate.chemical_potentials`, i.e. on the same scale as the reference
hull and as MP's formation energies (the model's guidance labels). Band gap comes from the LightGBM
predictor of :mod:`models.evaluate.band_gap`, trained on the corpus' MP gaps, never used for guidance.

:func:`quick_properties` is the cheap per-structure call for the web worker: validity, predicted
band gap and a CHGNet *single-point* (unrelaxed) formation energy and hull distance — about 0.1 s
per crystal after the first call has loaded CHGNet, the band-gap model and the hull (~20 s once).

It runs on whatever a sampler produced, so it refuses the work that would take a process down:
- CHGNet is not run on crystals whose bond graph would be huge. A collapsed cell (e.g. 20 atoms at
  0.4 Å³/atom) made CHGNet allocate >22 GB and the kernel OOM-killed the process. We count the
  bond-graph angles CHGNet would build (pairs of neighbours within its 3 Å bond cutoff) and skip the
  energy above ``MAX_CHGNET_ANGLES``. Measured: ~27 kB and ~60 µs per angle; the densest of 600 corpus
  crystals checked has 435 angles per atom (LiNiO2, 4,936 for 20 sites), so real crystals of up to 64
  sites stay below the limit.
- The band-gap features use a 6 Å neighbour list, which explodes the same way as the cell volume goes
  to zero, so below ``MIN_VOLUME_PER_ATOM`` (6× denser than the densest of the 15,993 corpus
  crystals, CrH2 at 5.8 Å³/atom) only validity is computed.
- The hull distance of a chemical system larger than the reference hull supports
  (``stability.MAX_HULL_ELEMENTS``) is refused by the hull itself; the formation energy only needs
  elemental references and is kept.
"""

from __future__ import annotations

import math
import time

import numpy as np
from pymatgen.core import Composition, Structure

from models.evaluate.validity import check_validity

CHGNET_BOND_CUTOFF = 3.0  # Å, CHGNet's bond-graph cutoff (three-body terms)
MAX_CHGNET_ANGLES = 40_000  # ≈ 1.1 GB and ≈ 2.4 s of CHGNet on one core; see the module docstring
MIN_VOLUME_PER_ATOM = 1.0  # Å³/atom; below it neither CHGNet nor the band-gap features run


def formation_energy_per_atom(composition: Composition | str, energy_per_atom: float, hull=None) -> float:
    from models.evaluate.stability import reference_hull

    return (hull if hull is not None else reference_hull()).formation_energy_per_atom(
        composition, energy_per_atom
    )


def predicted_band_gap(structure: Structure) -> float:
    from models.evaluate.band_gap import load_predictor

    return load_predictor().predict_one(structure)


def _finite(x: float | None) -> float | None:
    return None if x is None or not math.isfinite(x) else float(x)


def chgnet_angle_count(structure: Structure) -> int:
    """Number of bond pairs CHGNet's three-body graph would hold (Σ_i d_i (d_i − 1), d_i = neighbours
    of site i within the bond cutoff, periodic images included)."""
    centers = structure.get_neighbor_list(CHGNET_BOND_CUTOFF)[0]
    degree = np.bincount(np.asarray(centers, dtype=int), minlength=len(structure))
    return int((degree * (degree - 1)).sum())


def _guard_reasons(structure: Structure) -> tuple[str | None, str | None]:
    """Why the band gap and the CHGNet energy must not be computed for this crystal (None: go ahead)."""
    volume_per_atom = float(structure.volume) / max(len(structure), 1)
    if not math.isfinite(volume_per_atom) or volume_per_atom < MIN_VOLUME_PER_ATOM:
        reason = f"skipped: collapsed cell, {volume_per_atom:.3g} Å³/atom < {MIN_VOLUME_PER_ATOM}"
        return reason, reason
    angles = chgnet_angle_count(structure)
    if angles > MAX_CHGNET_ANGLES:
        return None, (
            f"skipped CHGNet: {angles} bond-graph angles > {MAX_CHGNET_ANGLES} "
            f"(dense cell, {volume_per_atom:.2f} Å³/atom)"
        )
    return None, None


def quick_properties(structure: Structure, hull=None) -> dict:
    """Validity + predicted band gap + CHGNet single-point formation energy / e_above_hull (no relaxation).

    Every field is filled or None with a reason in ``errors``: a structure CHGNet cannot handle
    (e.g. overlapping atoms, or one the guards of the module docstring refuse) still gets its
    validity and, unless its cell has collapsed, its band gap.
    """
    from models.evaluate.chgnet_calc import static_energy_per_atom
    from models.evaluate.stability import reference_hull

    t0 = time.time()
    out: dict = {
        "formula": structure.composition.reduced_formula,
        "n_sites": len(structure),
        "relaxed": False,
    }
    out.update(check_validity(structure).as_dict())
    errors: dict[str, str] = {}
    out["band_gap"] = out["energy_per_atom"] = out["formation_energy_per_atom"] = out["e_above_hull"] = None
    band_gap_reason, energy_reason = _guard_reasons(structure)
    if band_gap_reason is not None:
        errors["band_gap"] = band_gap_reason
    else:
        try:
            out["band_gap"] = _finite(predicted_band_gap(structure))
        except Exception as exc:
            errors["band_gap"] = repr(exc)
    if energy_reason is not None:
        errors["energy"] = energy_reason
    else:
        try:
            e = static_energy_per_atom(structure)
            out["energy_per_atom"] = _finite(e)
            hull = hull if hull is not None else reference_hull()
            out["formation_energy_per_atom"] = _finite(hull.formation_energy_per_atom(structure.composition, e))
            out["e_above_hull"] = _finite(hull.e_above_hull(structure.composition, e))
        except Exception as exc:
            errors["energy"] = repr(exc)
    out["errors"] = errors
    out["seconds"] = round(time.time() - t0, 4)
    return out
