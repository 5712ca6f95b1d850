"""Training: a tiny model memorizes four crystals; the loop logs, checkpoints, resumes and round-trips."""

import csv
import hashlib
import json
from pathlib import Path

import pytest
import torch
import yaml

from models.diffusion.batch import collate
from models.diffusion.build import build_diffusion, build_network, load_config
from models.diffusion.dataset import attach_descriptors, compute_stats, load_crystals
from models.sample import generate, load_model
from models.train import train

torch.set_num_threads(1)
REPO = Path(__file__).resolve().parents[2]
TINY = REPO / "models" / "configs" / "tiny.yaml"


def _tiny_cfg(**training) -> dict:
    raw = yaml.safe_load(TINY.read_text())
    raw["data"]["limit"] = 8
    raw["data"]["val_limit"] = 4
    raw["training"].update(
        {"max_steps": 20, "eval_every": 10, "checkpoint_every": 10, "log_every": 5, **training}
    )
    return raw


def test_tiny_model_overfits_four_crystals():
    """With the corruption held fixed, the joint loss on four real crystals falls by more than 10x."""
    items = load_crystals("train", "dummy", 4)
    cfg = load_config(
        {"network": {"hidden": 64, "layers": 2, "fourier_freqs": 6}, "fields": {"descriptors": "charge_dos"}}
    )
    stats = compute_stats(items, "charge_dos")
    attach_descriptors(items, "charge_dos", stats)
    torch.manual_seed(0)
    net, diffusion = build_network(cfg, stats), build_diffusion(cfg, stats)
    batch = collate(items, diffusion.descriptor_dim)

    def loss() -> dict[str, torch.Tensor]:
        return diffusion.losses(net, batch, torch.Generator().manual_seed(0), drop_conditions=False)

    with torch.no_grad():
        start = {k: float(v) for k, v in loss().items()}
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    for _ in range(100):
        total = loss()["total"]
        opt.zero_grad()
        total.backward()
        opt.step()
    with torch.no_grad():
        end = {k: float(v) for k, v in loss().items()}
    assert end["total"] < start["total"] / 10, (start, end)
    for field in ("types", "coords", "lattice", "descriptors"):
        assert end[field] < start[field], field


def test_train_logs_checkpoints_and_resumes(tmp_path: Path):
    out = tmp_path / "run"
    path = train(_tiny_cfg(), out)
    assert path == out / "model.pt" and (out / "last.pt").exists()
    rows = list(csv.DictReader((out / "train_log.csv").open()))
    assert [int(r["step"]) for r in rows] == [5, 10, 15, 20]
    assert rows[1]["val_total"] and rows[1]["val_descriptors"] and rows[1]["val_coords"]
    assert float(rows[0]["crystals_per_s"]) > 0
    assert len((out / "train_log.jsonl").read_text().splitlines()) == 4

    train(_tiny_cfg(), out, max_steps=30)  # resume: continues from step 20, does not restart
    # a run killed after logging step 35 but before its next checkpoint resumes from 30 without duplicates
    with (out / "train_log.csv").open("a") as fh:
        fh.write("35" + "," * 14 + "\n")
    train(_tiny_cfg(), out, max_steps=30)
    rows = list(csv.DictReader((out / "train_log.csv").open()))
    assert [int(r["step"]) for r in rows] == [5, 10, 15, 20, 25, 30]
    assert torch.load(out / "model.pt", weights_only=False)["step"] == 30


def test_checkpoint_round_trip_and_ship_manifest(tmp_path: Path):
    ship = tmp_path / "ship"
    cfg = _tiny_cfg()
    cfg["training"]["ship_dir"] = str(ship)  # absolute path: REPO_ROOT / abs == abs
    path = train(cfg, tmp_path / "run")
    payload = torch.load(path, weights_only=False)
    model = load_model(checkpoint=path)
    for k, v in model.network.state_dict().items():
        assert torch.equal(v, payload["state_dict"][k]), k
    assert model.checkpoint_sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    again = load_model(checkpoint=path)
    a = generate(model, 3, seed=5, steps=5)
    b = generate(again, 3, seed=5, steps=5)
    assert [c.structure for c in a] == [c.structure for c in b]
    manifest = json.loads((ship / "manifest.json").read_text())
    assert (
        manifest["files"]["model.pt"]["sha256"]
        == hashlib.sha256((ship / "model.pt").read_bytes()).hexdigest()
    )
    assert manifest["step"] == 20 and (ship / "config.yaml").exists() and (ship / "train_log.csv").exists()


