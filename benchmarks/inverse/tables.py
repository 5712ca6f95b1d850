"""Markdown of the inverse suite, rendered from its JSON alone (``benchmarks.report`` re-renders it)."""

from __future__ import annotations

import json

from tabulate import tabulate

from benchmarks.inverse.headline import headline_markdown
from benchmarks.inverse.pooled import BASELINE_VARIANT, COMPARED_KEYS
from benchmarks.settings import InverseSettings, target_label
from benchmarks.stats import fmt_difference, fmt_rate
from models.evaluate.stability import BELOW_HULL_FLAG, MAX_HULL_ELEMENTS
from models.evaluate.symmetry import SYMPREC

TABLE_COLUMNS = [
    ("variant", "variant"), ("target", "target"), ("gamma", "γ"), ("n", "n"),
    ("valid_rate", "V"), ("composition_valid_rate", "SMACT"),
    ("composition_valid_not_all_metal_rate", "SMACT not all-metal"), ("all_metal_rate", "all-metal"),
    ("stable_rate", "S"), ("stable_strict_rate", "S strict"), ("below_hull_flag_rate", "hull gap flag"),
    ("unique_rate", "U"), ("novel_rate", "N"), ("known_match_rate", "known"),
    ("vsun_rate", "VSUN"), ("vsun_strict_rate", "VSUN strict"), ("success_rate", "success"),
    ("band_gap_mean_abs_error", "mean abs err gap (eV)"),
    ("formation_energy_per_atom_mean_abs_error", "mean abs err E_form (eV/atom)"),
    ("unique_compositions", "compositions"), ("unique_spacegroups", "space groups"), ("p1_rate", "P1"),
    ("seconds_total", "seconds"),
]
POOLED_COLUMNS = [
    ("valid", "V"), ("composition_valid", "SMACT"), ("composition_valid_not_all_metal", "SMACT not all-metal"),
    ("all_metal", "all-metal"), ("stable", "S"), ("stable_strict", "S strict"), ("below_hull_flag", "hull gap flag"),
    ("known_match", "known crystal"), ("vsun", "VSUN"), ("vsun_strict", "VSUN strict"),
    ("property_hit", "property hit"), ("success", "success"),
]


def _cell(key: str, value) -> str:
    if value is None or value == "":
        return "–"
    if key.endswith("_rate"):
        return f"{100 * value:.1f} %"
    if key.endswith("_mean_abs_error"):
        return f"{value:.3f}"
    if key == "seconds_total":
        return f"{value:.0f}"
    return str(value)


def summary_table(rows: list[dict]) -> str:
    body = [[_cell(k, r.get(k)) for k, _ in TABLE_COLUMNS] for r in rows]
    return tabulate(body, headers=[h for _, h in TABLE_COLUMNS], tablefmt="github", disable_numparse=True)


def pooled_table(pooled: dict, which: str = "guided") -> str:
    body = []
    for name, e in pooled["variants"].items():
        src = e if which == "guided" else e.get("unconditional") or {}
        body.append([name, src.get("n", 0), *(fmt_rate(src.get(k)) for k, _ in POOLED_COLUMNS)])
    return tabulate(body, headers=["variant", "n", *(h for _, h in POOLED_COLUMNS)], tablefmt="github",
                    disable_numparse=True)


def comparison_table(pooled: dict) -> str:
    body = []
    for name, e in pooled["variants"].items():
        vs = e.get("vs_structure_only")
        if vs is None:
            continue
        body.append([name, *(fmt_difference(vs.get(k)) for k in COMPARED_KEYS)])
    return tabulate(body, headers=["variant", *(k.replace("_", " ") for k in COMPARED_KEYS)], tablefmt="github",
                    disable_numparse=True)


def corpus_band_table(band: dict, rows: list[dict]) -> str:
    variants = list(dict.fromkeys(r["variant"] for r in rows))
    by = {(r["variant"], r["target"]): r for r in rows}
    body = []
    for label, c in band.items():
        gen = [_cell("x_rate", (by.get((v, label)) or {}).get("composition_valid_not_all_metal_rate")) for v in variants]
        body.append([label, c["n"], fmt_rate(c["composition_valid"]), fmt_rate(c["composition_valid_not_all_metal"]),
                     fmt_rate(c["all_metal"]), *gen])
    headers = ["target band", "train crystals", "SMACT", "SMACT not all-metal", "all-metal",
               *(f"{v}: SMACT not all-metal" for v in variants)]
    return tabulate(body, headers=headers, tablefmt="github", disable_numparse=True)


