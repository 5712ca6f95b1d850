"""The shipped predictor assets: weights (with their config inside, so the SHA-256 covers everything
needed to predict), config, training log, metrics JSON and a markdown summary."""

from __future__ import annotations

import csv
import json
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from models.data.descriptor_spec import DOS_BINS
from models.data.descriptors.predictor.labelled import LabelledCrystal
from models.data.descriptors.predictor.model import DescriptorNet
from models.hashing import sha256_file

if TYPE_CHECKING:
    from models.data.descriptors.predictor.train import TrainConfig

ASSET_DIR = Path(__file__).resolve().parents[1] / "predictor_assets"
WEIGHTS_FILE = "model.pt"


def save_assets(
    model: DescriptorNet,
    metrics: dict,
    config: TrainConfig,
    log: list[dict],
    crystals: list[LabelledCrystal],
    asset_dir: Path = ASSET_DIR,
) -> str:
    """Write weights (+ config inside, so the SHA-256 covers everything needed to predict), config,
    training log, metrics JSON and a markdown summary; returns the weights' SHA-256."""
    asset_dir = Path(asset_dir)
    asset_dir.mkdir(parents=True, exist_ok=True)
    weights = asset_dir / WEIGHTS_FILE
    tmp = weights.with_suffix(".tmp")
    torch.save({"format": 1, "model_config": config.model.to_dict(), "state_dict": model.state_dict()}, tmp)
    tmp.replace(weights)
    sha = sha256_file(weights)
    cfg = asdict(config)
    cfg["dos_bins"] = DOS_BINS
    cfg["training_crystals"] = {
        s: sorted(c.material_id for c in crystals if c.split == s) for s in ("train", "val", "test")
    }
    (asset_dir / "config.json").write_text(json.dumps(cfg, indent=1) + "\n")
    with (asset_dir / "train_log.csv").open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=["epoch", "train_loss", "val_loss", "seconds"])
        w.writeheader()
        w.writerows({k: (round(v, 6) if isinstance(v, float) else v) for k, v in row.items()} for row in log)
    metrics = {**metrics, "model_sha256": sha}
    (asset_dir / "metrics.json").write_text(json.dumps(metrics, indent=1) + "\n")
    (asset_dir / "metrics.md").write_text(metrics_markdown(metrics))
    return sha


def _fmt(x: float | None, nd: int = 3) -> str:
    return "–" if x is None else f"{x:.{nd}f}"


def metrics_markdown(metrics: dict) -> str:
    """Model vs baseline per split, then per element on the test split."""
    lines = [
        "# Descriptor predictor metrics",
        "",
        f"DFT-labelled crystals: train {metrics['counts']['train']}, val {metrics['counts']['val']}, "
        f"test {metrics['counts']['test']} (sites {metrics['sites']['train']}/{metrics['sites']['val']}/{metrics['sites']['test']}); "
        f"best epoch {metrics['best_epoch']} of {metrics['epochs_run']}, {metrics['train_seconds']:.0f} s; "
        f"weights sha256 {metrics.get('model_sha256', '?')[:16]}…",
        "",
        "| split | crystals | sites | charge MAE (e) model / baseline / neutralized baseline | DOS cosine model / baseline | DOS EMD (eV) model / baseline |",
        "|---|---|---|---|---|---|",
    ]
    for name, s in metrics["splits"].items():
        if not s.get("n_crystals"):
            lines.append(f"| {name} | 0 | 0 | – | – | – |")
            continue
        m, b = s["model"], s["baseline"]
        lines.append(
            f"| {name} | {m['n_crystals']} | {m['n_sites']} | {_fmt(m['charge_mae_e'])} / {_fmt(b['charge_mae_e'])} / {_fmt(b.get('charge_mae_e_neutralized'))} | "
            f"{_fmt(m['dos_cosine_mean'])} / {_fmt(b['dos_cosine_mean'])} | {_fmt(m['dos_emd_ev_mean'])} / {_fmt(b['dos_emd_ev_mean'])} |"
        )
    cv = metrics.get("cv_train_split")
    if cv:
        m, b = cv["model"], cv["baseline"]
        lines.append(
            f"| train, {cv['folds']}-fold CV (out-of-fold) | {m['n_crystals']} | {m['n_sites']} | "
            f"{_fmt(m['charge_mae_e'])} / {_fmt(b['charge_mae_e'])} / {_fmt(b.get('charge_mae_e_neutralized'))} | "
            f"{_fmt(m['dos_cosine_mean'])} / {_fmt(b['dos_cosine_mean'])} | "
            f"{_fmt(m['dos_emd_ev_mean'])} / {_fmt(b['dos_emd_ev_mean'])} |"
        )
    for split in ("val", "test"):
        s = metrics["splits"].get(split, {})
        if not s.get("n_crystals"):
            continue
        lines += [
            "",
            f"## {split}, per element",
            "",
            "| element | sites | charge MAE model / baseline / neutralized baseline | DOS cosine model / baseline | DOS EMD model / baseline |",
            "|---|---|---|---|---|",
        ]
        for el, m in s["model"]["by_element"].items():
            b = s["baseline"]["by_element"][el]
            lines.append(
                f"| {el} | {m['n_sites']} | {_fmt(m['charge_mae_e'])} / {_fmt(b['charge_mae_e'])} / {_fmt(b.get('charge_mae_e_neutralized'))} | "
                f"{_fmt(m['dos_cosine_mean'])} / {_fmt(b['dos_cosine_mean'])} | {_fmt(m['dos_emd_ev_mean'])} / {_fmt(b['dos_emd_ev_mean'])} |"
            )
    return "\n".join(lines) + "\n"
