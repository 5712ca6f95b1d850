"""Project the wall time of the full default ``make bench`` from the CPU time this run measured.

CPU seconds, not wall seconds, are the basis: the smoke runs share the cores with training and DFT,
so their wall time measures the machine's load. Costs are modelled as
* sampling: CPU seconds per (crystal × denoising step), separately for guided and unconditional
  (guidance doubles the network calls), plus the per-crystal validity check;
* inverse: generation at the sampling suite's guided rate, plus CHGNet evaluation per structurally valid crystal =
  (FIRE steps + 1) × CPU seconds per step, where the full run's FIRE steps are bounded by its
  ``relax_steps`` cap (upper bound: every relaxation runs to the cap) or taken from the measured
  fraction of the cap used (central estimate), plus a fixed per-crystal cost for the rest.
Wall time = total CPU seconds / worker processes (jobs are many and small, so the pool stays full),
plus per-worker start-up (CHGNet, reference hull, known crystals).
"""

from __future__ import annotations

from benchmarks.settings import InverseSettings, SamplingSettings, target_grid

WORKER_STARTUP_CPU_S = 20.0  # CHGNet + reference hull + known crystals + model load, once per worker


def _ratio(num: float, den: float) -> float | None:
    return num / den if den > 0 else None


def sampling_rates(sampling: dict) -> dict:
    guided = [0.0, 0.0]
    uncond = [0.0, 0.0]
    check = [0.0, 0.0]
    for v in sampling["variants"]:
        r = v["guided"]  # the default-batch run; small sweep batches cost more per crystal
        guided[0] += r["sampling_cpu_seconds"]
        guided[1] += r["n"] * r["steps"]
        r = v["unconditional"]
        uncond[0] += r["sampling_cpu_seconds"]
        uncond[1] += r["n"] * r["steps"]
        for r in [v["unconditional"], *v["steps_tradeoff"]]:  # the trade-off includes the guided run
            if "job_cpu_seconds" in r:
                check[0] += max(r["job_cpu_seconds"] - r["sampling_cpu_seconds"], 0.0)
                check[1] += r["n"]
    return {
        "guided_cpu_s_per_crystal_step": _ratio(*guided),
        "uncond_cpu_s_per_crystal_step": _ratio(*uncond),
        "validity_check_cpu_s_per_crystal": _ratio(*check) or 0.0,
    }


def inverse_rates(inverse: dict) -> dict:
    gen = [0.0, 0.0]
    ev = [0.0, 0.0]  # cpu seconds, FIRE steps + 1 summed over relaxed crystals
    cap_used, n_valid, n_all = [], 0, 0
    for cell in inverse["grid"]["cells"].values():
        gen[0] += cell["generation_cpu_seconds"]
        gen[1] += cell["n"] * cell["steps"]
        relaxed = [r for r in cell["records"] if r.get("structure_valid") and not r.get("hull_skipped")]
        ev[0] += cell["evaluation_cpu_seconds"]
        ev[1] += sum((r.get("relax_steps") or 0) + 1 for r in relaxed)
        cap_used += [(r.get("relax_steps") or 0) / max(cell["relax_steps"], 1) for r in relaxed]
        n_valid += len(relaxed)
        n_all += cell["n"]
    return {
        "gen_cpu_s_per_crystal_step": _ratio(*gen),
        "eval_cpu_s_per_fire_step": _ratio(*ev),
        "structurally_valid_fraction": _ratio(n_valid, n_all),
        "mean_fraction_of_relax_cap_used": sum(cap_used) / len(cap_used) if cap_used else None,
    }


