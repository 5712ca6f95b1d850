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

Run: ``OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 python -m benchmarks.relax_cost [--samples 64]
[--targets 1 2 3 4] [--model default | --checkpoint PATH]``; writes ``benchmarks/results/relax_cost.{json,md}``.
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
    for crystal, cols in zip(crystals, columns, strict=True):
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
        },
        "screen": {"spec": spec, "passed": passed, "pass_rate": rate(passed, n), "failed_check": removed},
    }


def render(data: dict[str, Any]) -> str:
    lines = [
        "# Relaxation cost and screen pass rate (issue 17)",
        "",
        f"Model `{data['model']}` (checkpoint `{data['checkpoint_sha256'][:12]}`), {data['samples']} crystals per "
        f"target, γ = {data['guidance']}, CHGNet FIRE fmax {data['fmax']} eV/Å, step cap {data['max_steps']}; "
        f"{data['finished_utc']}, commit `{(data['git'] or {}).get('commit') or '?'}`.",
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
    lines += ["", "Crystals failing each check (a crystal can fail several): " + "; ".join(
        f"{r['band_gap']:g} eV: " + ", ".join(f"{k} {v}" for k, v in r["screen"]["failed_check"].items())
        for r in data["targets"]
    ), ""]
    return "\n".join(lines)


def _f(x: float | None, digits: int = 3) -> str:
    return "–" if x is None else f"{x:.{digits}f}"


def main(argv: list[str] | None = None) -> int:
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
    args = ap.parse_args(argv)
    settings = get_settings()
    model = load_model(args.model, checkpoint=args.checkpoint)
    targets = [run_target(model, t, args.samples, args.seed + i, args.guidance) for i, t in enumerate(args.targets)]
    data = {
        "model": args.model if args.checkpoint is None else str(args.checkpoint),
        "checkpoint_sha256": model.checkpoint_sha256,
        "samples": args.samples,
        "guidance": args.guidance,
        "fmax": settings.relax_fmax,
        "max_steps": settings.relax_max_steps,
        "finished_utc": utc_now(),
        "git": git_commit(),
        "targets": targets,
    }
    args.out_dir.mkdir(parents=True, exist_ok=True)
    (args.out_dir / "relax_cost.json").write_text(json.dumps(data, indent=1, default=str))
    (args.out_dir / "relax_cost.md").write_text(render(data))
    print(render(data))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
