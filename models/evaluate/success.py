"""Property hits against a design target and the success criterion.

Success = VSUN (valid, stable, unique, novel) *and* every targeted property within tolerance:
band gap ±0.5 eV (independent predictor on the relaxed crystal), formation energy ±0.2 eV/atom
(CHGNet-relaxed energy vs the elemental chemical potentials). Without a target, success = VSUN.
Errors are kept signed so the whole distribution can be reported, not just the hit rate.
"""

from __future__ import annotations

import math

import numpy as np

TOLERANCES = {"band_gap": 0.5, "formation_energy_per_atom": 0.2}
ALIASES = {"formation_energy": "formation_energy_per_atom", "bandgap": "band_gap", "band_gap_ev": "band_gap"}


def normalize_target(target: dict | None) -> dict[str, float]:
    """Map user keys to canonical property names; reject unknown keys and non-finite values."""
    if not target:
        return {}
    out: dict[str, float] = {}
    for key, value in target.items():
        if value is None:
            continue
        name = ALIASES.get(key, key)
        if name not in TOLERANCES:
            raise ValueError(f"unknown target property {key!r}; expected one of {sorted(TOLERANCES)}")
        v = float(value)
        if not math.isfinite(v):
            raise ValueError(f"target {key} must be finite, got {value!r}")
        out[name] = v
    return out


def property_errors(record: dict, target: dict[str, float]) -> dict[str, float | None]:
    """Signed error (predicted − target) per targeted property; None when it could not be computed."""
    errs: dict[str, float | None] = {}
    for name, t in target.items():
        v = record.get(name)
        errs[name] = None if v is None or not math.isfinite(float(v)) else float(v) - t
    return errs


def is_hit(errors: dict[str, float | None]) -> bool:
    return all(e is not None and abs(e) <= TOLERANCES[k] for k, e in errors.items())


def is_vsun(record: dict) -> bool:
    return bool(record.get("valid") and record.get("stable") and record.get("unique") and record.get("novel"))


def is_vsun_strict(record: dict) -> bool:
    """VSUN with strict S: on the hull, not below it by more than the reference-gap flag."""
    return bool(
        record.get("valid") and record.get("stable_strict") and record.get("unique") and record.get("novel")
    )


def is_success(record: dict, target: dict[str, float]) -> bool:
    return is_vsun(record) and is_hit(property_errors(record, target))


def error_distribution(errors: list[float | None]) -> dict:
    """Summary of signed errors: counts, mean |error|, quantiles and a histogram."""
    e = np.array([x for x in errors if x is not None and math.isfinite(x)], dtype=float)
    if e.size == 0:
        return {"n": 0, "n_missing": len(errors)}
    q = np.quantile(e, [0.05, 0.25, 0.5, 0.75, 0.95])
    hist, edges = np.histogram(e, bins=min(20, max(5, e.size // 5)))
    return {
        "n": int(e.size),
        "n_missing": int(len(errors) - e.size),
        "mean": float(e.mean()),
        "mean_abs": float(np.abs(e).mean()),
        "median_abs": float(np.median(np.abs(e))),
        "std": float(e.std()),
        "quantiles": {
            "p05": float(q[0]),
            "p25": float(q[1]),
            "p50": float(q[2]),
            "p75": float(q[3]),
            "p95": float(q[4]),
        },
        "histogram": {"counts": hist.tolist(), "edges": [float(x) for x in edges]},
    }
