"""Binomial rates with intervals and two-rate comparisons, from ``scipy.stats``.

* one rate: the Wilson score interval of ``scipy.stats.binomtest`` (sane at 0 and n successes);
* the product of two independent rates (e.g. the judge's success rate × the share DFT confirms): the
  products of the two Bonferroni-adjusted (97.5 %) Wilson bounds, so the interval covers with ≥ 95 %;
* two rates (a variant against structure-only): the difference with Newcombe's hybrid-score interval,
  built from the two Wilson intervals, and the two-sided p-value of the pooled two-proportion z-test,
  which is Pearson's χ² test of the 2×2 table without continuity correction
  (``scipy.stats.chi2_contingency(..., correction=False)``).
"""

from __future__ import annotations

import math

from scipy.stats import binomtest, chi2_contingency

CONFIDENCE = 0.95


def wilson(k: int, n: int, confidence: float = CONFIDENCE) -> tuple[float, float] | None:
    if n <= 0:
        return None
    ci = binomtest(int(k), int(n)).proportion_ci(confidence_level=confidence, method="wilson")
    return float(ci.low), float(ci.high)


def rate(k: int, n: int) -> dict:
    """``{"k", "n", "rate", "ci95"}`` for k successes out of n."""
    return {"k": int(k), "n": int(n), "rate": k / n if n else None, "ci95": wilson(k, n)}


def product_of_rates(a: dict, b: dict, confidence: float = CONFIDENCE) -> dict | None:
    """``a`` × ``b`` for two independent rates (``rate`` dicts), with a conservative interval."""
    if not a.get("n") or not b.get("n"):
        return None
    each = 1 - (1 - confidence) / 2  # Bonferroni: both intervals hold at once with ≥ `confidence`
    (la, ha), (lb, hb) = wilson(a["k"], a["n"], each), wilson(b["k"], b["n"], each)  # type: ignore[misc]
    return {"rate": (a["k"] / a["n"]) * (b["k"] / b["n"]), "ci95": (la * lb, ha * hb)}


def two_proportions(k1: int, n1: int, k0: int, n0: int) -> dict | None:
    """Rate 1 − rate 0 with its 95 % Newcombe interval and the z-test p-value (None if n is 0)."""
    if n1 <= 0 or n0 <= 0:
        return None
    p1, p0 = k1 / n1, k0 / n0
    (l1, u1), (l0, u0) = wilson(k1, n1), wilson(k0, n0)  # type: ignore[misc]
    d = p1 - p0
    lo = d - math.sqrt((p1 - l1) ** 2 + (u0 - p0) ** 2)
    hi = d + math.sqrt((u1 - p1) ** 2 + (p0 - l0) ** 2)
    if k1 + k0 in (0, n1 + n0):  # both rates 0 or both 1: no evidence of a difference
        p_value = 1.0
    else:
        table = [[k1, n1 - k1], [k0, n0 - k0]]
        p_value = float(chi2_contingency(table, correction=False).pvalue)
    return {"difference": d, "ci95": (lo, hi), "p_value": p_value}


def fmt_rate(r: dict | None) -> str:
    """``12.3 % (74/602) [9.9–15.1]`` or ``–``."""
    if not r or r.get("rate") is None:
        return "–"
    lo, hi = r["ci95"]
    return f"{100 * r['rate']:.1f} % ({r['k']}/{r['n']}) [{100 * lo:.1f}–{100 * hi:.1f}]"


def fmt_difference(d: dict | None) -> str:
    if not d:
        return "–"
    lo, hi = d["ci95"]
    return f"{100 * d['difference']:+.1f} pts [{100 * lo:+.1f}, {100 * hi:+.1f}], p = {d['p_value']:.2g}"
