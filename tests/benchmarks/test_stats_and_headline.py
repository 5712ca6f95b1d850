"""Interval arithmetic against published values, and the headline verdicts read off intervals."""

from __future__ import annotations

import pytest

from benchmarks.inverse.headline import headline_rows
from benchmarks.stats import product_of_rates, rate, two_proportions, wilson


def test_wilson_interval_matches_the_textbook_value():
    lo, hi = wilson(81, 263)  # Newcombe (1998), example: 0.2553–0.3662 for 81/263
    assert lo == pytest.approx(0.2553, abs=1e-4) and hi == pytest.approx(0.3662, abs=1e-4)
    assert wilson(0, 10)[0] == 0.0 and wilson(10, 10)[1] == 1.0 and wilson(0, 0) is None


def test_newcombe_difference_interval_matches_the_paper():
    d = two_proportions(56, 70, 48, 80)  # Newcombe (1998) method 10: +0.0524 to +0.3339
    assert d["difference"] == pytest.approx(0.2)
    assert d["ci95"][0] == pytest.approx(0.0524, abs=1e-4) and d["ci95"][1] == pytest.approx(0.3339, abs=1e-4)
    # z-test p-value: z = 0.2 / sqrt(p(1-p)(1/70 + 1/80)) with the pooled p = 104/150 → z ≈ 2.63, p ≈ 0.0085
    assert d["p_value"] == pytest.approx(0.0085, abs=5e-4)
    assert two_proportions(0, 50, 0, 50)["p_value"] == 1.0


def test_product_of_rates_uses_bonferroni_wilson_bounds():
    judged, confirmed = rate(43, 344), rate(3, 30)
    est = product_of_rates(judged, confirmed)
    assert est["rate"] == pytest.approx(43 / 344 * 3 / 30)
    (la, ha), (lb, hb) = wilson(43, 344, 0.975), wilson(3, 30, 0.975)
    assert est["ci95"] == pytest.approx((la * lb, ha * hb))
    assert est["ci95"][0] < wilson(43, 344)[0] * wilson(3, 30)[0]  # wider than the product of 95 % bounds
    assert product_of_rates(rate(0, 0), confirmed) is None


def _pooled(k_joint: int, k_dummy: int, k_base: int, n: int = 600) -> dict:
    variants = {}
    for name, k in (("charge_dos", k_joint), ("dummy", k_dummy), ("structure_only", k_base)):
        variants[name] = {"n": n, "success": rate(k, n), "vsun": rate(k, n)}
    for name in ("charge_dos", "dummy"):
        variants[name]["vs_structure_only"] = {
            key: two_proportions(variants[name][key]["k"], n, k_base, n) for key in ("success", "vsun")
        }
    return {"variants": variants}


def test_headline_verdicts_follow_the_intervals():
    rows = {r[0]: r for r in headline_rows(_pooled(180, 121, 120), None)}
    assert rows["joint > structure-only in success rate"][4] == "supported"  # 30 % vs 20 %, n = 600 each
    assert rows["dummy ≈ structure-only in success rate"][4].startswith("supported")  # +0.2 pts
    assert "600 + 600" in rows["joint > structure-only in VSUN rate"][3]
    assert rows["generated Bader charges within 0.055 e of DFT"][4] == "not measured"
    rows = {r[0]: r for r in headline_rows(_pooled(125, 150, 120), None)}
    assert rows["joint > structure-only in success rate"][4].startswith("not resolved")
    assert rows["dummy ≈ structure-only in success rate"][4].startswith("contradicted")
    rows = {r[0]: r for r in headline_rows(_pooled(60, 120, 120), None)}
    assert rows["joint > structure-only in VSUN rate"][4].startswith("contradicted")


def test_headline_bader_row_reads_the_dft_verification():
    dft = {"variant": "charge_dos", "comparisons": {
        "generated": {"charge_mae_e": 0.11, "n_crystals": 31, "n_sites_charge": 240},
        "predictor": {"charge_mae_e": 0.09}, "element_mean": {"charge_mae_e": 0.3}}}
    row = headline_rows(None, dft)[-1]
    assert row[3] == "31 crystals, 240 sites" and row[4].startswith("not reproduced (2.0×")
    assert "floor 0.300 e" in row[2] and "predictor 0.090 e" in row[2]
    dft["comparisons"]["generated"]["charge_mae_e"] = 0.05
    assert headline_rows(None, dft)[-1][4] == "supported"
