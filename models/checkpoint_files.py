"""The files a training run writes: the exported ``model.pt``, the CSV + JSONL training log, and the
shipped folder (weights, config, log and a SHA-256 manifest saying how far training got)."""

from __future__ import annotations

import csv
import json
import os
import shutil
from pathlib import Path

import torch
import yaml

from models.hashing import sha256_file

CHECKPOINT_FORMAT = "mattergen-e/joint-diffusion-v1"
LOG_FIELDS = ["types", "coords", "lattice", "descriptors", "total"]
CSV_COLUMNS = (
    ["step", "epoch", "elapsed_s", "lr", "crystals_per_s"]
    + [f"train_{f}" for f in LOG_FIELDS]
    + [f"val_{f}" for f in LOG_FIELDS]
)


def atomic_save(obj: object, path: Path) -> None:
    tmp = path.with_name(path.name + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def export_model(state: dict, out_dir: Path) -> Path:
    """Write the selected EMA weights + config + stats as ``model.pt`` (what ``models.sample`` loads)."""
    best = state.get("best") or {}
    payload = {
        "format": CHECKPOINT_FORMAT,
        "config": state["config"],
        "stats": state["stats"],
        "state_dict": best.get("ema", state["ema"]),
        "selected_step": best.get("step", state["step"]),
        "selected_val_types": best.get("val_types"),
        "step": state["step"],
        "epoch": state["epoch"],
        "train_seconds": state["train_seconds"],
        "wall_seconds": state.get("wall_seconds", 0.0),
        "crystals_seen": state["crystals_seen"],
        "param_count": state["param_count"],
    }
    path = out_dir / "model.pt"
    atomic_save(payload, path)
    return path


def ship(out_dir: Path, ship_dir: Path, state: dict) -> None:
    """Copy model.pt, config.yaml, train_log.csv and a SHA-256 manifest into the shipped folder."""
    ship_dir.mkdir(parents=True, exist_ok=True)
    for name in ("model.pt", "train_log.csv"):
        src = out_dir / name
        if src.exists():
            tmp = ship_dir / (name + ".tmp")
            shutil.copyfile(src, tmp)
            os.replace(tmp, ship_dir / name)
    truncate_logs(ship_dir, int(state["step"]))  # rows logged after the shipped checkpoint do not belong
    with (ship_dir / "config.yaml").open("w") as fh:
        yaml.safe_dump(state["config"], fh, sort_keys=False)
    manifest = {
        "variant": state["config"]["name"],
        "files": {
            name: {"sha256": sha256_file(ship_dir / name), "bytes": (ship_dir / name).stat().st_size}
            for name in ("model.pt", "config.yaml", "train_log.csv")
            if (ship_dir / name).exists()
        },
        "step": state["step"],
        "max_steps": state["config"]["training"]["max_steps"],
        "complete": state["step"] >= state["config"]["training"]["max_steps"] or bool(state.get("stopped_early")),
        "stopped_early": bool(state.get("stopped_early")),
        "selected_step": (state.get("best") or {}).get("step", state["step"]),
        "selected_val_types": (state.get("best") or {}).get("val_types"),
        "epochs": round(state["epoch_float"], 3),
        "budget_epochs": round(
            state["config"]["training"]["max_steps"] * state["config"]["training"]["batch_size"]
            / state["stats"]["num_crystals"],
            1,
        ),
        "train_hours": round(state["train_seconds"] / 3600.0, 3),  # optimizer-step compute time
        "wall_hours": round(state.get("wall_seconds", 0.0) / 3600.0, 3),  # incl. data, eval, checkpoints
        "crystals_seen": state["crystals_seen"],
        "param_count": state["param_count"],
        "training_crystals": state["stats"]["num_crystals"],
        "descriptor_sites": state["stats"]["descriptor_sites"],
        "descriptor_provenance": state["stats"].get("descriptor_provenance"),
    }
    tmp = ship_dir / "manifest.json.tmp"
    tmp.write_text(json.dumps(manifest, indent=2) + "\n")
    os.replace(tmp, ship_dir / "manifest.json")


def truncate_logs(out_dir: Path, step: int) -> None:
    """On resume, drop log rows written after the checkpoint we resume from (they will be redone)."""
    csv_path, json_path = out_dir / "train_log.csv", out_dir / "train_log.jsonl"
    if csv_path.exists():
        rows = [r for r in csv.DictReader(csv_path.open()) if int(r["step"]) <= step]
        with csv_path.open("w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=CSV_COLUMNS)
            w.writeheader()
            w.writerows({k: r.get(k, "") for k in CSV_COLUMNS} for r in rows)
    if json_path.exists():
        lines = [ln for ln in json_path.read_text().splitlines() if ln and json.loads(ln)["step"] <= step]
        json_path.write_text("".join(ln + "\n" for ln in lines))


def append_log(out_dir: Path, row: dict) -> None:
    csv_path = out_dir / "train_log.csv"
    new = not csv_path.exists()
    with csv_path.open("a", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=CSV_COLUMNS)
        if new:
            w.writeheader()
        w.writerow({k: row.get(k, "") for k in CSV_COLUMNS})
    with (out_dir / "train_log.jsonl").open("a") as fh:
        fh.write(json.dumps(row) + "\n")
