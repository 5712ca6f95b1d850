"""Predicted properties of generated crystals, computed in the worker just before a chunk is stored.

The evaluation package (``models.evaluate.quick_properties``: validity, LightGBM band gap, CHGNet
single-point formation energy and energy above the reference hull) costs a few seconds to load and
~0.03 s per crystal afterwards, so it is loaded once per worker process, like the model, and never in
the API.

Rules, and why:
- A structure is never lost because its properties could not be predicted: every failure becomes
  null values, a ``properties_status`` and a reason in ``properties_errors`` (and a log line).
- Crystals that would take the process down (collapsed cells, huge CHGNet bond graphs, chemical
  systems too large for the hull) are refused inside ``quick_properties``, which says why.
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

from pymatgen.core import Lattice, Structure

from app.core.config import get_settings

log = logging.getLogger(__name__)

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
    "structurally_valid",
    "smact_valid",
)


def _empty(status: str, errors: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        **dict.fromkeys(PROPERTY_COLUMNS),
        "properties_status": status,
        "properties_errors": errors or None,
    }


def _finite(value: Any) -> float | None:
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def _bool(value: Any) -> bool | None:
    return None if value is None else bool(value)


class Evaluator:
    """The loaded evaluation functions of one worker process."""

    def __init__(self, quick_properties: Callable[..., dict], hull: Any):
        self.quick_properties = quick_properties
        self.hull = hull
        # The reference hull caches phase diagrams in a plain dict: one crystal at a time.
        self.lock = threading.Lock()

    def predict(self, structure: Structure) -> dict[str, Any]:
        """Column values for one crystal; never raises."""
        try:
            # pymatgen warns about missing element data for exotic samples; the outcome is recorded anyway.
            with self.lock, warnings.catch_warnings():
                warnings.simplefilter("ignore")
                raw = self.quick_properties(structure, hull=self.hull)
        except Exception as exc:  # e.g. an element the predictors have no data for
            log.warning("property prediction failed for %s: %r", structure.composition.formula, exc)
            return _empty(FAILED, {"all": repr(exc)[:500]})
        values = {
            "band_gap_pred": _finite(raw.get("band_gap")),
            "formation_energy_pred": _finite(raw.get("formation_energy_per_atom")),
            "e_above_hull_pred": _finite(raw.get("e_above_hull")),
            "structurally_valid": _bool(raw.get("structure_valid")),
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
    from models.evaluate.properties import quick_properties
    from models.evaluate.stability import reference_hull

    hull = reference_hull()
    evaluator = Evaluator(quick_properties, hull)
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
