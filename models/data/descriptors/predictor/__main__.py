"""CLI of the descriptor predictor.

python -m models.data.descriptors.predictor train    # fit on DFT-labelled crystals, write assets
python -m models.data.descriptors.predictor label    # predict every corpus crystal without DFT
python -m models.data.descriptors.predictor metrics  # print the shipped metrics (markdown/JSON)
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m models.data.descriptors.predictor",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = ap.add_subparsers(dest="cmd", required=True)
    tr = sub.add_parser("train", help="train on DFT-labelled crystals and write predictor_assets/")
    tr.add_argument("--max-seconds", type=float, default=540.0, help="wall-clock cap on the epoch loop")
    tr.add_argument("--max-epochs", type=int, default=400)
    tr.add_argument("--seed", type=int, default=0)
    tr.add_argument("--assets", type=Path, default=None)
    tr.add_argument(
        "--cv", type=int, default=None, help="K-fold CV in the train split (default: 5 below 200 crystals)"
    )
    lb = sub.add_parser("label", help="predict descriptors for every corpus crystal without DFT ones")
    lb.add_argument("--limit", type=int, default=None, help="first N corpus rows only (smoke test)")
    lb.add_argument("--out", type=Path, default=None)
    lb.add_argument("--assets", type=Path, default=None)
    mt = sub.add_parser("metrics", help="print the metrics of the shipped predictor")
    mt.add_argument("--json", action="store_true")
    mt.add_argument("--assets", type=Path, default=None)
    args = ap.parse_args(argv)

    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import torch

    torch.set_num_threads(1)
    from models.data.descriptors.predictor.assets import ASSET_DIR, metrics_markdown
    from models.data.descriptors.predictor.train import TrainConfig, train_and_save

    assets = args.assets or ASSET_DIR
    if args.cmd == "train":
        cfg = TrainConfig(max_seconds=args.max_seconds, max_epochs=args.max_epochs, seed=args.seed)
        try:
            metrics = train_and_save(assets, cfg, cv_folds=args.cv)
        except ValueError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        print(metrics_markdown(metrics))
        print(f"wrote {assets}", file=sys.stderr)
        return 0
    if args.cmd == "label":
        from models.data.descriptors.predictor.predict import label_corpus

        def progress(i: int, n: int) -> None:
            print(f"\r[label] {i}/{n}", end="" if i < n else "\n", file=sys.stderr, flush=True)

        try:
            summary = label_corpus(assets, args.out, args.limit, progress)
        except FileNotFoundError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        print(json.dumps(summary, indent=1))
        return 0
    path = Path(assets) / "metrics.json"
    if not path.exists():
        print(f"error: no metrics at {path}; run `train` first", file=sys.stderr)
        return 2
    metrics = json.loads(path.read_text())
    print(json.dumps(metrics, indent=1) if args.json else metrics_markdown(metrics))
    from models.data.descriptors.predicted_store import PREDICTED_FILE, load_predicted_descriptors

    labelled = load_predicted_descriptors(PREDICTED_FILE)
    shas = {r.model_sha256 for r in labelled.values()}
    state = "current" if shas == {metrics.get("model_sha256")} else "STALE: re-run `label`"
    print(f"predicted store: {len(labelled)} crystals, {state}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