def hull_lines(result: dict) -> list[str]:
    """Completeness of the reference hull where the generated crystals landed, and the flagged ones."""
    body, flagged = [], []
    for key, cell in result["grid"]["cells"].items():
        variant = key.split("__")[1]
        for r in cell["records"]:
            if r.get("below_hull_flag"):
                flagged.append([variant, target_label(cell["target"]), r["formula"], f"{r['e_above_hull']:+.3f}",
                                r.get("reference_compounds_in_system", "–"), r.get("reference_compounds_in_subsystems", "–")])
    for r in result["grid"]["rows"]:
        h = r.get("hull_coverage") or {}
        if h.get("placed"):
            body.append([r["variant"], r["target"], h["placed"], h["system_without_reference_compound"],
                         h["median_reference_compounds_in_system"], h["median_reference_compounds_in_subsystems"]])
    if not body:
        return []
    lines = [
        "### Reference-hull completeness",
        "",
        "Per cell: crystals placed on the CHGNet reference hull (corpus + MPTS-52), how many landed in a "
        "chemical system with no reference compound of its own (placed against its sub-systems only), and "
        f"the median number of reference compounds in the system and in all its sub-systems. Crystals more "
        f"than {-BELOW_HULL_FLAG} eV/atom below the hull are flagged \"reference hull missing this system\" "
        "and are not counted as strictly stable (S strict = −0.05 ≤ E_hull ≤ 0).",
        "",
        tabulate(body, headers=["variant", "target", "placed", "system without compound", "median compounds in system",
                                "median in sub-systems"], tablefmt="github", disable_numparse=True),
        "",
    ]
    if flagged:
        lines += [
            f"Flagged \"reference hull missing this system\" ({len(flagged)} crystals; first 40):",
            "",
            tabulate(flagged[:40], headers=["variant", "target", "formula", "E_hull (eV/atom)", "compounds in system",
                                            "in sub-systems"], tablefmt="github", disable_numparse=True),
            "",
        ]
    return lines


def calibration_lines() -> list[str]:
    """What the evaluation itself can and cannot see: the reference hull's completeness and the band-gap
    predictor's error, read from the shipped assets so the table is never quoted without them."""
    from models.evaluate.band_gap import ASSET_DIR as BAND_GAP_ASSET_DIR
    from models.evaluate.hull_check import ASSET as HULL_ASSET

    lines: list[str] = []
    if HULL_ASSET.exists():
        h = json.loads(HULL_ASSET.read_text())
        q = h["e_above_hull_ev_per_atom"]
        lines.append(
            f"- Reference hull (`python -m models.evaluate.hull_check`): the {h['n']} corpus test-split "
            f"crystals, left out of the hull and placed on it with CHGNet static energies, sit at median "
            f"{q['median']:+.3f} eV/atom (5–95 %: {q['p05']:+.3f} … {q['p95']:+.3f}); "
            f"{100 * h['fraction_stable_by_our_threshold']:.1f} % pass S and "
            f"{100 * h['fraction_at_or_below_hull']:.1f} % pass S strict (on or below the hull). S is a permissive "
            "filter here (CHGNet was trained on these MP crystals), not a DFT stability claim."
        )
    metrics = BAND_GAP_ASSET_DIR / "metrics.json"
    if metrics.exists():
        m = json.loads(metrics.read_text())["metrics"]["test"]
        lines.append(
            f"- Band-gap judge (independent LightGBM on composition, never used for guidance): corpus test split "
            f"n = {m['n']}, MAE {m['mae_ev']:.3f} eV (non-metals {m['mae_nonmetals_ev']:.3f} eV), metal/non-metal "
            f"accuracy {100 * m['metal_accuracy']:.1f} %. A ±0.5 eV band-gap hit is within its error bar: the "
            "DFT verification (`python -m benchmarks.dft verify`) checks a sample of the hits."
        )
    return lines


def formation_error_table(result: dict) -> str:
    """Quantiles of (generated − target) formation energy per variant and E_form target: the mean hides
    whether the errors are one peak around the target or hits plus a far-off mode (see the PNG)."""
    import numpy as np

    body = []
    for key, cell in result["grid"]["cells"].items():
        target = cell.get("target") or {}
        if "formation_energy_per_atom" not in target:
            continue
        e = np.array([r["target_errors"]["formation_energy_per_atom"] for r in cell["records"]
                      if (r.get("target_errors") or {}).get("formation_energy_per_atom") is not None])
        if e.size == 0:
            continue
        q = np.quantile(e, [0.05, 0.25, 0.5, 0.75, 0.95])
        body.append([key.split("__")[1], target_label(target), e.size, *(f"{x:+.2f}" for x in q),
                     f"{100 * np.mean(np.abs(e) <= 0.2):.0f} %", f"{100 * np.mean(np.abs(e) > 1.0):.0f} %"])
    if not body:
        return ""
    return tabulate(body, headers=["variant", "target", "n", "p05", "p25", "median", "p75", "p95", "|err| ≤ 0.2",
                                   "|err| > 1"], tablefmt="github", disable_numparse=True)


