"""What the service's second phase costs and what its screen keeps (issue 17).

For one model (default: the shipped default variant) and each band-gap target, sample ``--samples``
crystals exactly as a job chunk does (one batch, guidance γ), then run the worker's own per-crystal
post-processing (``worker.postprocess``: CHGNet FIRE relaxation with the service's fmax and step cap,
predicted properties of the relaxed crystal, descriptor predictor, screen checks) and the job-level
uniqueness. Reported:

- cost per crystal: sampling, relaxation, properties, descriptors, screen (wall seconds, this box);
- relaxation: RMSD distribution (Å), steps, converged fraction, failures;
- the screen's pass rate per target (valid, E_hull ≤ 0.1 eV/atom, within target ± 0.5 eV, unique,
  novel) with Wilson intervals, and how many crystals each check removes.

- with ``--dft N``: the screened band-gap successes (passed the screen, predicted gap in the target
  window) DFT-verified through the service's GPAW path (``benchmarks.screen_dft``): how many were
  verified, how many are DFT successes (DFT gap in the same window) with a Wilson interval, failures
  and timeouts with reasons, seconds per verification.

Run: ``OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 python -m benchmarks.relax_cost [--samples 64]
[--targets 1 2 3 4] [--model default | --checkpoint PATH] [--dft 10 --dft-max-seconds 1200]``; writes
``benchmarks/results/relax_cost.{json,md}`` and ``relax_cost_rmsd.png``. Each target is cached in
``--work-dir`` (``var/bench/relax_cost``) when done, so a rerun resumes, targets can be split over
several processes (``--targets 1 2 --seed 17`` and ``--targets 3 4 --seed 19`` fill the same cache as
``--targets 1 2 3 4 --seed 17``), and ``python -m benchmarks.screen_dft`` can verify while they run
(then ``--dft N --dft-report-only --parts ...`` reports).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path
from typing import Any

from pymatgen.core import Structure

from benchmarks.provenance import git_commit, utc_now
from benchmarks.stats import fmt_rate, rate

RESULTS = Path(__file__).resolve().parent / "results"
SCREEN = {"valid": True, "e_above_hull_max": 0.1, "within_target": True, "unique": True, "novel": True}
CHECKS = ("valid", "e_above_hull", "within_target", "novel", "unique")


def _quantiles(xs: list[float]) -> dict[str, float | None]:
    if not xs:
        return {"n": 0, "mean": None, "p10": None, "median": None, "p90": None, "max": None}
    s = sorted(xs)
    pick = lambda q: s[min(len(s) - 1, int(q * (len(s) - 1) + 0.5))]  # noqa: E731
    return {"n": len(s), "mean": statistics.fmean(s), "p10": pick(0.1), "median": pick(0.5), "p90": pick(0.9), "max": s[-1]}


def run_target(model: Any, band_gap: float, samples: int, seed: int, guidance: float) -> dict[str, Any]:
    """One target's costs, relaxation and screen; ``screened``: one entry per crystal for the DFT stage
    (target, index, passed, predicted gap, window, relaxed CIF), kept out of the results JSON."""
    import warnings

    from app.schemas.screen import Screen, screen_spec
    from models.evaluate.novelty import same_crystal
    from models.sample import generate
    from worker.postprocess import postprocess

    spec = screen_spec(Screen(**SCREEN), band_gap, None)
    t0 = time.perf_counter()
    crystals = generate(model, samples, band_gap=band_gap, guidance_scale=guidance, seed=seed, batch_size=samples)
    sampling = time.perf_counter() - t0
    columns, seconds = postprocess(crystals, relax=True, screen=spec)
    kept: list[Any] = []
    passed = 0
    removed = dict.fromkeys(CHECKS, 0)
    screened: list[dict[str, Any]] = []
    for i, (crystal, cols) in enumerate(zip(crystals, columns, strict=True)):
        checks = cols["screen_checks"]
        ok = all(checks.get(k) is True for k in CHECKS[:-1])
        if ok:  # unique within the run, like a job: against the crystals that passed before
            relaxed = cols.get("relaxed_structure")
            mine = Structure.from_dict(relaxed) if relaxed else crystal.structure
            formula = mine.composition.reduced_formula
            dup = any(same_crystal(mine, o) for o in kept if o.composition.reduced_formula == formula)
            checks["unique"] = not dup
            if dup:
                ok = False
            else:
                kept.append(mine)
        for k in CHECKS:  # an unknown value fails its check, as in the service
            if k in checks and checks[k] is not True:
                removed[k] += 1
        passed += ok
        if ok:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                cif = mine.to(fmt="cif")
            screened.append({
                "target": band_gap, "index": i, "passed": True, "band_gap_pred": cols.get("band_gap_pred"),
                "window": spec["band_gap_range"], "formula": formula, "n_sites": len(mine), "cif": cif,
                "basis": "relaxed" if relaxed else "generated",
            })
    relaxed = [c for c in columns if c["relax_status"] == "relaxed"]
    n = len(crystals)
    return {
        "band_gap": band_gap,
        "n": n,
        "seconds_per_crystal": {"sampling": sampling / n, **{k: v / n for k, v in seconds.items()}},
        "relaxation": {
            "relaxed": len(relaxed),
            "failed": sum(c["relax_status"] == "failed" for c in columns),
            "converged": sum(bool(c["relax_converged"]) for c in relaxed),
            "rmsd_angstrom": _quantiles([c["relax_rmsd"] for c in relaxed if c["relax_rmsd"] is not None]),
            "steps": _quantiles([float(c["relax_steps"]) for c in relaxed]),
            "seconds": _quantiles([c["relax_seconds"] for c in relaxed]),
            "rmsd_values": [round(c["relax_rmsd"], 4) for c in relaxed if c["relax_rmsd"] is not None],
            "steps_values": [int(c["relax_steps"]) for c in relaxed],
        },
        "screen": {"spec": spec, "passed": passed, "pass_rate": rate(passed, n), "failed_check": removed},
        "screened": screened,
    }


def render(data: dict[str, Any]) -> str:
    ch = data.get("checkpoint_sha256") or ""
    lines = [
        "# Relaxation cost and screen pass rate (issue 17)",
        "",
        f"Model `{data['model']}` (checkpoint `{ch[:12]}`), {_per_target(data)} crystals per "
        f"target, γ = {data['guidance']}, CHGNet FIRE fmax {data['fmax']} eV/Å, step cap {data['max_steps']}; "
        f"{data['finished_utc']}, commit `{(data['git'] or {}).get('commit') or '?'}`"
        f"{' (dirty tree)' if (data['git'] or {}).get('dirty') else ''}.",
    ]
    if data.get("command"):
        lines += ["", f"Command: `{data['command']}`"]
    for part in data.get("parts") or []:
        lines += [
            "",
            f"Per-target cache filled by `{part['command']}` (wall {(part.get('wall_seconds') or 0) / 3600:.2f} h, "
            f"CPU {(part.get('cpu_seconds') or 0) / 3600:.3f} core-hours, counted below).",
        ]
    if data.get("cpu_seconds") is not None:
        lines += [
            "",
            f"This command: wall {data.get('wall_seconds', 0) / 3600:.2f} h. CPU in all: "
            f"**{data['cpu_seconds'] / 3600:.3f} core-hours** (user + system of "
            f"{'the part runs, ' if data.get('parts') else ''}this process and its GPAW children). "
            "Per-crystal seconds below are wall seconds on this loaded box (CPU share well below one core).",
        ]
    if data.get("note"):
        lines += ["", f"Machine: {data['note']}"]
    lines += [
        "",
        "| band gap target (eV) | sampling s/crystal | relaxation s/crystal | other s/crystal | relaxed | converged "
        "| RMSD median / p90 (Å) | steps median | screen pass rate |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in data["targets"]:
        s, rel = r["seconds_per_crystal"], r["relaxation"]
        other = s["properties"] + s["descriptors"] + s["screen"]
        rmsd = rel["rmsd_angstrom"]
        lines.append(
            f"| {r['band_gap']:g} | {s['sampling']:.3f} | {s['relaxation']:.3f} | {other:.3f} | {rel['relaxed']}/{r['n']} "
            f"| {rel['converged']}/{rel['relaxed']} | {_f(rmsd['median'])} / {_f(rmsd['p90'])} | {_f(rel['steps']['median'], 0)} "
            f"| {fmt_rate(r['screen']['pass_rate'])} |"
        )
    pooled = data.get("pooled")
    if pooled:
        rmsd = pooled["rmsd_angstrom"]
        lines.append(
            f"| **pooled** | {pooled['sampling_s']:.3f} | {pooled['relaxation_s']:.3f} | {pooled['other_s']:.3f} "
            f"| {pooled['relaxed']}/{pooled['n']} | {pooled['converged']}/{pooled['relaxed']} "
            f"| {_f(rmsd['median'])} / {_f(rmsd['p90'])} | {_f(pooled['steps_median'], 0)} | {fmt_rate(pooled['pass_rate'])} |"
        )
        lines += ["", f"RMSD generated → relaxed (Å), pooled: mean {_f(rmsd['mean'])}, p10 {_f(rmsd['p10'])}, "
                  f"median {_f(rmsd['median'])}, p90 {_f(rmsd['p90'])}, max {_f(rmsd['max'])} (n = {rmsd['n']})"
                  + (f"; histogram `{data['rmsd_png']}`." if data.get("rmsd_png") else ".")]
    lines += ["", "Crystals failing each check (a crystal can fail several): " + "; ".join(
        f"{r['band_gap']:g} eV: " + ", ".join(f"{k} {v}" for k, v in r["screen"]["failed_check"].items())
        for r in data["targets"]
    ), ""]
    dft = data.get("dft")
    if dft:
        from benchmarks.screen_dft import render as render_dft

        lines += render_dft(dft["summary"], dft["settings"], dft["max_seconds"], dft.get("selection"))
    return "\n".join(lines)


def _per_target(data: dict[str, Any]) -> str:
    b = data.get("batches") or []
    if len(b) <= 1:
        return str(data["samples"])
    return f"{sum(x['samples'] for x in b)} (batches of " + " + ".join(str(x["samples"]) for x in b) + ", own seeds)"


def _f(x: float | None, digits: int = 3) -> str:
    return "–" if x is None else f"{x:.{digits}f}"


def merge_batches(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """One target's batches as one row: counts summed, per-crystal seconds weighted by batch size,
    quantiles from the pooled values, and uniqueness of the screen passes across the batches (a pass
    matching an earlier batch's pass counts as a duplicate, as within a job)."""
    import warnings

    from pymatgen.core import Structure as S

    from models.evaluate.novelty import same_crystal

    n = sum(r["n"] for r in runs)
    keys = runs[0]["seconds_per_crystal"].keys()
    rel = [r["relaxation"] for r in runs]
    rmsd = [x for x in (v for r in rel for v in r.get("rmsd_values", []))]
    steps = [x for x in (v for r in rel for v in r.get("steps_values", []))]
    kept: list[Any] = []
    screened: list[dict[str, Any]] = []
    dups = 0
    for r in runs:
        for c in r.get("screened", []):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                st = S.from_str(c["cif"], fmt="cif")
            if any(same_crystal(st, o) for o in kept if o.composition.reduced_formula == st.composition.reduced_formula):
                dups += 1
                continue
            kept.append(st)
            screened.append(c)  # its batch's own index: the DFT store's ids stay valid
    failed = {k: sum(r["screen"]["failed_check"].get(k, 0) for r in runs) for k in runs[0]["screen"]["failed_check"]}
    failed["unique"] = failed.get("unique", 0) + dups
    passed = sum(r["screen"]["passed"] for r in runs) - dups
    relaxed = sum(x["relaxed"] for x in rel)
    return {
        "band_gap": runs[0]["band_gap"],
        "n": n,
        "batches": [{"n": r["n"], "passed": r["screen"]["passed"]} for r in runs],
        "seconds_per_crystal": {k: sum(r["seconds_per_crystal"][k] * r["n"] for r in runs) / n for k in keys},
        "relaxation": {
            "relaxed": relaxed,
            "failed": sum(x["failed"] for x in rel),
            "converged": sum(x["converged"] for x in rel),
            "rmsd_angstrom": _quantiles(rmsd),
            "steps": _quantiles([float(v) for v in steps]),
            "seconds": {"n": relaxed, "mean": sum(x["seconds"]["mean"] * x["relaxed"] for x in rel if x["relaxed"])
                        / max(relaxed, 1)},
            "rmsd_values": rmsd,
            "steps_values": steps,
        },
        "screen": {
            "spec": runs[0]["screen"]["spec"],
            "passed": passed,
            "pass_rate": rate(passed, n),
            "failed_check": failed,
        },
        "screened": screened,
    }


def pooled(targets: list[dict[str, Any]]) -> dict[str, Any]:
    n = sum(r["n"] for r in targets)
    w = lambda key: sum(r["seconds_per_crystal"][key] * r["n"] for r in targets) / n  # noqa: E731
    values = [x for r in targets for x in r["relaxation"].get("rmsd_values", [])]
    steps = [s for r in targets for s in r["relaxation"].get("steps_values", [])]
    return {
        "n": n,
        "sampling_s": w("sampling"),
        "relaxation_s": w("relaxation"),
        "other_s": w("properties") + w("descriptors") + w("screen"),
        "relaxed": sum(r["relaxation"]["relaxed"] for r in targets),
        "failed": sum(r["relaxation"]["failed"] for r in targets),
        "converged": sum(r["relaxation"]["converged"] for r in targets),
        "rmsd_angstrom": _quantiles(values),
        "steps_median": statistics.median(steps) if steps else None,
        "pass_rate": rate(sum(r["screen"]["passed"] for r in targets), n),
    }


def rmsd_plot(data: dict[str, Any], path: Path) -> Path:
    import matplotlib.pyplot as plt

    from benchmarks.plots import save

    fig, ax = plt.subplots(figsize=(6, 3.6))
    top = max([2.0] + [x for r in data["targets"] for x in r["relaxation"].get("rmsd_values", [])])
    edges = [0.1 * k for k in range(int(top / 0.1) + 2)]
    for r in data["targets"]:
        values = r["relaxation"].get("rmsd_values", [])
        ax.hist(values, bins=edges, histtype="step", label=f"{r['band_gap']:g} eV (n = {len(values)})")
    ax.set_xlabel("RMSD generated → CHGNet-relaxed (Å)")
    ax.set_ylabel("crystals")
    ax.legend(title="band gap target", fontsize=7)
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    commit = ((data.get("git") or {}).get("commit") or "?")[:12]
    return save(fig, path, f"{data['finished_utc']} · commit {commit} · {data['samples']} per target · "
                f"{(data.get('cpu_seconds') or 0) / 3600:.2f} core-hours")


def _cpu_seconds() -> float:
    import resource

    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def main(argv: list[str] | None = None) -> int:
    import shlex
    import sys

    from app.core.config import get_settings
    from models.sample import load_model

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="default")
    ap.add_argument("--checkpoint", default=None, help="a model.pt instead of the shipped variant")
    ap.add_argument("--samples", type=int, default=64)
    ap.add_argument("--targets", type=float, nargs="+", default=[1.0, 2.0, 3.0, 4.0])
    ap.add_argument("--guidance", type=float, default=2.0)
    ap.add_argument("--seed", type=int, default=17)
    ap.add_argument("--out-dir", type=Path, default=RESULTS)
    ap.add_argument("--work-dir", type=Path, default=Path("var/bench/relax_cost"),
                    help="per-target cache (a rerun resumes) and the DFT store")
    ap.add_argument("--dft", type=int, default=0, metavar="N",
                    help="then DFT-verify screened band-gap successes until N are verified (0: no DFT stage)")
    ap.add_argument("--dft-max-seconds", type=float, default=None, help="cap per crystal (default DFT_MAX_SECONDS)")
    ap.add_argument("--dft-budget-seconds", type=float, default=None, help="cap of the whole DFT stage")
    ap.add_argument("--dft-settings", default=None,
                    help="JSON overrides of DFTSettings (default: the service's DFT_SETTINGS, i.e. production)")
    ap.add_argument("--dft-seed", type=int, default=17)
    ap.add_argument("--dft-workers", type=int, default=1, help="GPAW runs at once (one core each)")
    ap.add_argument(
        "--dft-report-only",
        action="store_true",
        help="run no DFT: report the store's outcomes (e.g. of `python -m benchmarks.screen_dft`, which "
        "verifies while the targets are still being relaxed); candidates without one are 'not run'",
    )
    ap.add_argument(
        "--parts",
        type=Path,
        nargs="*",
        default=[],
        help="relax_cost.json of runs that filled the per-target cache (other --targets, same work dir): "
        "their commands, wall and CPU time are added to this report",
    )
    ap.add_argument(
        "--extra-batches",
        nargs="*",
        default=[],
        metavar="SAMPLES:SEED",
        help="more batches per target (target i: seed SEED + i), merged with the first into one row per target",
    )
    ap.add_argument("--note", default=None, help="machine-load note for the report")
    args = ap.parse_args(argv)
    t_start = time.monotonic()
    settings = get_settings()
    model = load_model(args.model, checkpoint=args.checkpoint)
    args.work_dir.mkdir(parents=True, exist_ok=True)
    batches = [(args.samples, args.seed)] + [tuple(int(x) for x in b.split(":")) for b in args.extra_batches]
    targets = []
    for i, t in enumerate(args.targets):
        runs = []
        for samples, seed in batches:
            key = (
                f"{model.checkpoint_sha256[:12]}_bg{t:g}_n{samples}_s{seed + i}_g{args.guidance:g}"
                f"_f{settings.relax_fmax:g}_m{settings.relax_max_steps}"
            )
            cache = args.work_dir / f"target_{key}.json"
            if cache.exists():
                r = json.loads(cache.read_text())
            else:
                r = run_target(model, t, samples, seed + i, args.guidance)
                cache.write_text(json.dumps(r, default=str))
            runs.append(r)
        r = runs[0] if len(runs) == 1 else merge_batches(runs)
        print(f"target {t:g}: {r['screen']['passed']}/{r['n']} passed", flush=True)
        targets.append(r)
    screened = [c for r in targets for c in r.pop("screened")]
    data: dict[str, Any] = {
        "model": args.model if args.checkpoint is None else str(args.checkpoint),
        "checkpoint_sha256": model.checkpoint_sha256,
        "samples": args.samples,
        "batches": [{"samples": n, "seed": sd} for n, sd in batches],
        "guidance": args.guidance,
        "fmax": settings.relax_fmax,
        "max_steps": settings.relax_max_steps,
        "command": "python -m benchmarks.relax_cost " + shlex.join(sys.argv[1:] if argv is None else argv),
        "note": args.note,
        "targets": targets,
        "pooled": pooled(targets),
    }
    if args.dft > 0:
        from benchmarks import screen_dft
        from models.data.descriptors.settings import DFTSettings

        overrides = json.loads(args.dft_settings) if args.dft_settings else dict(settings.dft_settings)
        dft_settings = DFTSettings(**overrides)
        max_seconds = args.dft_max_seconds or settings.dft_max_seconds
        ordered = screen_dft.candidates(screened, args.dft_seed)
        # report-only: every outcome the store holds, not just the first --dft verified
        wanted = len(ordered) if args.dft_report_only else args.dft
        outcomes = screen_dft.run(
            ordered, n=wanted, store=args.work_dir / f"dft_store_{model.checkpoint_sha256[:12]}.jsonl",
            dft_settings=dft_settings, max_seconds=max_seconds, memory_gb=settings.dft_memory_gb,
            budget_seconds=0.0 if args.dft_report_only else args.dft_budget_seconds,
            workers=args.dft_workers,
        )
        data["dft"] = {
            "settings": dft_settings.model_dump(),
            "overrides": overrides,
            "max_seconds": max_seconds,
            "seed": args.dft_seed,
            "workers": args.dft_workers,
            "selection": (
                "outcomes from the store, run by `python -m benchmarks.screen_dft` while the targets were "
                "relaxed: seeded random order within a target, the next crystal from the available target with "
                "the fewest taken (round robin), until the deadline"
                if args.dft_report_only
                else "pooled over the targets in a seeded random order, until N verified or the budget is spent"
            ),
            "summary": screen_dft.summarize(outcomes, len(ordered), args.dft),
        }
    data.update({"finished_utc": utc_now(), "git": git_commit(), "wall_seconds": time.monotonic() - t_start,
                 "cpu_seconds": _cpu_seconds()})
    args.out_dir.mkdir(parents=True, exist_ok=True)
    try:
        data["rmsd_png"] = rmsd_plot(data, args.out_dir / "relax_cost_rmsd.png").name
    except Exception as exc:  # noqa: BLE001 - the numbers matter more than the figure
        print(f"no RMSD plot: {exc!r}", flush=True)
    (args.out_dir / "relax_cost.json").write_text(json.dumps(data, indent=1, default=str))
    (args.out_dir / "relax_cost.md").write_text(render(data))
    print(render(data))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
