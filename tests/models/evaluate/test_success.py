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


def test_summary_rows_make_a_benchmark_table():
    from models.evaluate.pipeline import summarize
    from models.evaluate.report import summary_row, summary_table

    target = {"band_gap": 2.0}
    recs = []
    for i, (gap, stable) in enumerate([(2.2, True), (3.0, True), (1.9, False), (2.1, True)]):
        rec = {
            **VSUN,
            "stable": stable,
            "band_gap": gap,
            "formula": f"X{i}",
            "spacegroup": 225,
            "e_above_hull": 0.0,
            "formation_energy_per_atom": -1.0,
            "rmsd_relaxation": 0.1,
            "seconds": 1.0,
        }
        rec["target_errors"] = property_errors(rec, target)
        rec["property_hit"] = is_hit(rec["target_errors"])
        rec["vsun"] = is_vsun(rec)
        rec["success"] = is_success(rec, target)
        recs.append(rec)
    s = summarize(recs, target)
    assert s["vsun_rate"] == 0.75 and s["success_rate"] == 0.5 and s["property_hit_rate"] == 0.75
    assert s["target_error"]["band_gap"]["all"]["mean_abs"] == pytest.approx((0.2 + 1.0 + 0.1 + 0.1) / 4)
    row = summary_row(s, variant="default", target="gap 2")
    md = summary_table([row], ["variant", "target"])
    cells = [c.strip() for c in md.splitlines()[2].strip("|").split("|")]
    assert cells[:5] == ["default", "gap 2", "4", "100.0 %", "75.0 %"]
    assert "band_gap mean abs err" in md
