"""The sampling suite end to end on the tiny test model (real sampling, a few seconds)."""

from __future__ import annotations

import json
import shutil

import torch

from benchmarks.run import main


def test_sampling_suite_on_tiny_model(tmp_path, tiny_checkpoint):
    root = tmp_path / "ckpts" / "structure_only"
    root.mkdir(parents=True)
    shutil.copy(tiny_checkpoint, root / "model.pt")
    shutil.copy(tiny_checkpoint.parent / "train_log.csv", root / "train_log.csv")
    out = tmp_path / "out"
    threads = torch.get_num_threads()
    try:
        rc = main(["--suite", "sampling", "--quick", "--samples", "3", "--workers", "1",
                   "--checkpoint-root", str(tmp_path / "ckpts"), "--out", str(out), "--cache", str(tmp_path / "cache")])
    finally:
        torch.set_num_threads(threads)
    assert rc == 0
    data = json.loads((out / "sampling.json").read_text())
    v = data["results"]["variants"][0]
    assert v["variant"] == "structure_only" and v["param_count"] > 0
    assert v["guided"]["n"] == 3 and v["unconditional"]["n"] == 3
    assert 0.0 <= v["guided"]["structure_valid_rate"] <= 1.0 and v["guided"]["seconds_per_structure"] > 0
    assert [r["steps"] for r in v["steps_tradeoff"]] == [200, 100, 20]  # + the tiny model's default, 20
    assert v["training_throughput"]["crystals_per_s_median"] > 0
    assert (out / "sampling_validity_vs_steps.png").stat().st_size > 0
    assert "skipped — no shipped checkpoint" in (out / "sampling.md").read_text()
    assert (out / "estimate.json").exists()
