"""Train the descriptor predictor on DFT-labelled corpus crystals and write the shipped assets.

Splits follow the corpus ``split`` column: the model fits ``train`` crystals only; ``val`` picks the
epoch (early stopping, best state kept); ``test`` is touched once, for the reported metrics. Every
metric is reported next to the trivial baseline (per-element mean charge / mean DOS of the training
sites; elements absent from training fall back to charge 0 and the mean DOS of all training sites),
so the gain over "just know the element" is visible.

Losses: charge MSE (e²); DOS as a distribution over bins — KL(target ‖ predicted) plus the earth
mover's distance (eV) between cumulative distributions, which pulls a misplaced peak towards the
right energy instead of only penalizing overlap.

Cost: graphs are built once; one epoch at 2,000 crystals (~20k sites, ~1M edges at a 5 Å cutoff) is a
few seconds on one core, and ``max_seconds`` caps the run (default 540 s, the ~10 min budget).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from models.data.descriptor_spec import DOS_STEP
from models.data.descriptors.predictor.assets import ASSET_DIR, save_assets
from models.data.descriptors.predictor.evaluation import evaluate_split, report, split_errors
from models.data.descriptors.predictor.labelled import (
    LabelledCrystal,
    element_baseline,
    labelled_from_dft,
    oxidation_baseline,
)
from models.data.descriptors.predictor.model import DescriptorNet, GraphBatch, ModelConfig, collate

CV_BELOW = 200


@dataclass
class TrainConfig:
    lr: float = 2e-3
    weight_decay: float = 1e-4
    batch_size: int = 16
    max_epochs: int = 400
    patience: int = 60
    max_seconds: float = 540.0
    emd_weight: float = 0.5
    seed: int = 0
    model: ModelConfig = field(default_factory=ModelConfig)


def _targets(crystals: list[LabelledCrystal]) -> tuple[torch.Tensor, torch.Tensor]:
    q = torch.from_numpy(np.concatenate([c.charges for c in crystals])).float()
    d = np.concatenate([c.dos for c in crystals])
    p = d / d.sum(-1, keepdims=True)
    return q, torch.from_numpy(p).float()


def _loss(
    model: DescriptorNet, b: GraphBatch, q_t: torch.Tensor, p_t: torch.Tensor, emd_weight: float
) -> torch.Tensor:
    q, _dos, logp = model(b)
    mse = torch.mean((q - q_t) ** 2)
    kl = torch.mean(torch.sum(p_t * (torch.log(p_t.clamp_min(1e-8)) - logp), dim=-1))
    emd = torch.mean(torch.abs(torch.cumsum(p_t - logp.exp(), dim=-1)).sum(-1)) * DOS_STEP
    return mse + kl + emd_weight * emd


def _batches(
    crystals: list[LabelledCrystal], size: int, rng: np.random.Generator | None
) -> list[list[LabelledCrystal]]:
    order = np.arange(len(crystals)) if rng is None else rng.permutation(len(crystals))
    return [[crystals[i] for i in order[k : k + size]] for k in range(0, len(crystals), size)]


def cross_validate(crystals: list[LabelledCrystal], config: TrainConfig, folds: int = 5) -> dict:
    """K-fold cross-validation inside the *train* split (val still early-stops, test untouched).

    Why: while only a few dozen crystals are labelled, the val/test splits hold a handful of crystals
    each and their metrics are mostly noise; out-of-fold predictions over all training crystals give a
    steadier estimate of what the predictor does on crystals it has not seen, at ``folds`` × the cost.
    """
    train = [c for c in crystals if c.split == "train"]
    others = [c for c in crystals if c.split == "val"]
    order = np.random.default_rng(config.seed).permutation(len(train))
    symbols: list[str] = []
    m_err: dict[str, list[np.ndarray]] = {}
    b_err: dict[str, list[np.ndarray]] = {}
    for k in range(folds):
        held = {int(i) for i in order[k::folds]}
        fold_train = [c for i, c in enumerate(train) if i not in held]
        fold_test = [c for i, c in enumerate(train) if i in held]
        model, _ = fit(fold_train + others, config, evaluate=False)
        base_q, base_d, _ = element_baseline(fold_train)
        sym, me, be = split_errors(model, fold_test, base_q, base_d)
        symbols += sym
        for key in me:
            m_err.setdefault(key, []).append(me[key])
        for key in be:
            b_err.setdefault(key, []).append(be[key])
    cat = {k: np.concatenate(v) for k, v in m_err.items()}
    bcat = {k: np.concatenate(v) for k, v in b_err.items()}
    return {"folds": folds, **report(symbols, cat, bcat, len(train))}


def _val_loss(model: DescriptorNet, crystals: list[LabelledCrystal], emd_weight: float) -> float:
    model.eval()
    with torch.no_grad():
        tot, n = 0.0, 0
        for batch in _batches(crystals, 64, None):
            q_t, p_t = _targets(batch)
            tot += float(_loss(model, collate([c.graph for c in batch]), q_t, p_t, emd_weight)) * len(batch)
            n += len(batch)
    return tot / max(n, 1)


def fit(
    crystals: list[LabelledCrystal],
    config: TrainConfig | None = None,
    log: list[dict] | None = None,
    evaluate: bool = True,
) -> tuple[DescriptorNet, dict]:
    """Fit on the ``train`` crystals, early-stop on ``val``; returns (model in eval mode, metrics)."""
    cfg = config or TrainConfig()
    train = [c for c in crystals if c.split == "train"]
    val = [c for c in crystals if c.split == "val"]
    test = [c for c in crystals if c.split == "test"]
    if not train:
        raise ValueError("no DFT-labelled crystals in the train split; run the DFT labeller first")
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    # Early stopping needs crystals the model does not fit. Without labelled val crystals (only at the
    # very start of labelling) a sixth of the train crystals is held out for it instead.
    fit_on, monitor, stop_on = train, val, "val"
    if not val and len(train) >= 3:
        idx = rng.permutation(len(train))
        k = max(1, len(train) // 6)
        monitor, fit_on = [train[i] for i in idx[:k]], [train[i] for i in idx[k:]]
        stop_on = f"{k} train crystals held out from fitting (no val crystals labelled)"
    elif not val:
        monitor, stop_on = train, "train loss (fewer than 3 crystals, no val)"
    base_q, base_d, seen = element_baseline(fit_on)
    base_o, slope = oxidation_baseline(fit_on, base_q)
    model = DescriptorNet(cfg.model, base_q, base_d, base_o, slope)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    best = (_val_loss(model, monitor, cfg.emd_weight), 0)
    best_state = {k: v.clone() for k, v in model.state_dict().items()}
    t0 = time.perf_counter()
    epoch = 0
    for epoch in range(1, cfg.max_epochs + 1):
        model.train()
        tot = 0.0
        for batch in _batches(fit_on, cfg.batch_size, rng):
            q_t, p_t = _targets(batch)
            loss = _loss(model, collate([c.graph for c in batch]), q_t, p_t, cfg.emd_weight)
            opt.zero_grad()
            loss.backward()
            opt.step()
            tot += float(loss.detach()) * len(batch)
        v = _val_loss(model, monitor, cfg.emd_weight)
        if log is not None:
            log.append(
                {
                    "epoch": epoch,
                    "train_loss": tot / len(fit_on),
                    "val_loss": v,
                    "seconds": time.perf_counter() - t0,
                }
            )
        if v < best[0]:
            best = (v, epoch)
            best_state = {k: t.clone() for k, t in model.state_dict().items()}
        if epoch - best[1] >= cfg.patience or time.perf_counter() - t0 > cfg.max_seconds:
            break
    model.load_state_dict(best_state)
    model.eval()
    seconds = time.perf_counter() - t0
    if not evaluate:
        return model, {}
    metrics = {
        "counts": {"train": len(train), "val": len(val), "test": len(test)},
        "sites": {
            "train": sum(len(c.symbols) for c in train),
            "val": sum(len(c.symbols) for c in val),
            "test": sum(len(c.symbols) for c in test),
        },
        "elements_in_train": seen,
        "best_epoch": best[1],
        "epochs_run": epoch,
        "early_stopping_on": stop_on,
        "train_seconds": seconds,
        "splits": {
            name: evaluate_split(model, part, base_q, base_d)
            for name, part in (("train", train), ("val", val), ("test", test))
        },
    }
    return model, metrics


def train_and_save(
    asset_dir: Path = ASSET_DIR,
    config: TrainConfig | None = None,
    crystals: list[LabelledCrystal] | None = None,
    cv_folds: int | None = None,
) -> dict:
    """The ``train`` command: DFT-labelled crystals → fitted model → assets. Returns the metrics.

    ``cv_folds``: None = automatic (5-fold CV inside the train split while it holds fewer than
    ``CV_BELOW`` crystals, none after — by then val/test are large enough and CV would cost 5× the
    training budget); 0 = off.
    """
    cfg = config or TrainConfig()
    t0 = time.perf_counter()
    crystals = labelled_from_dft() if crystals is None else crystals
    prep = time.perf_counter() - t0
    log: list[dict] = []
    model, metrics = fit(crystals, cfg, log)
    metrics["prepare_seconds"] = prep
    n_train = metrics["counts"]["train"]
    folds = (5 if n_train < CV_BELOW else 0) if cv_folds is None else cv_folds
    if folds >= 2 and n_train >= 2 * folds:
        t1 = time.perf_counter()
        metrics["cv_train_split"] = cross_validate(crystals, cfg, folds)
        metrics["cv_seconds"] = time.perf_counter() - t1
    sha = save_assets(model, metrics, cfg, log, crystals, asset_dir)
    return {**metrics, "model_sha256": sha}
