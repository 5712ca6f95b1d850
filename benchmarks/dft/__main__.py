"""``python -m benchmarks.dft reference|verify`` — DFT of generated crystals after the inverse suite.

    # generated descriptors vs DFT on stable as-sampled crystals of one variant
    python -m benchmarks.dft reference --bench-dir ~/.cache/mattergen-e/bench/full --variant charge_dos --max-crystals 24
    # DFT success rate of the judges' band-gap successes (relaxed cells), per compared variant
    python -m benchmarks.dft verify --bench-dir ~/.cache/mattergen-e/bench/full --variants charge_dos structure_only dummy

Both resume from their stores; ``--list`` prints the selection, ``--report-only`` runs no DFT. ``verify``
attaches its summary to ``<results>/inverse.json`` (the headline table) and re-renders ``inverse.md``.
"""

from __future__ import annotations

import os

# Before torch/numpy load: one BLAS/OpenMP thread (the DFT children set their own).
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import json  # noqa: E402
import shlex  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

from benchmarks.dft.compare import compare  # noqa: E402
from benchmarks.dft.report import build_payload, write_report  # noqa: E402
from benchmarks.dft.run import run_reference  # noqa: E402
from benchmarks.dft.selection import collect_candidates  # noqa: E402
from benchmarks.dft.store import ReferenceStore, candidates_from_store, default_store_path  # noqa: E402
from benchmarks.provenance import REPO, git_commit, machine, utc_now  # noqa: E402
from models.cache_dirs import full_bench_dir  # noqa: E402
from models.data.descriptors.settings import DEFAULT_SETTINGS, DFTSettings  # noqa: E402

DEFAULT_BENCH_DIR = full_bench_dir()  # outside the work tree: survives sessions
DEFAULT_OUT_DIR = REPO / "var" / "bench" / "dft"
RESULTS_DIR = REPO / "benchmarks" / "results"
DEFAULT_MAX = {"reference": 24, "verify": 36}  # ≥ 20 / ≥ 30 survive DFT failures


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    # No abbreviations: a retired flag (e.g. --store) must fail, not silently mean a longer one.
    p = argparse.ArgumentParser(prog="python -m benchmarks.dft", description=__doc__.split("\n\n")[0],
                                allow_abbrev=False)
    p.add_argument("mode", choices=["reference", "verify"])
    p.add_argument("--bench-dir", type=Path, default=DEFAULT_BENCH_DIR, help="benchmark dir with cache/")
    p.add_argument("--variant", default=None, help="reference: the variant (default charge_dos)")
    p.add_argument("--variants", nargs="+", default=None, help="verify: the compared variants")
    p.add_argument("--max-crystals", type=int, default=None, help="per variant (default 24 / 36)")
    p.add_argument("--max-seconds", type=float, default=600.0, help="wall-time cap per crystal")
    p.add_argument("--workers", type=int, default=1, help="DFT subprocesses at once (one core each)")
    p.add_argument("--memory-gb", type=float, default=8.0, help="address-space cap per DFT subprocess")
    p.add_argument("--seed", type=int, default=0, help="verify: order of the successes")
    p.add_argument("--out-dir", type=Path, default=DEFAULT_OUT_DIR, help="GPAW logs of failed crystals")
    p.add_argument("--store-dir", type=Path, default=None,
                   help="folder of the per-variant JSONL stores (default: --results, beside the reports)")
    p.add_argument("--results", type=Path, default=RESULTS_DIR, help="where the reports go")
    p.add_argument("--retry-failed", action="store_true")
    p.add_argument("--report-only", action="store_true", help="no DFT: report what the store holds")
    p.add_argument("--list", action="store_true", help="print the selection and exit")
    args = p.parse_args(argv)
    if (args.max_crystals is not None and args.max_crystals < 1) or args.workers < 1 or args.max_seconds <= 0:
        p.error("--max-crystals and --workers must be >= 1, --max-seconds > 0")
    if not (args.bench_dir / "cache").is_dir() and not args.report_only:
        p.error(f"no benchmark cache at {args.bench_dir / 'cache'} (run `python -m benchmarks.run` first)")
    return args