def markdown(result: dict, s: InverseSettings) -> list[str]:
    from benchmarks.inverse.upgrade import upgrade

    result = upgrade(result, s)
    grid = result["grid"]
    pooled = grid.get("pooled")
    lines = headline_markdown(pooled, result.get("dft_verification"))
    lines += [
        f"## Variants × targets at γ = {s.guidance:g}",
        "",
        f"{s.samples_per_cell} crystals per guided cell and {s.uncond_samples} unconditional (seed {s.seed}, the "
        f"model's default denoising steps, charge-balance closing {'on' if s.charge_balance else 'off'}), CHGNet "
        f"relaxation ≤ {s.relax_steps} FIRE steps to fmax 0.1 eV/Å. "
        "V = valid (structure + SMACT, the CDVAE/DiffCSP definition in which all-metal and unary cells pass "
        "SMACT automatically); SMACT not all-metal = SMACT on the crystals it actually tests; S = E_hull ≤ "
        "0.1 eV/atom on the reference hull; S strict = on or below it, but not flagged; hull gap flag = more "
        f"than {-BELOW_HULL_FLAG} eV/atom below it (\"reference hull missing this system\"); U = unique in the "
        "cell; N = novel vs corpus + MPTS-52; known = StructureMatcher matches a corpus/MPTS-52 crystal "
        "(reproduces a known crystal); success = VSUN and within tolerance (band gap ±0.5 eV, E_form ±0.2 "
        "eV/atom); unconditional success = VSUN. mean abs err over the crystals with a value (band gap: "
        "independent predictor on the relaxed crystal; E_form: CHGNet). space groups = distinct ones in the cell; "
        f"P1 = share of the relaxed crystals in which spglib finds no symmetry at symprec {SYMPREC:g} Å (training "
        "crystals: see the sampling report). seconds = generation + evaluation.",
        "",
        summary_table(grid["rows"]),
        "",
    ]
    if pooled:
        lines += [
            f"### Pooled over the {len(pooled['targets'])} guided targets at γ = {pooled['guidance']:g}",
            "",
            "Rate (k/n) [95 % Wilson interval]. This is the table the claims are judged on.",
            "",
            pooled_table(pooled),
            "",
            f"Difference to `{BASELINE_VARIANT}` (pooled guided crystals): Δ [95 % Newcombe interval], "
            "two-proportion z-test p-value.",
            "",
            comparison_table(pooled),
            "",
            "Unconditional cell of each variant:",
            "",
            pooled_table(pooled, "unconditional"),
            "",
        ]
    ef = formation_error_table(result)
    if ef:
        lines += [
            "### Guided formation energy: generated − target (eV/atom)",
            "",
            "CHGNet formation energy of the relaxed crystal minus the target, all crystals with a value.",
            "",
            ef,
            "",
        ]
    if grid.get("corpus_band"):
        lines += [
            "### SMACT of real crystals in each target band",
            "",
            "Train-split corpus crystals whose property is within the target's tolerance band, scored with the same "
            "SMACT code, next to each variant's generated rate on the not-all-metal crystals of that cell.",
            "",
            corpus_band_table(grid["corpus_band"], grid["rows"]),
            "",
        ]
    lines += hull_lines(result)
    lines += [*calibration_lines(), ""]
    skipped = [
        f"{r['variant']} / {r['target']} / γ {r['gamma']}: {r['hull_skipped']}"
        for r in grid["rows"] + [r for r in (result.get("sweep") or {}).get("rows", [])
                                 if r.get("gamma_value") not in (0.0, s.guidance)]  # γ 0 and 2: grid cells
        if r.get("hull_skipped")
    ]
    if skipped:
        lines += [
            f"Crystals with more than {MAX_HULL_ELEMENTS} elements were not placed on the reference hull (a "
            "hull over 2^k sub-systems in k dimensions is intractable; the corpus has ≤ 6 elements per crystal) "
            "and count as not stable: " + "; ".join(skipped) + ".",
            "",
        ]
    sweep = result.get("sweep")
    if sweep:
        lines += [
            f"## Guidance-scale sweep: {result['sweep_variant_note']}",
            "",
            "γ = 0 rows re-score the unconditional cell's crystals against each target (γ = 0 is exactly "
            "unconditional sampling with the same seed); γ = 2 rows are the grid cells above; γ = 1 and "
            f"4 ran for {', '.join(target_label(t) for t in s.sweep_targets)}.",
            "",
            summary_table(sweep["rows"]),
            "",
        ]
    return lines
