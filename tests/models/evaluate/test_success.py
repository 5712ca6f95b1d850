import math

import pytest

from models.evaluate.success import (
    error_distribution,
    is_hit,
    is_success,
    is_vsun,
    normalize_target,
    property_errors,
)

VSUN = {"valid": True, "stable": True, "unique": True, "novel": True}


def test_normalize_target_aliases_and_errors():
    assert normalize_target({"band_gap": 3, "formation_energy": -1.0}) == {
        "band_gap": 3.0,
        "formation_energy_per_atom": -1.0,
    }
    assert normalize_target(None) == {}
    assert normalize_target({"band_gap": None}) == {}
    with pytest.raises(ValueError, match="unknown target"):
        normalize_target({"density": 3.0})
    with pytest.raises(ValueError, match="finite"):
        normalize_target({"band_gap": math.nan})


def test_hit_within_tolerance_boundaries():
    t = {"band_gap": 3.0, "formation_energy_per_atom": -2.0}
    rec = {**VSUN, "band_gap": 3.49, "formation_energy_per_atom": -1.81}
    errs = property_errors(rec, t)
    assert errs["band_gap"] == pytest.approx(0.49)
    assert is_hit(errs) and is_success(rec, t)
    miss_gap = {**rec, "band_gap": 2.4}
    assert not is_success(miss_gap, t)
    miss_ef = {**rec, "formation_energy_per_atom": -2.3}
    assert not is_success(miss_ef, t)
    missing = {**rec, "band_gap": None}
    assert not is_hit(property_errors(missing, t))


def test_success_requires_every_vsun_criterion():
    t = {"band_gap": 1.0}
    for key in VSUN:
        rec = {**VSUN, key: False, "band_gap": 1.0}
        assert not is_vsun(rec)
        assert not is_success(rec, t)
    assert is_success({**VSUN, "band_gap": 1.0}, t)
    assert is_success(VSUN, {})  # unconditional: success = VSUN


def test_error_distribution():
    d = error_distribution([0.1, -0.2, 0.3, None, float("nan")])
    assert d["n"] == 3 and d["n_missing"] == 2
    assert d["mean_abs"] == pytest.approx(0.2)
    assert d["mean"] == pytest.approx(0.2 / 3)
    assert sum(d["histogram"]["counts"]) == 3
    assert error_distribution([None])["n"] == 0
