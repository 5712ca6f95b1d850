"""Predicted properties of generated crystals, computed in the worker just before a chunk is stored.

The evaluation package (``models.evaluate.quick_properties``: validity, LightGBM band gap, CHGNet
single-point formation energy and energy above the reference hull) costs a few seconds to load and
~0.03 s per crystal afterwards, so it is loaded once per worker process, like the model, and never in
the API.

Rules, and why:
- A structure is never lost because its properties could not be predicted: every failure becomes
  null values, a ``properties_status`` and a reason in ``properties_errors`` (and a log line).
- CHGNet is not run on crystals whose bond graph would be huge. A collapsed cell (e.g. 20 atoms at
  0.4 Å³/atom) made CHGNet allocate >22 GB here and the kernel OOM-killed the process; in a worker
  that would kill the chunk, its redelivery, and so on forever. We count the bond-graph angles CHGNet
  would build (pairs of neighbours within its 3 Å bond cutoff) and skip the energy above
  ``MAX_CHGNET_ANGLES``. Measured: ~27 kB and ~60 µs per angle; the densest of 600 corpus crystals
  checked has 435 angles per atom (LiNiO2, 4,936 for 20 sites), so real crystals of up to 64 sites
  stay below the limit. The band-gap features use a 6 Å neighbour list, which explodes the same way
  as the cell volume goes to zero, so below ``MIN_VOLUME_PER_ATOM`` (6× denser than the densest of
  the 15,993 corpus crystals, CrH2 at 5.8 Å³/atom) only validity is computed.
- The energy above hull needs a pymatgen phase diagram of the crystal's whole chemical system, whose
  cost grows ~3× per element (measured: 6 elements 0.1 s, 8 elements 0.9 s; a 12-element sample
  from the tiny test model ran for minutes). Above ``MAX_HULL_ELEMENTS`` elements only the hull
  distance is skipped; the formation energy only needs elemental references and is kept.
- ``PREDICT_PROPERTIES=false`` (status ``disabled``) or a deployment without the ``eval`` extra
  (status ``unavailable``) still stores every structure, with null properties.
"""

from __future__ import annotations

import logging
import math
import threading
import time
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from pymatgen.core import Composition, Lattice, Structure

from app.core.config import get_settings

log = logging.getLogger(__name__)

CHGNET_BOND_CUTOFF = 3.0  # Å, CHGNet's bond-graph cutoff (three-body terms)
MAX_CHGNET_ANGLES = 40_000  # ≈ 1.1 GB and ≈ 2.4 s of CHGNet on one core; see the module docstring
MIN_VOLUME_PER_ATOM = 1.0  # Å³/atom; below it neither CHGNet nor the band-gap features run
MAX_HULL_ELEMENTS = 6  # phase diagrams of larger chemical systems are skipped (see the docstring)

# Values of structures.properties_status.
COMPUTED = "computed"  # every property has a value
PARTIAL = "partial"  # some are null; properties_errors says why
FAILED = "failed"  # the prediction raised for this crystal: all null
DISABLED = "disabled"  # PREDICT_PROPERTIES=false on the worker
UNAVAILABLE = "unavailable"  # the evaluation package could not be loaded (no `eval` extra)

PROPERTY_COLUMNS = (
    "band_gap_pred",
    "formation_energy_pred",
    "e_above_hull_pred",
    "structure_valid",
    "smact_valid",
)


def _empty(status: str, errors: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        **dict.fromkeys(PROPERTY_COLUMNS),
        "properties_status": status,
        "properties_errors": errors or None,
    }


def chgnet_angle_count(structure: Structure) -> int:
    """Number of bond pairs CHGNet's three-body graph would hold (Σ_i d_i (d_i − 1), d_i = neighbours
    of site i within the bond cutoff, periodic images included)."""
    centers = structure.get_neighbor_list(CHGNET_BOND_CUTOFF)[0]
    degree = np.bincount(np.asarray(centers, dtype=int), minlength=len(structure))
    return int((degree * (degree - 1)).sum())


def _finite(value: Any) -> float | None:
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def _bool(value: Any) -> bool | None:
    return None if value is None else bool(value)


class HullTooLarge(ValueError):
    pass


class BoundedHull:
    """The reference hull, refusing chemical systems too large to build a phase diagram for quickly.

    Passed to ``quick_properties(structure, hull=...)``, which computes the formation energy first
    and records this refusal as its ``energy`` error, so only ``e_above_hull`` ends up null."""

    def __init__(self, hull: Any, max_elements: int = MAX_HULL_ELEMENTS):
        self.hull = hull
        self.max_elements = max_elements

    def formation_energy_per_atom(self, composition: Composition | str, energy_per_atom: float) -> float:
        return self.hull.formation_energy_per_atom(composition, energy_per_atom)

    def e_above_hull(self, composition: Composition | str, energy_per_atom: float) -> float:
        n = len(Composition(composition).elements)
        if n > self.max_elements:
            raise HullTooLarge(
                f"e_above_hull skipped: {n}-element chemical system > {self.max_elements} (phase diagram too costly)"
            )
        return self.hull.e_above_hull(composition, energy_per_atom)


