"""Predicted properties of a crystal: formation energy (CHGNet) and band gap (independent predictor).

Formation energy per atom = CHGNet energy per atom − Σ x_el μ_el with the elemental chemical
potentials of :mod:`models.evaluate.chemical_potentials`, i.e. on the same scale as the reference
hull and as MP's formation energies (the model's guidance labels). Band gap comes from the LightGBM
predictor of :mod:`models.evaluate.bandgap`, trained on the corpus' MP gaps, never used for guidance.

:func:`quick_properties` is the cheap per-structure call for the web worker: validity, predicted
band gap and a CHGNet *single-point* (unrelaxed) formation energy and hull distance — about 0.1 s
per crystal after the first call has loaded CHGNet, the band-gap model and the hull (~20 s once).
"""

from __future__ import annotations

import math
import time

from pymatgen.core import Composition, Structure

from models.evaluate.validity import check_validity


def formation_energy_per_atom(composition: Composition | str, energy_per_atom: float, hull=None) -> float:
    from models.evaluate.stability import reference_hull

    return (hull if hull is not None else reference_hull()).formation_energy_per_atom(
        composition, energy_per_atom
    )


def predicted_band_gap(structure: Structure) -> float:
    from models.evaluate.bandgap import load_predictor

    return load_predictor().predict_one(structure)


def _finite(x: float | None) -> float | None:
    return None if x is None or not math.isfinite(x) else float(x)


def quick_properties(structure: Structure, hull=None) -> dict:
    """Validity + predicted band gap + CHGNet single-point formation energy / e_above_hull (no relaxation).

    Every field is filled or None with a reason in ``errors``: a structure CHGNet cannot handle
    (e.g. overlapping atoms) still gets its validity and band gap.
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
    try:
        out["band_gap"] = _finite(predicted_band_gap(structure))
    except Exception as exc:
        out["band_gap"], errors["band_gap"] = None, repr(exc)
    out["energy_per_atom"] = out["formation_energy_per_atom"] = out["e_above_hull"] = None
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
