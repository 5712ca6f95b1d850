"""``python -m benchmarks.descriptor_consistency`` — generated site descriptors against the descriptor
pipeline recomputed on the generated structure.

Descriptor accuracy has two references. DFT (``python -m benchmarks.dft``) is the truth but costs
minutes per crystal, so it covers a few dozen crystals per variant. This module covers every
crystal of the γ = 2 grid of every descriptor-generating variant against the shipped descriptor
predictor — the same pipeline that labelled the training corpus — so it asks: *are the charges and DOS
the model generates the ones its own structure implies?*

How: each record of the inverse benchmark's cache holds the as-sampled crystal and its generated
descriptors. A cache written before records held them is sampled again from the job arguments stored
with the entry (sampling is deterministic for a seed on one machine), and every re-sampled crystal
must reproduce its record's formula, site count and volume or it is dropped.

Two floors make the numbers readable: the per-element mean of the DFT-labelled corpus (charges that
know the element but not the structure), and — for the dummy variant — the fact that its descriptors
are random by construction. A variant whose generated charges sit no closer to the predictor than the
element means has not learned the structure-specific part.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import json  # noqa: E402
import shlex  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

from tabulate import tabulate  # noqa: E402

from benchmarks.dft.compare import element_mean_baseline  # noqa: E402
from benchmarks.dft.selection import matches_record, regenerate_cell  # noqa: E402
from benchmarks.dft.siteorder import structure_from_record  # noqa: E402
from benchmarks.provenance import REPO, git_commit, machine, utc_now  # noqa: E402
from benchmarks.settings import target_label  # noqa: E402
from models.cache_dirs import full_bench_dir  # noqa: E402
from models.evaluate.descriptor_accuracy import descriptor_accuracy  # noqa: E402

DESCRIPTOR_VARIANTS = ("charge_dos", "charge", "dos", "dummy")
RESULTS_DIR = REPO / "benchmarks" / "results"
DEFAULT_BENCH_DIR = full_bench_dir()  # outside the work tree: survives sessions


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def regenerate_variant(bench_dir: Path, variant: str, guidance: float = 2.0) -> tuple[list[dict], dict]:
    """[{structure, charges, dos, record, cell}] for every crystal of ``variant``'s γ-grid cells (read
    from its record, or re-sampled faithfully), and counts of what was dropped."""
    cache = Path(bench_dir) / "cache"
    paths = sorted(p for p in cache.glob(f"inverse__{variant}__*__g{guidance:g}.json"))
    counts = {"cells": 0, "records": 0, "from_records": 0, "regenerated": 0, "mismatch": 0, "cells_unrecoverable": 0}
    out: list[dict] = []
    for path in paths:
        entry = json.loads(path.read_text())
        res = entry["result"]
        counts["cells"] += 1
        counts["records"] += len(res["records"])
        cell = target_label(res.get("target"))
        stored = [(rec, structure_from_record(rec)) for rec in res["records"]]
        if all(got is not None for _, got in stored):
            for rec, (s, q, d) in stored:  # type: ignore[misc]
                counts["from_records"] += 1
                out.append({"structure": s, "charges": q, "dos": d, "record": rec, "cell": cell})
            continue
        if entry.get("kwargs") is None:
            counts["cells_unrecoverable"] += 1
            _log(f"[desc] {path.name}: records hold no crystals and the entry no job arguments; skipped")
            continue
        t0 = time.perf_counter()
        crystals = regenerate_cell(entry["kwargs"])
        _log(f"[desc] re-sampled {path.name} ({len(crystals)} crystals, {time.perf_counter() - t0:.0f} s)")
        for rec, c in zip(res["records"], crystals, strict=False):
            if not matches_record(rec, c.structure):
                counts["mismatch"] += 1
                continue
            counts["regenerated"] += 1
            out.append({"structure": c.structure, "charges": c.charges, "dos": c.dos, "record": rec, "cell": cell})
    return out, counts


def consistency(crystals: list[dict], predictor, floor) -> dict:
    """Generated vs predictor, and the element-mean floor vs predictor, on all crystals and on the
    stable-valid ones (the crystals a user would keep)."""
    out = {}
    subsets = {"all": crystals,
               "stable_valid": [c for c in crystals if c["record"].get("valid") and c["record"].get("stable")]}
    for name, cs in subsets.items():
        structs = [c["structure"] for c in cs]
        gen = descriptor_accuracy(structs, [c["charges"] for c in cs], [c["dos"] for c in cs], predictor)
        fl = [floor(s) for s in structs]
        has_q = any(c["charges"] is not None for c in cs)
        has_d = any(c["dos"] is not None for c in cs)
        base = descriptor_accuracy(structs, [f[0] if has_q else None for f in fl],
                                   [f[1] if has_d else None for f in fl], predictor)
        out[name] = {"generated": gen, "element_mean_floor": base}
    return out


def _table(rows: list[list], headers: list[str]) -> str:
    return tabulate(rows, headers=headers, tablefmt="github", disable_numparse=True)


def _f(x, fmt: str) -> str:
    return "–" if x is None else fmt.format(x)


def markdown(payload: dict) -> str:
    p = payload["provenance"]
    lines = [
        "# Benchmark: generated descriptors vs the descriptor pipeline on the generated structure",
        "",
        f"- date: {p['date_start']} → {p['date_end']} (wall {p['wall_seconds']:.0f} s)",
        f"- git commit: `{p['git']['commit']}`{' (work tree had uncommitted changes)' if p['git'].get('dirty') else ''}",
        f"- command: `{p['command']}`",
        f"- reference: shipped descriptor predictor, weights SHA-256 `{payload['predictor_sha256']}`; floor: per-element "
        f"mean of {payload['floor']['corpus_crystals']} DFT-labelled corpus crystals",
        "",
        "Every crystal of each variant's γ = 2 grid (7 targets + unconditional), as stored in the benchmark's "
        "cache records or, for an older cache, sampled again from the stored job arguments (each must reproduce "
        "its record's formula, site count and volume). Charge MAE in e; DOS cosine = shape similarity of each site's 64-bin DOS "
        "(1 = identical). *Floor* = per-element DFT means scored the same way: charges that know the element "
        "but not the structure.",
        "",
    ]
    rows = []
    for v, r in payload["variants"].items():
        for subset in ("all", "stable_valid"):
            g, b = r["consistency"][subset]["generated"], r["consistency"][subset]["element_mean_floor"]
            rows.append([v, subset.replace("_", " "), g["n_crystals"], max(g["n_sites_charge"], g["n_sites_dos"]),
                         _f(g["charge_mae_e"], "{:.3f}"), _f(b["charge_mae_e"], "{:.3f}"),
                         _f(g["dos_cosine_mean"], "{:.3f}"), _f(b["dos_cosine_mean"], "{:.3f}")])
    lines += [_table(rows, ["variant", "subset", "crystals", "sites", "charge MAE vs predictor (e)",
                            "floor charge MAE (e)", "DOS cosine vs predictor", "floor DOS cosine"])]
    lines += ["", "Crystals: " + "; ".join(
        f"{v}: {r['counts'].get('from_records', 0) + r['counts']['regenerated']} of {r['counts']['records']} "
        "read or reproduced"
        + (f", {r['counts']['mismatch']} mismatched" if r["counts"]["mismatch"] else "")
        for v, r in payload["variants"].items()) + ".", ""]
    variants = payload["variants"]
    name = "charge_dos" if "charge_dos" in variants else next(iter(variants), None)
    if name is not None:
        main = variants[name]
        by_el = main["consistency"]["all"]["generated"]["by_element"]
        floor_el = main["consistency"]["all"]["element_mean_floor"]["by_element"]
        top = sorted(by_el, key=lambda e: -by_el[e]["n_sites"])[:20]
        rows = [[el, by_el[el]["n_sites"], _f(by_el[el]["charge_mae_e"], "{:.3f}"),
                 _f(floor_el.get(el, {}).get("charge_mae_e"), "{:.3f}"), _f(by_el[el]["dos_cosine_mean"], "{:.3f}"),
                 _f(floor_el.get(el, {}).get("dos_cosine_mean"), "{:.3f}")] for el in top]
        lines += [f"## By element ({name}, all crystals; the 20 most frequent elements)", "",
                  _table(rows, ["element", "sites", "charge MAE (e)", "floor charge MAE (e)", "DOS cosine",
                                "floor DOS cosine"])]
        lines.append("")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.descriptor_consistency", description=__doc__.split("\n")[0])
    ap.add_argument("--bench-dir", type=Path, default=DEFAULT_BENCH_DIR)
    ap.add_argument("--variants", nargs="+", default=list(DESCRIPTOR_VARIANTS), choices=DESCRIPTOR_VARIANTS)
    ap.add_argument("--results", type=Path, default=RESULTS_DIR)
    args = ap.parse_args(argv)
    import torch

    torch.set_num_threads(1)
    from models.data.descriptors.predictor.predict import load_model, predict_descriptors

    t0, date_start = time.time(), utc_now()
    _, predictor_sha = load_model()
    floor, floor_info = element_mean_baseline()
    variants: dict[str, dict] = {}
    for v in args.variants:
        crystals, counts = regenerate_variant(args.bench_dir, v)
        if not crystals:
            _log(f"[desc] {v}: no crystals in {args.bench_dir}/cache; skipped")
            continue
        variants[v] = {"counts": counts, "consistency": consistency(crystals, predict_descriptors, floor)}
        g = variants[v]["consistency"]["all"]["generated"]
        _log(f"[desc] {v}: {g['n_crystals']} crystals, charge MAE {g['charge_mae_e']}, DOS cosine {g['dos_cosine_mean']}")
    payload = {
        "suite": "descriptor_consistency",
        "provenance": {"git": git_commit(), "machine": machine(1, 1), "date_start": date_start, "date_end": utc_now(),
                       "wall_seconds": round(time.time() - t0, 1),
                       "command": "python -m benchmarks.descriptor_consistency " + shlex.join(argv or sys.argv[1:])},
        "predictor_sha256": predictor_sha,
        "floor": floor_info,
        "variants": variants,
    }
    args.results.mkdir(parents=True, exist_ok=True)
    (args.results / "descriptor_consistency.json").write_text(json.dumps(payload, indent=1, default=float) + "\n")
    (args.results / "descriptor_consistency.md").write_text(markdown(payload))
    _log(f"[desc] wrote {args.results}/descriptor_consistency.{{json,md}}")
    return 0 if variants else 1


if __name__ == "__main__":
    raise SystemExit(main())