def test_unknown_config_key_is_rejected():
    with pytest.raises(ValueError, match=r"network\.hiddden\n  Extra inputs are not permitted"):
        load_config({"network": {"hiddden": 3}})


def test_stats_record_where_the_descriptors_came_from():
    """A shipped variant must say which labels it learned: DFT/predicted counts and the predicted store."""
    items = load_crystals("train", "auto", 16)
    prov = compute_stats(items, "charge_dos")["descriptor_provenance"]
    assert sum(prov["crystals_by_source"].values()) == 16
    assert set(prov["crystals_by_source"]) <= {"dft", "predicted", "None"}
    if prov["crystals_by_source"].get("predicted"):
        assert len(prov["predicted_store_sha256"]) == 64 and len(prov["predictor_sha256"]) == 64
    assert compute_stats(items, "none")["descriptor_provenance"] is None


def test_exported_model_is_the_ema_with_the_best_validation_type_loss(tmp_path: Path):
    out = tmp_path / "run"
    train(_tiny_cfg(max_steps=30, eval_every=5), out)
    rows = [r for r in csv.DictReader((out / "train_log.csv").open()) if r["val_types"]]
    best_row = min(rows, key=lambda r: float(r["val_types"]))
    payload = torch.load(out / "model.pt", weights_only=False)
    state = torch.load(out / "last.pt", weights_only=False)
    assert payload["selected_step"] == int(best_row["step"])
    assert payload["selected_val_types"] == pytest.approx(float(best_row["val_types"]), abs=1e-4)
    for k, v in state["best"]["ema"].items():
        assert torch.equal(payload["state_dict"][k], v), k
    if payload["selected_step"] != 30:  # the last EMA differs from the selected one
        assert any(not torch.equal(payload["state_dict"][k], v) for k, v in state["ema"].items())


def test_early_stopping_ends_a_run_after_evaluations_without_improvement(tmp_path: Path):
    out = tmp_path / "run"
    # lr 0 after warmup: the weights stop changing, so validation cannot improve
    cfg = _tiny_cfg(max_steps=200, eval_every=5, early_stop_evals=2, lr=1e-12, warmup_steps=1)
    train(cfg, out)
    state = torch.load(out / "last.pt", weights_only=False)
    assert state["stopped_early"] and state["step"] < 200
    assert state["evals_since_best"] == 2


def test_default_state_dir_is_outside_the_work_tree(monkeypatch, tmp_path: Path):
    from models.train import REPO_ROOT, default_state_dir

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert default_state_dir("charge_dos") == tmp_path / "mattergen-e" / "train" / "charge_dos"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert REPO_ROOT not in default_state_dir("charge_dos").parents


def test_ship_only_and_weights_only_restart_from_a_partial_shipped_checkpoint(tmp_path: Path):
    ship, run = tmp_path / "ship", tmp_path / "run"
    cfg = _tiny_cfg(max_steps=40)
    cfg["training"]["ship_dir"] = str(ship)
    train(cfg, run, max_steps=20)  # a trial override never ships
    assert not ship.exists()
    train(cfg, run, ship_only=True)  # an explicit export of the partial run
    manifest = json.loads((ship / "manifest.json").read_text())
    assert manifest["step"] == 20 and manifest["complete"] is False and manifest["max_steps"] == 40
    shipped = torch.load(ship / "model.pt", weights_only=False)

    # the resume state is lost (new machine): training continues from the shipped weights
    train(cfg, tmp_path / "fresh")
    state = torch.load(tmp_path / "fresh" / "last.pt", weights_only=False)
    assert state["step"] == 40 and state["restart_step"] == 20
    rows = list(csv.DictReader((tmp_path / "fresh" / "train_log.csv").open()))
    assert [int(r["step"]) for r in rows] == [5, 10, 15, 20, 25, 30, 35, 40]
    manifest = json.loads((ship / "manifest.json").read_text())
    assert manifest["step"] == 40 and manifest["complete"] is True
    assert shipped["step"] == 20


def test_ship_only_without_training_state_is_a_clear_error(tmp_path: Path):
    with pytest.raises(FileNotFoundError, match="no training state"):
        train(_tiny_cfg(), tmp_path / "nothing", ship_only=True)
