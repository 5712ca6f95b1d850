"""``python -m benchmarks.run`` — the driver behind ``make bench`` and ``make bench-quick``.

    python -m benchmarks.run [--suite sampling|inverse|all] [--quick] [--variants V ...]
                             [--samples N] [--relax-steps K] [--workers 2] [--threads 1] [--out DIR]

Writes ``DIR/<suite>.json``, ``DIR/<suite>.md``, PNG plots and ``DIR/estimate.json`` (the projected
wall time of the full default run from this run's CPU measurements). ``--quick`` defaults ``DIR`` to
``benchmarks/results/quick`` so smoke results never overwrite the real ones. Finished jobs are cached
in ``~/.cache/mattergen-e/bench/full/`` (outside the work tree; ``--quick``: ``var/bench/quick/``);
rerunning the same command resumes.
"""

from __future__ import annotations

import os

# Before torch/numpy load: one BLAS/OpenMP thread per process (workers inherit this).
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import json  # noqa: E402
import shlex  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

from benchmarks import inverse as inverse_suite  # noqa: E402
from benchmarks import sampling as sampling_suite  # noqa: E402
from benchmarks import sampling_report  # noqa: E402
from benchmarks.estimate import project  # noqa: E402
from benchmarks.jobs import Job, run_jobs  # noqa: E402
from benchmarks.plots import stamp_text  # noqa: E402
from benchmarks.provenance import REPO, git_commit, machine, utc_now  # noqa: E402
from benchmarks.report import write_suite  # noqa: E402
from benchmarks.settings import inverse_settings, sampling_settings  # noqa: E402
from benchmarks.variants import ALL_VARIANTS, DEFAULT_VARIANT, VariantSelection, discover  # noqa: E402
from models.cache_dirs import full_bench_dir  # noqa: E402

RESULTS = REPO / "benchmarks" / "results"
VAR = REPO / "var" / "bench"


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__.split("\n\n")[0])
    p.add_argument("--suite", choices=["sampling", "inverse", "all"], default="all")
    p.add_argument("--quick", action="store_true", help="smoke-check sizes (seconds to minutes)")
    p.add_argument("--variants", nargs="+", default=None, metavar="V",
                   help=f"subset of {', '.join(ALL_VARIANTS)} (or 'default'); missing ones are skipped")
    p.add_argument("--samples", type=int, default=None,
                   help="samples per variant (sampling suite) and per cell (inverse suite)")
    p.add_argument("--relax-steps", type=int, default=None, help="CHGNet FIRE step cap per crystal (inverse)")
    p.add_argument("--charge-balance", action=argparse.BooleanOptionalAction, default=None,
                   help="inverse grid with or without charge-balance closing (default: with, the sampling default)")
    p.add_argument("--workers", type=int, default=2, help="worker processes (default 2: one per core)")
    p.add_argument("--threads", type=int, default=1, help="torch threads per worker")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=None, help="results directory")
    p.add_argument("--cache", type=Path, default=None,
                   help="job cache (default ~/.cache/mattergen-e/bench/full/cache; --quick: var/bench/quick/cache)")
    p.add_argument("--checkpoint-root", type=Path, default=None, help=argparse.SUPPRESS)  # tests
    args = p.parse_args(argv)
    if args.samples is not None and args.samples < 1:
        p.error("--samples must be >= 1")
    if args.relax_steps is not None and args.relax_steps < 0:
        p.error("--relax-steps must be >= 0")
    if args.workers < 1 or args.threads < 1:
        p.error("--workers and --threads must be >= 1")
    return args


def _payload(suite: str, args, selection: VariantSelection, settings: dict, prov: dict) -> dict:
    return {
        "suite": suite,
        "quick": args.quick,
        "label": "SMOKE RUN (--quick): not benchmark results" if args.quick else "benchmark",
        "provenance": dict(prov),
        "settings": settings,
        "variants": [v.as_dict() for v in selection.available],
        "skipped": [{"variant": s.name, "reason": s.reason} for s in selection.skipped],
    }


