"""The type-leak check on a shipped checkpoint: real validation crystals, real network."""

from __future__ import annotations

import math

import torch

from benchmarks.type_leak import type_leak
from models.registry import CHECKPOINT_ROOT
from models.sample import load_model


def test_structure_only_has_one_measurement_and_masks_about_t_of_the_sites():
    ckpt = CHECKPOINT_ROOT / "structure_only" / "model.pt"
    assert ckpt.exists(), "the shipped structure_only checkpoint is missing"
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        model = load_model(checkpoint=ckpt)
        out = type_leak(model, n_crystals=32, t_value=0.2, seed=7)
        again = type_leak(model, n_crystals=32, t_value=0.2, seed=7)
        other_t = type_leak(model, n_crystals=32, t_value=0.6, seed=7)
    finally:
        torch.set_num_threads(threads)
    assert out["descriptor_channels"] == "none" and out["noise"] == out["own"]
    assert out == {**again, "cpu_seconds": out["cpu_seconds"]}  # fixed generator: the same numbers
    assert 0.1 < out["masked_sites"] / out["sites"] < 0.3 < other_t["masked_sites"] / other_t["sites"]
    assert math.isfinite(out["own"]["cross_entropy_nats"]) and out["own"]["cross_entropy_nats"] > 0