def project(
    sampling: dict | None,
    inverse: dict | None,
    n_variants: int,
    default_steps: int,
    workers: int,
    s: SamplingSettings | None = None,
    i: InverseSettings | None = None,
) -> dict:
    s = s or SamplingSettings()
    i = i or InverseSettings()
    out: dict = {"n_variants": n_variants, "workers": workers, "default_steps": default_steps,
                 "full_sampling_settings": s.as_dict(), "full_inverse_settings": i.as_dict()}
    total_cpu = 0.0
    if sampling:
        r = sampling_rates(sampling)
        g, u = r["guided_cpu_s_per_crystal_step"], r["uncond_cpu_s_per_crystal_step"]
        sweep_steps = sum(st for st in s.steps_sweep if st != default_steps)
        per_variant = (
            s.samples * default_steps * (g + u)
            + s.sweep_samples * sweep_steps * g
            + (2 * s.samples + s.sweep_samples * len([x for x in s.steps_sweep if x != default_steps]))
            * r["validity_check_cpu_s_per_crystal"]
        )
        out["sampling"] = {**r, "cpu_seconds": per_variant * n_variants}
        total_cpu += per_variant * n_variants
    if inverse and sampling:
        r = inverse_rates(inverse)
        guided_targets = len([t for t in target_grid() if t])
        sweep_cells = len(i.sweep_targets) * len([x for x in i.gamma_sweep if x not in (0.0, i.guidance)])
        cells = (guided_targets + 1) * n_variants + sweep_cells
        crystals = n_variants * (guided_targets * i.samples_per_cell + i.uncond_samples) + sweep_cells * i.samples_per_cell
        # Cells sample in batches of samples_per_cell; the sampling suite's batch-64 rate is the closer
        # measurement when the run's own cells were tiny (--quick).
        gen_rate = out["sampling"]["guided_cpu_s_per_crystal_step"] or r["gen_cpu_s_per_crystal_step"] or 0.0
        gen = crystals * default_steps * gen_rate
        valid = crystals * (r["structurally_valid_fraction"] or 0.0)
        per_step = r["eval_cpu_s_per_fire_step"] or 0.0
        upper = gen + valid * (i.relax_steps + 1) * per_step
        frac = r["mean_fraction_of_relax_cap_used"] or 1.0
        central = gen + valid * (frac * i.relax_steps + 1) * per_step
        out["inverse"] = {**r, "cells": cells, "crystals": crystals, "cpu_seconds_upper": upper,
                          "cpu_seconds_central": central,
                          # what one generated crystal costs end to end (generation + CHGNet evaluation)
                          "cpu_s_per_crystal_central": central / crystals if crystals else None,
                          "cpu_s_per_crystal_upper": upper / crystals if crystals else None}
        total_cpu_upper = total_cpu + upper
        total_cpu_central = total_cpu + central
        startup = WORKER_STARTUP_CPU_S
        out["wall_hours_upper"] = (total_cpu_upper / workers + startup) / 3600
        out["wall_hours_central"] = (total_cpu_central / workers + startup) / 3600
        out["core_hours_central"] = total_cpu_central / 3600
        out["core_hours_upper"] = total_cpu_upper / 3600
    elif sampling:
        out["wall_hours_sampling_only"] = (total_cpu / workers + WORKER_STARTUP_CPU_S) / 3600
    out["dft_verification"] = dft_projection(i)
    return out


def dft_projection(i: InverseSettings, variants: int = 3, per_variant: int = 36) -> dict:
    """Core-hours of ``python -m benchmarks.dft verify`` (3 compared variants × 36 crystals) from the
    DFT seconds per crystal of the committed DFT reference (production settings, generated crystals)."""
    import json

    from benchmarks.provenance import REPO

    path = REPO / "benchmarks" / "results" / "dft_reference.json"
    if not path.exists():
        return {"note": f"no {path.name}: no measured DFT cost"}
    res = json.loads(path.read_text())["results"]
    mean_s, n = res["dft_seconds_ok"].get("mean"), res["dft_seconds_ok"].get("n", 0)
    failed = res.get("n_dft_failed", 0)
    cap = json.loads(path.read_text()).get("max_seconds", 600.0)
    # timeouts cost the whole cap: count them at their measured share
    per_crystal = ((mean_s or 0.0) * n + cap * failed) / max(n + failed, 1)
    crystals = variants * per_variant
    return {"crystals": crystals, "cpu_s_per_crystal": per_crystal, "core_hours": crystals * per_crystal / 3600,
            "measured_on": f"{n} ok + {failed} timed-out crystals of {path.name}"}