def _job_cpu(results: dict[str, dict], prefix: str) -> float:
    return sum(r.get("job_cpu_seconds", 0.0) for k, r in results.items() if k.startswith(prefix))


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    t_start, date_start = time.time(), utc_now()
    out = args.out or (RESULTS / "quick" if args.quick else RESULTS)
    # The judged run's cache lives outside the work tree so a later session resumes it; smoke runs are disposable.
    cache = args.cache or (VAR / "quick" / "cache" if args.quick else full_bench_dir() / "cache")
    root_kw = {"root": args.checkpoint_root} if args.checkpoint_root else {}
    selection = discover(args.variants, snapshot_dir=cache.parent / "snapshots", **root_kw)
    for line in selection.skipped_lines():
        log(f"[bench] {line[2:]}")
    for v in selection.available:
        log(f"[bench] {v.name}: {v.training_state}, sha256 {v.sha256[:16]}…")
    suites = ["sampling", "inverse"] if args.suite == "all" else [args.suite]
    s_set = sampling_settings(args.quick, args.samples, args.seed)
    i_set = inverse_settings(args.quick, args.samples, args.relax_steps, args.seed, args.charge_balance)
    prov = {
        "git": git_commit(),
        "machine": machine(args.threads, args.workers),
        "command": "python -m benchmarks.run " + shlex.join(argv if argv is not None else sys.argv[1:]),
        "date_start": date_start,
    }

    avail = selection.available
    jobs: list[Job] = []
    if "sampling" in suites:
        jobs += sampling_suite.jobs(avail, s_set)
    if "inverse" in suites:
        jobs += inverse_suite.grid_jobs(avail, i_set)
        default = next((v for v in avail if v.name == DEFAULT_VARIANT), None)
        if default is not None:  # known up front: run the sweep with the grid so both cores stay busy
            jobs += inverse_suite.sweep_jobs(default, i_set)
    results = run_jobs(jobs, cache, workers=args.workers, threads=args.threads, log=log) if jobs else {}

    sampling_result = inverse_result = None
    written: list[Path] = []
    if "inverse" in suites and avail:
        rows = inverse_suite.assemble_grid([v.name for v in avail], i_set, results)["rows"]
        sweep_v, note = inverse_suite.sweep_variant(avail, rows)
        extra = [j for j in inverse_suite.sweep_jobs(sweep_v, i_set) if j.key not in results]
        if extra:
            log(f"[bench] γ sweep on {note}")
            results.update(run_jobs(extra, cache, workers=args.workers, threads=args.threads, log=log))
        inverse_result = inverse_suite.assemble(avail, i_set, results, sweep_v, note)
    if "sampling" in suites and avail:
        sampling_result = sampling_suite.assemble(avail, s_set, results)

    prov["date_end"] = utc_now()
    prov["wall_seconds"] = round(time.time() - t_start, 1)
    prov["jobs_resumed_from_cache"] = sorted(k for k, r in results.items() if r.get("resumed"))
    for suite in suites:
        settings = s_set.as_dict() if suite == "sampling" else i_set.as_dict()
        payload = _payload(suite, args, selection, settings, prov)
        payload["provenance"]["job_cpu_seconds"] = round(_job_cpu(results, f"{suite}__"), 1)
        payload["provenance"]["core_hours"] = round(payload["provenance"]["job_cpu_seconds"] / 3600.0, 3)
        payload["provenance"]["job_wall_seconds"] = round(
            sum(r.get("job_wall_seconds", 0.0) for k, r in results.items() if k.startswith(f"{suite}__")), 1
        )
        result = sampling_result if suite == "sampling" else inverse_result
        if result is None:
            body = ["No variant could be benchmarked (see the skipped variants above)."]
        else:
            mod = sampling_report if suite == "sampling" else inverse_suite
            body = mod.markdown(result, s_set if suite == "sampling" else i_set)
            out.mkdir(parents=True, exist_ok=True)
            payload["plots"] = [p.name for p in mod.plot(result, out, stamp_text(payload["provenance"]))]
            payload["results"] = result
        written += list(write_suite(out, payload, body))

    if sampling_result is not None:
        default_steps = sampling_result["variants"][0]["guided"]["steps"]
        est = project(sampling_result, inverse_result, len(ALL_VARIANTS), default_steps, args.workers)
        est["measured_in"] = {"command": prov["command"], "date": date_start,
                              "load_average_at_start": prov["machine"]["load_average_at_start"]}
        (out / "estimate.json").write_text(json.dumps(est, indent=1) + "\n")
        written.append(out / "estimate.json")
        if "wall_hours_central" in est:
            log(f"[bench] projected full `make bench` ({len(ALL_VARIANTS)} variants, {args.workers} workers): "
                f"~{est['wall_hours_central']:.2f} h (upper bound {est['wall_hours_upper']:.2f} h)")
    for p in written:
        log(f"[bench] wrote {p}")
    log(f"[bench] done in {prov['wall_seconds']:.0f} s")
    return 0 if avail else 1


if __name__ == "__main__":
    raise SystemExit(main())
