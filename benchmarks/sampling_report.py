"""Markdown and PNG of the sampling suite, rendered from its JSON alone."""

from __future__ import annotations

from pathlib import Path

from tabulate import tabulate

from benchmarks.settings import SamplingSettings

# the model-v2 goals (issue 13), for the default model's unconditional samples; speed: guided
STRUCTURE_GOAL = 0.97
COMPOSITION_GOAL = 0.85
SPEED_GOAL_S = 1.0


def _pct(x: float | None) -> str:
    return "–" if x is None else f"{100 * x:.1f} %"


def _num(x: float | None, fmt: str = "{:.2f}") -> str:
    return "–" if x is None else fmt.format(x)


def _table(rows: list[list], headers: list[str]) -> str:
    return tabulate(rows, headers=headers, tablefmt="github", disable_numparse=True)


def validity_table(result: dict) -> str:
    rows = []
    for v in result["variants"]:
        for mode in ("unconditional", "guided"):
            r = v[mode]
            rows.append([
                v["variant"], v["training_state"], mode, r["n"], r["steps"], _pct(r["structure_valid_rate"]),
                _pct(r["composition_valid_rate"]), _pct(r["valid_rate"]), _num(r["seconds_per_structure"], "{:.3f}"),
                _num(r.get("cpu_seconds_per_structure"), "{:.3f}"), r["torch_threads"],
            ])
    return _table(rows, ["variant", "training", "mode", "n", "steps", "structurally valid", "SMACT valid", "both",
                         "s / structure", "CPU s / structure", "threads"])


def composition_table(result: dict) -> str:
    rows = []
    for v in result["variants"]:
        for mode in ("unconditional", "guided"):
            r = v[mode]
            rows.append([
                v["variant"], mode, r["n"], _num(r.get("mean_elements")), _pct(r["composition_valid_rate"]),
                _pct(r.get("composition_valid_not_all_metal_rate")), _pct(r.get("all_metal_rate")),
                _pct(r.get("known_match_rate")), r.get("unique_formulas", "–"), _pct(r.get("p1_rate")),
            ])
    return _table(rows, ["variant", "mode", "n", "distinct elements per cell", "SMACT", "SMACT not all-metal",
                         "all-metal", "matches a known crystal", "distinct formulas", "P1 as sampled"])


def _p1_reference(ref: dict | None) -> str:
    if not ref:
        return ""
    return (f" P1 as sampled = share of cells in which spglib finds no symmetry at symprec {ref['symprec']:g} Å; "
            f"{ref['analysed']} random training crystals: {_pct(ref['rate'])} P1.")


def leak_table(result: dict) -> str:
    rows = []
    for v in result["variants"]:
        leak = v.get("type_leak")
        if not leak:
            continue
        own, noise = leak["own"], leak["noise"]
        rows.append([
            v["variant"], leak["descriptor_channels"], leak["crystals"], leak["masked_sites"],
            f"{own['cross_entropy_nats']:.3f}", _pct(own["top1_accuracy"]),
            f"{noise['cross_entropy_nats']:.3f}", _pct(noise["top1_accuracy"]),
        ])
    if not rows:
        return ""
    return _table(rows, ["variant", "descriptor channels", "val crystals", "masked sites", "CE own descriptors (nats)",
                         "top-1 own", "CE noise descriptors (nats)", "top-1 noise"])


def steps_table(result: dict) -> str:
    rows = []
    for v in result["variants"]:
        for r in v["steps_tradeoff"]:
            rows.append([v["variant"], r["steps"], r["n"], _pct(r["structure_valid_rate"]),
                         _pct(r["composition_valid_rate"]), _pct(r["valid_rate"]),
                         _num(r["seconds_per_structure"], "{:.3f}"), _num(r.get("cpu_seconds_per_structure"), "{:.3f}")])
    return _table(rows, ["variant", "steps", "n", "structurally valid", "SMACT valid", "both", "s / structure",
                         "CPU s / structure"])


