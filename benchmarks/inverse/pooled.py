"""Per-variant rates pooled over the guided targets, with intervals and the comparison to structure-only.

Why pool: one cell holds tens of crystals, so a single cell's success rate has an interval of ±10–15
points and no per-target comparison can separate variants; the paper's claims (joint > structure-only,
dummy ≈ structure-only) are about the model, so they are judged on all guided crystals of a variant at
once. Every variant sees the same targets, seed and count, so the pooled sets are comparable.
"""

from __future__ import annotations

from benchmarks.settings import InverseSettings, target_grid, target_label
from benchmarks.stats import product_of_rates, rate, two_proportions

# Rates pooled per variant (record key → the crystals it is counted over; None = all of them).
POOLED_KEYS = (
    "valid", "composition_valid", "all_metal", "stable", "stable_strict", "below_hull_flag", "known_match",
    "vsun", "vsun_strict", "property_hit", "success",
)
COMPARED_KEYS = ("valid", "stable", "stable_strict", "known_match", "vsun", "vsun_strict", "property_hit", "success")
BASELINE_VARIANT = "structure_only"


def _cell_key(variant: str, target: dict | None, gamma: float) -> str:
    from benchmarks.inverse.grid import cell_key

    return cell_key(variant, target, gamma)


def pooled_rates(records: list[dict]) -> dict:
    """Rate with interval of every POOLED_KEYS flag; None for a flag the records do not carry (results
    from before the flag existed), and SMACT on the crystals that are not all-metal."""
    n = len(records)
    out: dict = {"n": n}
    for key in POOLED_KEYS:
        have = [r for r in records if r.get(key) is not None]
        out[key] = rate(sum(bool(r[key]) for r in have), n) if have else None
    if any("all_metal" in r for r in records):
        subset = [r for r in records if not r.get("all_metal")]
        out["composition_valid_not_all_metal"] = rate(sum(bool(r.get("composition_valid")) for r in subset),
                                                      len(subset))
    else:
        out["composition_valid_not_all_metal"] = None
    return out


def pooled_by_variant(variants: list[str], s: InverseSettings, cells: dict[str, dict]) -> dict:
    """Per variant: pooled guided rates (γ = s.guidance), the unconditional cell's rates, and each guided
    rate's difference to structure-only (Newcombe interval, two-proportion z-test)."""
    guided_targets = [t for t in target_grid() if t]
    out: dict = {"targets": [target_label(t) for t in guided_targets], "guidance": s.guidance, "variants": {}}
    for name in variants:
        recs = [r for t in guided_targets for r in cells[_cell_key(name, t, s.guidance)]["records"]]
        uncond = cells.get(_cell_key(name, None, s.guidance), {}).get("records", [])
        out["variants"][name] = {**pooled_rates(recs), "unconditional": pooled_rates(uncond)}
    base = out["variants"].get(BASELINE_VARIANT)
    if base:
        for name, entry in out["variants"].items():
            if name == BASELINE_VARIANT:
                continue
            entry["vs_structure_only"] = {
                key: two_proportions(entry[key]["k"], entry[key]["n"], base[key]["k"], base[key]["n"])
                for key in COMPARED_KEYS
                if entry.get(key) and base.get(key)
            }
    return out


def band_gap_success(cells: dict[str, dict], variant: str, guidance: float) -> dict:
    """The judges' success rate of one variant over its band-gap cells at the grid's γ (the crystals
    ``benchmarks.dft verify`` draws its sample from)."""
    recs = [r for t in target_grid() if t and "band_gap" in t
            for r in cells.get(_cell_key(variant, t, guidance), {}).get("records", [])]
    return rate(sum(bool(r.get("success")) for r in recs), len(recs))


def dft_confirmed_band_gap_success(cells: dict[str, dict], variant: str, guidance: float,
                                   confirmed: dict) -> dict | None:
    """Band-gap success per generated crystal as DFT would judge it: the judges' rate × the share of the
    judges' successes that DFT confirms (estimated on a random sample of them)."""
    judged = band_gap_success(cells, variant, guidance)
    both = product_of_rates(judged, confirmed)
    return {**both, "judged": judged, "confirmed": confirmed} if both else None
