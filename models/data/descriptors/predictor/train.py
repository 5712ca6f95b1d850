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

import csv
import json
import time
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from models.data.descriptor_spec import DOS_BINS, DOS_STEP, normalize_dos
from models.data.descriptors.predictor.features import MAX_Z, CrystalGraph, crystal_graph
from models.data.descriptors.predictor.metrics import site_errors, summarize
from models.data.descriptors.predictor.model import DescriptorNet, GraphBatch, ModelConfig, collate
from models.hashing import sha256_file

ASSET_DIR = Path(__file__).resolve().parents[1] / "predictor_assets"
WEIGHTS_FILE = "model.pt"
CV_BELOW = 200


@dataclass
class LabelledCrystal:
    """One crystal with per-site targets, sites in corpus order."""

    material_id: str
    split: str
    symbols: list[str]
    graph: CrystalGraph
    charges: np.ndarray  # (n,)
    dos: np.ndarray  # (n, DOS_BINS), normalized per descriptor_spec


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


def labelled_from_dft(results_dir: Path | None = None) -> list[LabelledCrystal]:
    """Every DFT-labelled crystal joined with its corpus structure and split (site order checked)."""
    from models.data.corpus import load_corpus
    from models.data.descriptors.store import RESULTS_DIR, check_site_order, load_dft_descriptors

    records = load_dft_descriptors(results_dir or RESULTS_DIR)
    if not records:
        return []
    entries = load_corpus(descriptors="none", material_ids=records)
    out = []
    for e in entries:
        rec = records[e.material_id]
        symbols = [site.specie.symbol for site in e.structure]
        try:
            check_site_order(rec, symbols)
        except ValueError as exc:  # a record that does not match its corpus structure is unusable
            warnings.warn(f"skipping DFT record: {exc}", stacklevel=2)
            continue
        out.append(
            LabelledCrystal(
                e.material_id,
                e.split,
                symbols,
                crystal_graph(e.structure),
                rec.charges,
                normalize_dos(rec.dos),
            )
        )
    return sorted(out, key=lambda c: c.material_id)


def element_baseline(train: list[LabelledCrystal]) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Per-Z mean charge (MAX_Z+1,) and mean DOS (MAX_Z+1, K) over training sites; unseen → fallback."""
    z = np.concatenate([c.graph.z for c in train])
    q = np.concatenate([c.charges for c in train])
    d = np.concatenate([c.dos for c in train])
    base_q = np.zeros(MAX_Z + 1)
    base_d = np.tile(d.mean(0), (MAX_Z + 1, 1))
    for el in np.unique(z):
        m = z == el
        base_q[el] = q[m].mean()
        base_d[el] = d[m].mean(0)
    seen = sorted({s for c in train for s in c.symbols})
    return base_q, normalize_dos(base_d), seen


def oxidation_baseline(train: list[LabelledCrystal], base_q: np.ndarray) -> tuple[np.ndarray, float]:
    """Per-Z mean formal oxidation state (MAX_Z+1,) and the least-squares slope of charge residual
    (charge − element mean) on oxidation-state residual over the training sites."""
    z = np.concatenate([c.graph.z for c in train])
    q = np.concatenate([c.charges for c in train])
    ox = np.concatenate([c.graph.oxidation for c in train]).astype(np.float64)
    base_o = np.zeros(MAX_Z + 1)
    for el in np.unique(z):
        base_o[el] = ox[z == el].mean()
    dx, dy = ox - base_o[z], q - base_q[z]
    denom = float((dx**2).sum())
    return base_o, (float((dx * dy).sum()) / denom if denom > 1e-9 else 0.0)


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


@torch.no_grad()
def predict_batch(model: DescriptorNet, graphs: list[CrystalGraph]) -> list[tuple[np.ndarray, np.ndarray]]:
    """[(charges (n,), dos (n, K))] per graph, float64."""
    model.eval()
    q, dos, _ = model(collate(graphs))
    out, k = [], 0
    for g in graphs:
        out.append((q[k : k + g.n_sites].double().numpy(), dos[k : k + g.n_sites].double().numpy()))
        k += g.n_sites
    return out


def _site_errors(
    model: DescriptorNet, crystals: list[LabelledCrystal], base_q: np.ndarray, base_d: np.ndarray
) -> tuple[list[str], dict[str, np.ndarray], dict[str, np.ndarray]]:
    """(site symbols, model errors, baseline errors) on ``crystals``."""
    preds = [
        p
        for k in range(0, len(crystals), 64)
        for p in predict_batch(model, [c.graph for c in crystals[k : k + 64]])
    ]
    symbols = [s for c in crystals for s in c.symbols]
    z = np.concatenate([c.graph.z for c in crystals])
    ref_q = np.concatenate([c.charges for c in crystals])
    ref_d = np.concatenate([c.dos for c in crystals])
    model_err = site_errors(
        np.concatenate([p[0] for p in preds]), np.concatenate([p[1] for p in preds]), ref_q, ref_d
    )
    base_err = site_errors(base_q[z], base_d[z], ref_q, ref_d)
    # The same baseline made neutral per crystal: separates what the net learns from what the
    # neutrality constraint alone buys.
    neutral_q = np.concatenate([base_q[c.graph.z] - base_q[c.graph.z].mean() for c in crystals])
    base_err["charge_abs_error_neutral"] = np.abs(neutral_q - ref_q)
    return symbols, model_err, base_err


def _report(symbols: list[str], model_err: dict, base_err: dict, n_crystals: int) -> dict:
    return {
        "n_crystals": n_crystals,
        "n_sites": len(symbols),
        "model": summarize(symbols, model_err, n_crystals),
        "baseline": summarize(symbols, base_err, n_crystals),
    }


def _evaluate(
    model: DescriptorNet, crystals: list[LabelledCrystal], base_q: np.ndarray, base_d: np.ndarray
) -> dict:
    """Model and baseline metrics on ``crystals``."""
    if not crystals:
        return {"n_crystals": 0, "n_sites": 0}
    return _report(*_site_errors(model, crystals, base_q, base_d), len(crystals))


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
        sym, me, be = _site_errors(model, fold_test, base_q, base_d)
        symbols += sym
        for key in me:
            m_err.setdefault(key, []).append(me[key])
        for key in be:
            b_err.setdefault(key, []).append(be[key])
    cat = {k: np.concatenate(v) for k, v in m_err.items()}
    bcat = {k: np.concatenate(v) for k, v in b_err.items()}
    return {"folds": folds, **_report(symbols, cat, bcat, len(train))}


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
            name: _evaluate(model, part, base_q, base_d)
            for name, part in (("train", train), ("val", val), ("test", test))
        },
    }
    return model, metrics


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
