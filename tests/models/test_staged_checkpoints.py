"""Weights-only v2 snapshots not yet served (``models/checkpoints/v2-staged/<variant>``).

A variant still in training is committed so that training can continue on a machine that lost its
resume state (``python -m models.train --config ... --ship-dir <that folder>``); a finished one waits
there until all five variants are finished, because the service's variants must share one recipe. The
service never loads them. What must hold: the bytes match the manifest, the manifest says how far
training got (complete exactly when the budget was reached), and the snapshot loads as the variant its
config names.
"""

import csv
import json

import pytest
import torch

from models.config import load_config
from models.hashing import sha256_file
from models.registry import CHECKPOINT_ROOT, list_models

STAGED_ROOT = CHECKPOINT_ROOT / "v2-staged"
STAGED = sorted(p.parent.name for p in STAGED_ROOT.glob("*/model.pt"))


def test_staged_snapshots_exist_and_are_not_offered_by_the_service():
    assert STAGED, f"no snapshot under {STAGED_ROOT}"
    assert not any("staged" in name or "partial" in name for name in list_models())


@pytest.mark.parametrize("variant", STAGED)
def test_staged_snapshot_matches_its_manifest_and_says_how_far_it_got(variant: str):
    folder = STAGED_ROOT / variant
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["variant"] == variant
    for name, meta in manifest["files"].items():
        assert (folder / name).stat().st_size == meta["bytes"], name
        assert sha256_file(folder / name) == meta["sha256"], f"{variant}/{name} differs from its manifest"
    assert manifest["complete"] == (manifest["step"] >= manifest["max_steps"] or manifest["stopped_early"])
    assert 0 < manifest["selected_step"] <= manifest["step"]
    rows = list(csv.DictReader((folder / "train_log.csv").open()))
    assert 0 < int(rows[-1]["step"]) <= manifest["step"]  # logging and checkpoint intervals differ
    selected = [r for r in rows if int(r["step"]) == manifest["selected_step"]]
    assert selected and float(selected[0]["val_types"]) == pytest.approx(manifest["selected_val_types"], abs=1e-4)
    payload = torch.load(folder / "model.pt", map_location="cpu", weights_only=False)
    cfg = load_config(payload["config"])
    assert cfg["name"] == variant and payload["step"] == manifest["step"]
    assert payload["selected_step"] == manifest["selected_step"]
