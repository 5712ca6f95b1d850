"""The sampling suite end to end on the tiny test model (real sampling, a few seconds)."""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import sys

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
    g = v["guided"]
    assert g["n"] == 3 and v["unconditional"]["n"] == 3 and g["seconds_per_structure"] > 0
    assert g["charge_balance"] is True and v["unconditional"]["charge_balance"] is True  # the sampling default
    # rates are the stated counts over n, and the not-all-metal subset is the complement of all-metal
    assert g["structure_valid_rate"] == g["structure_valid"] / 3 and g["valid"] <= g["structure_valid"]
    assert g["all_metal"] + g["not_all_metal"] == 3
    assert g["composition_valid_not_all_metal"] <= g["composition_valid"]
    assert isinstance(g["known_match"], int) and g["known_match_rate"] == g["known_match"] / 3
    assert g["mean_elements"] >= 1.0 and 2.0 < data["results"]["training_mean_elements"] < 4.0
    # type leak on real validation crystals: the tiny model has (dummy) descriptor channels, so the noise
    # input is a second forward pass with other logits
    leak = v["type_leak"]
    assert leak["crystals"] == 64 and leak["masked_sites"] > 0 and leak["descriptor_channels"] == "charge_dos"
    assert math.isfinite(leak["own"]["cross_entropy_nats"]) and leak["own"]["cross_entropy_nats"] > 0
    assert leak["noise"] != leak["own"]
    assert [r["steps"] for r in v["steps_tradeoff"]] == [200, 100, 20]  # + the tiny model's default, 20
    assert v["training_throughput"]["crystals_per_s_median"] > 0
    assert (out / "sampling_validity_vs_steps.png").stat().st_size > 0
    assert "skipped — no shipped checkpoint" in (out / "sampling.md").read_text()
    assert (out / "estimate.json").exists()


def test_sampling_cli_scores_any_checkpoint(tiny_checkpoint):
    """``python -m benchmarks.sampling model.pt`` prints the suite's numbers for one checkpoint; bad sizes are refused."""
    cmd = [sys.executable, "-m", "benchmarks.sampling", str(tiny_checkpoint), "--samples", "3", "--seed", "5",
           "--no-known"]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=300)
    row = json.loads(out.stdout.strip().splitlines()[-1])
    assert row["checkpoint"] == str(tiny_checkpoint) and row["n"] == 3 and row["seed"] == 5
    assert row["known_match"] is None and 0 <= row["composition_valid"] <= 3 and row["guidance"] == 0.0
    assert row["charge_balance"] is True
    off = subprocess.run([*cmd, "--no-charge-balance"], capture_output=True, text=True, check=True, timeout=300)
    assert json.loads(off.stdout.strip().splitlines()[-1])["charge_balance"] is False
    bad = subprocess.run([*cmd[:4], "--samples", "0"], capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "--samples and --batch-size must be >= 1" in bad.stderr
