"""The inverse suite's cells: which jobs run, and how finished cells become table rows.

Cells: every variant × every target (band gap 1–4 eV, formation energy −1…−3 eV/atom, unconditional)
at γ = 2, plus a γ sweep (0, 1, 2, 4) for the default variant. γ = 0 is unconditional sampling exactly
(``models.diffusion.joint`` returns the unconditional output for γ = 0), and with the same seed it draws
the same crystals, so the γ = 0 row of every target re-scores the unconditional cell's crystals against
that target instead of paying for identical relaxations again. γ = 2 of the sweep is the grid's cell.
"""

from __future__ import annotations

import copy

from benchmarks.inverse.cell import light
from benchmarks.inverse.pooled import pooled_by_variant
from benchmarks.jobs import Job
from benchmarks.jsonable import jsonable
from benchmarks.settings import InverseSettings, target_grid, target_key, target_label
from benchmarks.variants import DEFAULT_VARIANT, VariantInfo

CELL_JOB_FN = "benchmarks.inverse.cell:cell_job"
# Rough CPU seconds per crystal: sampling + CHGNet FIRE steps (only used to start long jobs first).
GEN_COST_S, FIRE_STEP_COST_S = 0.3, 0.07


def cell_key(variant: str, target: dict | None, gamma: float) -> str:
    return f"inverse__{variant}__{target_key(target)}__g{gamma:g}"


def cell_job(v: VariantInfo, target: dict | None, gamma: float, s: InverseSettings) -> Job:
    n = s.samples_per_cell if target else s.uncond_samples
    kwargs = {
        "checkpoint": str(v.snapshot),
        "sha256": v.sha256,
        "target": target,
        "guidance": gamma if target else 0.0,
        "n": n,
        "seed": s.seed,
        "steps": s.steps,
        "relax_steps": s.relax_steps,
        "batch_size": s.batch_size,
    }
    if s.charge_balance:
        # only when on: cells cached before closing existed keep their fingerprint (they ran with it off)
        kwargs["charge_balance"] = True
    return Job(cell_key(v.name, target, gamma), CELL_JOB_FN, kwargs,
               cost=n * (GEN_COST_S + FIRE_STEP_COST_S * s.relax_steps))


def grid_jobs(variants: list[VariantInfo], s: InverseSettings) -> list[Job]:
    return [cell_job(v, t, s.guidance, s) for v in variants for t in target_grid()]


def sweep_jobs(v: VariantInfo, s: InverseSettings) -> list[Job]:
    extra = [g for g in s.gamma_sweep if g not in (0.0, s.guidance)]
    return [cell_job(v, t, g, s) for t in s.sweep_targets for g in extra]


def sweep_variant(variants: list[VariantInfo], grid_rows: list[dict]) -> tuple[VariantInfo | None, str]:
    """The default variant if shipped; else the available variant with the best mean success rate."""
    by_name = {v.name: v for v in variants}
    if DEFAULT_VARIANT in by_name:
        return by_name[DEFAULT_VARIANT], f"`{DEFAULT_VARIANT}` (the default variant)"
    if not variants:
        return None, "no variant available"
    order = {v.name: i for i, v in enumerate(variants)}

    def score(v: VariantInfo) -> tuple[float, int]:
        rates = [r["success_rate"] or 0.0 for r in grid_rows if r["variant"] == v.name]
        return (-(sum(rates) / len(rates)) if rates else 0.0, order[v.name])

    best = min(variants, key=score)
    return best, (
        f"`{best.name}` — the default variant `{DEFAULT_VARIANT}` is not shipped, so the sweep uses the "
        "available variant with the highest mean success rate over the γ = 2 grid"
    )


def rescore(cell: dict, target: dict | None) -> dict:
    """The cell's crystals scored against another target (γ = 0 rows: unconditional crystals)."""
    from models.evaluate.pipeline import summarize
    from models.evaluate.success import is_hit, is_success, normalize_target, property_errors

    tgt = normalize_target(target)
    records = copy.deepcopy(cell["records"])
    for rec in records:
        errs = property_errors(rec, tgt)
        rec["target_errors"] = errs
        rec["property_hit"] = is_hit(errs) if tgt else None
        rec["success"] = is_success(rec, tgt)
    summary = jsonable(summarize(records, tgt))
    summary["seconds_total"] = cell["summary"].get("seconds_total")
    return {**cell, "target": target, "guidance": 0.0, "summary": summary, "records": records,
            "rescored_from": "unconditional cell (γ = 0 ≡ unconditional, same seed)"}


ROW_SUMMARY_KEYS = [
    "structure_valid_rate", "composition_valid_rate", "composition_valid_not_all_metal_rate", "n_not_all_metal",
    "all_metal_rate", "property_hit_rate", "stable_strict_rate", "below_hull_flag_rate", "known_match_rate",
    "vsun_strict_rate", "mean_elements", "hull_coverage", "p1_rate",
]


def row(variant: str, cell: dict, gamma_label: str) -> dict:
    from models.evaluate.report import summary_row

    r = summary_row(cell["summary"], variant=variant, target=target_label(cell["target"]), gamma=gamma_label)
    r["seconds_total"] = cell["seconds"]  # generation + evaluation, what the cell cost
    r["generation_seconds"] = cell["generation_seconds"]
    r["evaluation_seconds"] = cell["evaluation_seconds"]
    for key in ROW_SUMMARY_KEYS:
        r[key] = cell["summary"].get(key)
    r["target_key"] = target_key(cell["target"])
    r["hull_skipped"] = cell.get("hull_skipped", 0)
    return r


def _light_cell(cell: dict) -> dict:
    return {**cell, "records": [light(r) for r in cell["records"]]}


def assemble_grid(variants: list[str], s: InverseSettings, results: dict[str, dict]) -> dict:
    """Rows, light cells and pooled rates of the γ = s.guidance grid of the named variants."""
    rows, cells = [], {}
    for name in variants:
        for t in target_grid():
            key = cell_key(name, t, s.guidance)
            cells[key] = _light_cell(results[key])
            rows.append(row(name, cells[key], f"{s.guidance:g}" if t else "–"))
    return {"rows": rows, "cells": cells, "pooled": pooled_by_variant(variants, s, cells)}


def assemble_sweep(variant: str, s: InverseSettings, results: dict[str, dict]) -> dict:
    uncond = _light_cell(results[cell_key(variant, None, s.guidance)])
    rows, cells = [], {}
    for t in (t for t in target_grid() if t):
        for g in s.gamma_sweep:
            if g == 0.0:
                cell, label = rescore(uncond, t), "0 (re-scored unconditional)"
            elif g == s.guidance or t in s.sweep_targets:
                cell, label = _light_cell(results[cell_key(variant, t, g)]), f"{g:g}"
            else:
                continue
            if g not in (0.0, s.guidance):  # γ = 0 and γ = 2 records already live in the grid's cells
                cells[cell_key(variant, t, g)] = cell
            rows.append(row(variant, cell, label) | {"gamma_value": g})
    return {"variant": variant, "rows": rows, "cells": cells}