def _physical(variant: str) -> bool:
    """Whether the variant's generated descriptors are charges/DOS (not the dummy control's random values)."""
    from models.config import load_config

    return load_config(REPO / "models" / "configs" / f"{variant}.yaml")["data"]["descriptors"] != "dummy"


def one_variant(args: argparse.Namespace, variant: str, settings: DFTSettings, prov: dict) -> dict:
    """Select, run and report one variant; returns the written payload."""
    t0 = time.time()
    mode = args.mode
    store = ReferenceStore(default_store_path(args.store_dir or args.results, variant, mode))
    if (args.bench_dir / "cache").is_dir():
        selection = collect_candidates(args.bench_dir, variant, args.max_crystals or DEFAULT_MAX[mode], mode=mode,
                                       seed=args.seed, log=_log)
    else:
        selection = candidates_from_store(store, settings)
    _log(f"[dft] {variant} selection: {selection.counts}")
    for n in selection.notes:
        _log(f"[dft] note: {n}")
    if args.list:
        for c in selection.candidates:
            _log(f"  {c.crystal_id} {c.formula} n={c.n_sites} E_hull {c.e_above_hull:.3f} cost {c.cost:.0f}")
        return {}
    if not args.report_only:
        run_reference(selection.candidates, store, settings, args.max_seconds, args.workers, args.memory_gb,
                      args.retry_failed, log_dir=args.out_dir / "logs")
    results = compare(selection.candidates, store.latest(settings), generated_is_physical=_physical(variant))
    prov = {**prov, "date_end": utc_now(), "wall_seconds": round(time.time() - t0, 1)}
    payload = build_payload(variant, args.bench_dir, selection, results, settings, args.max_seconds, store, prov, mode)
    stem = "dft_reference" if mode == "reference" else f"dft_verification_{variant}"
    for p in write_report(payload, args.results, stem):
        _log(f"[dft] wrote {p}")
    return payload


def attach_to_inverse(results_dir: Path, payloads: dict[str, dict]) -> None:
    """Put the verification summary into ``inverse.json`` (the headline reads it) and re-render its markdown."""
    from benchmarks.inverse.headline import JOINT
    from benchmarks.inverse.pooled import dft_confirmed_band_gap_success
    from benchmarks.report import rerender

    path = results_dir / "inverse.json"
    if not path.exists():
        _log(f"[dft] no {path}: the headline table is not updated")
        return
    data = json.loads(path.read_text())
    joint = payloads.get(JOINT) or next(iter(payloads.values()))
    grid = data["results"].get("grid") or {}
    guidance = (grid.get("pooled") or {}).get("guidance", data.get("settings", {}).get("guidance"))
    confirmed = {v: p["results"]["dft_success"] for v, p in payloads.items()}
    data["results"]["dft_verification"] = {
        "variant": joint["variant"],
        "comparisons": joint["results"]["comparisons"],
        "dft_success_by_variant": confirmed,
        "dft_confirmed_band_gap_success_by_variant": {
            v: dft_confirmed_band_gap_success(grid.get("cells") or {}, v, guidance, r)
            for v, r in confirmed.items() if r.get("n") and guidance is not None
        },
        "reports": {v: f"dft_verification_{v}.md" for v in payloads},
    }
    path.write_text(json.dumps(data, indent=1) + "\n")
    _log(f"[dft] wrote {rerender(path)}")


def main(argv: list[str] | None = None, settings: DFTSettings = DEFAULT_SETTINGS) -> int:
    args = parse_args(argv)
    import torch

    from benchmarks.variants import DEFAULT_VARIANT, canonical

    torch.set_num_threads(1)
    prov = {
        "git": git_commit(),
        "machine": machine(1, args.workers),
        "command": "python -m benchmarks.dft " + shlex.join(argv if argv is not None else sys.argv[1:]),
        "date_start": utc_now(),
    }
    if args.mode == "reference":
        one_variant(args, canonical(args.variant or DEFAULT_VARIANT), settings, prov)
        return 0
    names = [canonical(v) for v in (args.variants or [DEFAULT_VARIANT, "structure_only", "dummy"])]
    payloads = {v: one_variant(args, v, settings, prov) for v in names}
    if not args.list:
        attach_to_inverse(args.results, payloads)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