class Evaluator:
    """The loaded evaluation functions of one worker process."""

    def __init__(
        self,
        quick_properties: Callable[..., dict],
        check_validity: Callable[[Structure], Any],
        predicted_band_gap: Callable[[Structure], float],
        hull: Any,
    ):
        self.quick_properties = quick_properties
        self.check_validity = check_validity
        self.predicted_band_gap = predicted_band_gap
        self.hull = hull
        # The reference hull caches phase diagrams in a plain dict: one crystal at a time.
        self.lock = threading.Lock()

    def _guarded(self, structure: Structure, energy_reason: str, band_gap_reason: str | None) -> dict:
        """quick_properties' answer without the parts that must not run on this (collapsed) crystal."""
        out: dict[str, Any] = dict(self.check_validity(structure).as_dict())
        errors = {"energy": energy_reason}
        if band_gap_reason is not None:
            out["band_gap"], errors["band_gap"] = None, band_gap_reason
        else:
            try:
                out["band_gap"] = self.predicted_band_gap(structure)
            except Exception as exc:
                out["band_gap"], errors["band_gap"] = None, repr(exc)
        out["errors"] = errors
        return out

    def _raw(self, structure: Structure) -> dict:
        volume_per_atom = float(structure.volume) / max(len(structure), 1)
        if not math.isfinite(volume_per_atom) or volume_per_atom < MIN_VOLUME_PER_ATOM:
            reason = f"skipped: collapsed cell, {volume_per_atom:.3g} Å³/atom < {MIN_VOLUME_PER_ATOM}"
            return self._guarded(structure, reason, reason)
        angles = chgnet_angle_count(structure)
        if angles > MAX_CHGNET_ANGLES:
            reason = (
                f"skipped CHGNet: {angles} bond-graph angles > {MAX_CHGNET_ANGLES} "
                f"(dense cell, {volume_per_atom:.2f} Å³/atom)"
            )
            return self._guarded(structure, reason, None)
        return self.quick_properties(structure, hull=self.hull)

    def predict(self, structure: Structure) -> dict[str, Any]:
        """Column values for one crystal; never raises."""
        try:
            # pymatgen warns about missing element data for exotic samples; the outcome is recorded anyway.
            with self.lock, warnings.catch_warnings():
                warnings.simplefilter("ignore")
                raw = self._raw(structure)
        except Exception as exc:  # e.g. an element the predictors have no data for
            log.warning("property prediction failed for %s: %r", structure.composition.formula, exc)
            return _empty(FAILED, {"all": repr(exc)[:500]})
        values = {
            "band_gap_pred": _finite(raw.get("band_gap")),
            "formation_energy_pred": _finite(raw.get("formation_energy_per_atom")),
            "e_above_hull_pred": _finite(raw.get("e_above_hull")),
            "structure_valid": _bool(raw.get("structure_valid")),
            "smact_valid": _bool(raw.get("composition_valid")),
        }
        errors = {k: str(v)[:500] for k, v in (raw.get("errors") or {}).items()}
        missing = [k for k, v in values.items() if v is None]
        if missing and not errors:
            errors["values"] = f"non-finite or missing: {', '.join(missing)}"
        if errors:
            log.info("partial properties for %s: %s", structure.composition.formula, errors)
        return {
            **values,
            "properties_status": PARTIAL if missing else COMPUTED,
            "properties_errors": errors or None,
        }


_lock = threading.Lock()
_state: dict[str, Any] = {}  # "evaluator": Evaluator | None, "reason": str, "seconds": float


def _load() -> Evaluator:
    from models.evaluate.properties import predicted_band_gap, quick_properties
    from models.evaluate.stability import reference_hull
    from models.evaluate.validity import check_validity

    hull = BoundedHull(reference_hull())
    evaluator = Evaluator(quick_properties, check_validity, predicted_band_gap, hull)
    # Warm every lazy piece (CHGNet, LightGBM boosters, reference hull) on a known crystal, so the
    # first chunk does not pay for it and a broken installation shows up at start.
    rock_salt = Structure.from_spacegroup("Fm-3m", Lattice.cubic(5.64), ["Na", "Cl"], [[0, 0, 0], [0.5] * 3])
    probe = quick_properties(rock_salt, hull=hull)
    if probe.get("errors"):
        log.warning("property predictor loaded with errors on NaCl: %s", probe["errors"])
    return evaluator


def get_evaluator() -> Evaluator | None:
    """The process's evaluator, loaded on first use; None if the evaluation package cannot load (the
    reason is logged once and kept for the status)."""
    with _lock:
        if "evaluator" not in _state:
            started = time.perf_counter()
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    _state["evaluator"] = _load()
                _state["reason"] = ""
            except Exception as exc:
                _state["evaluator"] = None
                _state["reason"] = f"evaluation package unavailable: {exc!r}"[:500]
                log.warning(
                    "property prediction unavailable (install the `eval` extra): %r; structures are "
                    "stored with null predicted properties",
                    exc,
                )
            _state["seconds"] = time.perf_counter() - started
            log.info("property predictor loaded in %.1f s", _state["seconds"])
        return _state["evaluator"]


def predict_properties(structures: Sequence[Structure]) -> list[dict[str, Any]]:
    """Column values (see PROPERTY_COLUMNS, plus status and errors) for each structure, in order."""
    if not get_settings().predict_properties:
        return [_empty(DISABLED) for _ in structures]
    evaluator = get_evaluator()
    if evaluator is None:
        return [_empty(UNAVAILABLE, {"all": _state.get("reason", "")}) for _ in structures]
    return [evaluator.predict(s) for s in structures]


def clear() -> None:
    """Forget the loaded evaluator (tests)."""
    with _lock:
        _state.clear()