def throughput_table(result: dict) -> str:
    rows = []
    for v in result["variants"]:
        t = v["training_throughput"]
        rows.append([
            v["variant"], f"{v['param_count']:,}", _num(t.get("crystals_per_s_median"), "{:.0f}"),
            _num(t.get("crystals_per_s_overall"), "{:.0f}"), t.get("threads") or "–",
            f"{v.get('train_step') or '–'} / {v.get('max_steps') or '–'}", _num(v.get("epochs"), "{:.1f}"),
            _num(v.get("train_hours"), "{:.2f}"),
        ])
    return _table(rows, ["variant", "parameters", "crystals/s (median interval)", "crystals/s (overall)",
                         "training threads", "steps", "epochs", "hours"])


def _closing_note(result: dict) -> str:
    runs = [v[k] for v in result["variants"] for k in ("unconditional", "guided")]
    flags = {bool(r.get("charge_balance", False)) for r in runs}  # runs from before closing existed had none
    if flags == {True}:
        return ("Every run used charge-balance closing, the sampling default (the element completing each crystal "
                "is drawn given a SMACT-valid composition; `models/charge_balance.py`). The model card compares "
                "it with closing off.")
    if flags == {False}:
        return "No run used charge-balance closing (the sampling default since 2026-12-06)."
    return "Runs with and without charge-balance closing are mixed here (see each run's `charge_balance`)."


def markdown(result: dict, s: SamplingSettings) -> list[str]:
    lines = [
        "## Validity and speed at the default step count",
        "",
        f"Guided = band gap {s.guided_band_gap:g} eV at γ = {s.guidance:g}. Goals (default model, unconditional): "
        f"structural validity ≥ {100 * STRUCTURE_GOAL:.0f} %, SMACT validity ≥ {100 * COMPOSITION_GOAL:.0f} %, "
        f"distinct elements per cell within 0.3 of the training split's; ≤ {SPEED_GOAL_S:g} s per structure "
        "(guided, default steps). Speed = wall time of `generate` / crystals (batch "
        f"{s.batch_size}, torch threads as stated); CPU s / structure is the process CPU time, what the run "
        "would take on a core of its own when the machine is shared (see the load average above).",
        "",
        _closing_note(result),
        "",
        validity_table(result),
        "",
    ]
    if any("mean_elements" in v["guided"] for v in result["variants"]):
        train = result.get("training_mean_elements")
        lines += [
            "## Composition: elements per cell, SMACT where it tests something, known crystals",
            "",
            "All-metal and single-element cells pass SMACT by definition (CDVAE/DiffCSP), so SMACT is also given "
            "on the other crystals. Matches a known crystal = StructureMatcher (default tolerances) matches the "
            "as-sampled cell to a corpus / MPTS-52 crystal. Training split: "
            f"{_num(train)} distinct elements per crystal.{_p1_reference(result.get('training_p1'))}",
            "",
            composition_table(result),
            "",
        ]
    leak = leak_table(result)
    if leak:
        first = next(v["type_leak"] for v in result["variants"] if v.get("type_leak"))
        lines += [
            "## Type leak: can the type head read a masked site's element off its descriptor?",
            "",
            f"{first['crystals']} validation crystals at fixed t = {first['t']:g} (seed {first['seed']}); every "
            "field corrupted as in training, conditions kept; cross-entropy (nats) and top-1 accuracy of the "
            "type logits on masked sites, with the model's own corrupted descriptors and with the descriptor "
            "input replaced by standard normal noise (the sampler's starting point). Without descriptor channels "
            "both columns are one measurement. Own ≪ noise means the type head leans on the descriptor.",
            "",
            leak,
            "",
        ]
    lines += [
        "## Validity vs denoising steps (guided)",
        "",
        steps_table(result),
        "",
        "## Training throughput and size",
        "",
        "From each variant's shipped `train_log.csv` (median of the logged intervals) and `manifest.json` "
        "(crystals seen / training hours, validation and checkpointing included).",
        "",
        throughput_table(result),
    ]
    return lines


def plot(result: dict, out_dir: Path, stamp: str = "") -> list[Path]:
    from benchmarks.plots import validity_vs_steps

    return [validity_vs_steps(result, out_dir / "sampling_validity_vs_steps.png", stamp)]
