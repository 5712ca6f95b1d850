"""Train → save → load round trip of the predictor, on a handful of crystals.

Targets: real DFT-labelled records from ``dft_results/`` when at least four training-split crystals
exist in this checkout; otherwise the seeded dummy descriptors (``models.data.descriptors.dummy``)
stand in as targets on corpus structures — they carry no physics, so that variant tests only the
mechanics (fitting, assets, reload, identical predictions), not accuracy.
"""

import hashlib
import json

import numpy as np
import pytest
import torch

from models.data.corpus import load_corpus
from models.data.descriptor_spec import DOS_ENERGIES
from models.data.descriptors.dummy import dummy_descriptors
from models.data.descriptors.predictor.__main__ import main as cli_main
from models.data.descriptors.predictor.features import crystal_graph
from models.data.descriptors.predictor.labelled import LabelledCrystal, labelled_from_dft
from models.data.descriptors.predictor.model import ModelConfig
from models.data.descriptors.predictor.predict import load_model, predict_many
from models.data.descriptors.predictor.train import TrainConfig, train_and_save

torch.set_num_threads(1)


def _dummy_crystals() -> list[LabelledCrystal]:
    out = []
    for e in load_corpus(descriptors="none", limit=8):
        q, d = dummy_descriptors(e.material_id, len(e.structure))
        q = q - q.mean()
        out.append(
            LabelledCrystal(
                e.material_id,
                "train",
                [s.specie.symbol for s in e.structure],
                crystal_graph(e.structure),
                q,
                d,
            )
        )
    out[-1].split, out[-2].split = "val", "test"
    return out


@pytest.fixture(scope="module")
def crystals() -> list[LabelledCrystal]:
    real = labelled_from_dft()
    train = [c for c in real if c.split == "train"][:6]
    if len(train) >= 4:
        held = [c for c in real if c.split == "val"][:1] + [c for c in real if c.split == "test"][:1]
        return train + held
    return _dummy_crystals()


@pytest.fixture(scope="module")
def trained(crystals, tmp_path_factory):
    assets = tmp_path_factory.mktemp("assets")
    cfg = TrainConfig(
        max_epochs=60, patience=1000, batch_size=8, lr=1e-2, model=ModelConfig(hidden=16, layers=2, n_rbf=16)
    )
    metrics = train_and_save(assets, cfg, crystals)
    return assets, metrics


def test_assets_written(trained, crystals):
    assets, metrics = trained
    for name in ("model.pt", "config.json", "train_log.csv", "metrics.json", "metrics.md"):
        assert (assets / name).exists(), name
    saved = json.loads((assets / "metrics.json").read_text())
    assert saved["counts"]["train"] == sum(c.split == "train" for c in crystals)
    assert saved["model_sha256"] == hashlib.sha256((assets / "model.pt").read_bytes()).hexdigest()
    rows = (assets / "train_log.csv").read_text().splitlines()[1:]
    losses = [float(r.split(",")[1]) for r in rows]
    assert len(losses) == 60 and all(np.isfinite(losses))
    tr = saved["splits"]["train"]
    assert tr["model"]["charge_mae_e"] is not None and tr["baseline"]["charge_mae_e"] is not None
    assert set(tr["model"]["by_element"]) == {s for c in crystals if c.split == "train" for s in c.symbols}


def test_training_reduces_loss_on_dummy_targets():
    """Dummy targets (no physics, far from the per-element baseline) so there is something to fit;
    full-batch steps make the loss curve deterministic."""
    from models.data.descriptors.predictor.train import fit

    log: list[dict] = []
    cfg = TrainConfig(
        max_epochs=60, patience=1000, batch_size=8, lr=1e-2, model=ModelConfig(hidden=16, layers=2, n_rbf=16)
    )
    fit(_dummy_crystals(), cfg, log, evaluate=False)
    losses = [row["train_loss"] for row in log]
    assert len(losses) == 60 and losses[-1] < 0.99 * losses[0]


def test_reloaded_model_predicts_like_training_metrics(trained, crystals):
    assets, metrics = trained
    load_model.cache_clear()
    model, sha = load_model(assets)
    assert sha == metrics["model_sha256"]
    train = [c for c in crystals if c.split == "train"]
    entries = {
        e.material_id: e for e in load_corpus(descriptors="none", material_ids=[c.material_id for c in train])
    }
    preds = predict_many([entries[c.material_id].structure for c in train], assets)
    err = np.concatenate([np.abs(q - c.charges) for (q, _), c in zip(preds, train, strict=True)])
    assert err.mean() == pytest.approx(metrics["splits"]["train"]["model"]["charge_mae_e"], abs=1e-5)
    for q, d in preds:
        assert abs(q.sum()) < 1e-5
        np.testing.assert_allclose(np.trapezoid(d, DOS_ENERGIES, axis=-1), 1.0, atol=1e-5)


def test_cli_metrics_and_missing_assets(trained, tmp_path, capsys):
    assets, _ = trained
    assert cli_main(["metrics", "--assets", str(assets)]) == 0
    assert "charge MAE" in capsys.readouterr().out
    assert cli_main(["metrics", "--assets", str(tmp_path)]) == 2
    assert (
        cli_main(["label", "--assets", str(tmp_path), "--limit", "2", "--out", str(tmp_path / "p.npz")]) == 2
    )


def test_no_training_crystals_is_a_clear_error(crystals):
    from models.data.descriptors.predictor.train import fit

    with pytest.raises(ValueError, match="train split"):
        fit([c for c in crystals if c.split != "train"])


def test_cross_validation_predicts_every_training_crystal_once(crystals):
    from models.data.descriptors.predictor.train import cross_validate

    cfg = TrainConfig(max_epochs=3, batch_size=8, model=ModelConfig(hidden=8, layers=1, n_rbf=8))
    cv = cross_validate(crystals, cfg, folds=2)
    train = [c for c in crystals if c.split == "train"]
    assert cv["n_crystals"] == len(train)
    assert cv["n_sites"] == sum(len(c.symbols) for c in train)
    assert cv["model"]["charge_mae_e"] >= 0 and cv["baseline"]["charge_mae_e_neutralized"] >= 0
