"""CLI: ``python -m models.evaluate DIR_OR_EXTXYZ [--band-gap X] [--formation-energy Y] [--out DIR]``.

Without target flags the target is read from the sample directory's ``summary.json`` (written by
``python -m models.sample``); ``--unconditional`` ignores it. Writes ``metrics.json``, ``metrics.md``
and the relaxed CIFs to ``--out`` (default: ``DIR/evaluation``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")


def _target_from_summary(path: Path) -> dict | None:
    summary = (path if path.is_dir() else path.parent) / "summary.json"
    if not summary.exists():
        return None
    data = json.loads(summary.read_text())
    t = {k: data.get(k) for k in ("band_gap", "formation_energy_per_atom") if data.get(k) is not None}
    return t or None


def _import_callable(spec: str):
    import importlib

    module, sep, name = spec.partition(":")
    if not sep or not module or not name:
        raise ValueError("expected MODULE:FUNCTION")
    fn = getattr(importlib.import_module(module), name)
    if not callable(fn):
        raise ValueError(f"{spec} is not callable")
    return fn


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m models.evaluate",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ap.add_argument("path", type=Path, help="sample directory, .extxyz or .cif")
    ap.add_argument("--band-gap", type=float, default=None, help="target band gap, eV")
    ap.add_argument("--formation-energy", type=float, default=None, help="target formation energy, eV/atom")
    ap.add_argument("--unconditional", action="store_true", help="ignore any target in summary.json")
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--relax-steps", type=int, default=500, help="CHGNet FIRE steps (0 = static energy only)")
    ap.add_argument("--fmax", type=float, default=0.1)
    ap.add_argument("--no-novelty", action="store_true", help="skip matching against the known crystals")
    ap.add_argument(
        "--descriptor-predictor",
        default=None,
        metavar="MODULE:FUNCTION",
        help="callable structure -> (charges, dos) to score generated descriptors against",
    )
    ap.add_argument("--quiet", action="store_true")
    args = ap.parse_args(argv)

    import torch

    torch.set_num_threads(1)
    from models.evaluate.inputs import load_generated
    from models.evaluate.pipeline import evaluate_structures
    from models.evaluate.report import markdown, write_report

    try:
        gen = load_generated(args.path)
    except (FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    predictor = None
    if args.descriptor_predictor:
        try:
            predictor = _import_callable(args.descriptor_predictor)
        except (ImportError, AttributeError, ValueError) as exc:
            print(
                f"error: cannot load descriptor predictor {args.descriptor_predictor!r}: {exc}",
                file=sys.stderr,
            )
            return 2
    if args.band_gap is not None or args.formation_energy is not None:
        target = {"band_gap": args.band_gap, "formation_energy_per_atom": args.formation_energy}
    elif args.unconditional:
        target = None
    else:
        target = _target_from_summary(args.path)

    def progress(i: int, n: int) -> None:
        if not args.quiet:
            print(f"\r[evaluate] {i}/{n}", end="" if i < n else "\n", file=sys.stderr, flush=True)

    result = evaluate_structures(
        gen.structures,
        target,
        names=gen.names,
        charges=gen.charges,
        dos=gen.dos,
        relax_steps=args.relax_steps,
        fmax=args.fmax,
        check_novelty=not args.no_novelty,
        descriptor_predictor=predictor,
        progress=progress,
    )
    out = args.out or ((args.path if args.path.is_dir() else args.path.parent) / "evaluation")
    write_report(result, out, title=f"Evaluation of {gen.source}")
    if not args.quiet:
        print(markdown(result, title=f"Evaluation of {gen.source}").split("\n\n| name")[0])
    print(f"wrote {out / 'metrics.json'} and {out / 'metrics.md'}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
