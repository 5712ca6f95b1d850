"""CLI: ``python -m models.data.descriptors run|status``.

    run     label corpus crystals with DFT (resumable; see ``runner``)
    status  counts, element coverage and timing of the stored results
"""

from __future__ import annotations

import argparse
import json

from models.data.descriptors.settings import DEFAULT_SETTINGS, DFTSettings


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m models.data.descriptors")
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run", help="label corpus crystals with the DFT path")
    r.add_argument("--workers", type=int, default=1)
    r.add_argument("--max-seconds", type=float, default=900.0, help="hard wall-time cap per crystal")
    r.add_argument("--limit", type=int, default=None, help="stop after this many crystals")
    r.add_argument("--split", nargs="*", default=None, choices=["train", "val", "test"])
    r.add_argument("--max-sites", type=int, default=None)
    r.add_argument("--memory-gb", type=float, default=8.0, help="address-space cap per crystal")
    r.add_argument("--retry-failed", action="store_true", help="re-run crystals that failed before")
    r.add_argument("--results-dir", default=None, help="store folder (default: the committed dft_results/)")
    for name in ("basis", "kpt_length", "h", "smearing_ev", "engine", "spin_policy"):
        default = getattr(DEFAULT_SETTINGS, name)
        r.add_argument(f"--{name.replace('_', '-')}", type=type(default), default=default)
    s = sub.add_parser("status", help="summarise stored results")
    s.add_argument("--results-dir", default=None)
    args = ap.parse_args(argv)

    from pathlib import Path

    from models.data.descriptors import runner
    from models.data.descriptors.store import RESULTS_DIR

    results_dir = Path(args.results_dir) if args.results_dir else RESULTS_DIR
    if args.cmd == "run":
        settings = DFTSettings(**{**DEFAULT_SETTINGS.model_dump(),
                                  **{k: getattr(args, k) for k in ("basis", "kpt_length", "h", "smearing_ev", "engine", "spin_policy")}})
        runner.run(workers=args.workers, max_seconds=args.max_seconds, limit=args.limit, splits=args.split,
                   settings=settings, retry_failed=args.retry_failed, memory_gb=args.memory_gb,
                   max_sites=args.max_sites, results_dir=results_dir)
    else:
        print(json.dumps(runner.status(results_dir), indent=1))


if __name__ == "__main__":
    main()
