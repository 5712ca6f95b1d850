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
import hashlib
import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from models.data.descriptor_spec import DOS_BINS, DOS_STEP, normalize_dos
from models.data.descriptors.predictor.features import MAX_Z, CrystalGraph, crystal_graph
from models.data.descriptors.predictor.metrics import site_errors, summarize
from models.data.descriptors.predictor.model import DescriptorNet, GraphBatch, ModelConfig, collate

ASSET_DIR = Path(__file__).resolve().parents[1] / "predictor_assets"
WEIGHTS_FILE = "model.pt"


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
        check_site_order(rec, symbols)
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


def _evaluate(
    model: DescriptorNet, crystals: list[LabelledCrystal], base_q: np.ndarray, base_d: np.ndarray
) -> dict:
    """Model and baseline metrics on ``crystals``."""
    if not crystals:
        return {"n_crystals": 0, "n_sites": 0}
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
    return {
        "n_crystals": len(crystals),
        "n_sites": len(symbols),
        "model": summarize(symbols, model_err, len(crystals)),
        "baseline": summarize(symbols, base_err, len(crystals)),
    }


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
    crystals: list[LabelledCrystal], config: TrainConfig | None = None, log: list[dict] | None = None
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
    base_q, base_d, seen = element_baseline(train)
    model = DescriptorNet(cfg.model, base_q, base_d)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    monitor = val or train  # no val crystals yet: fall back to the training loss (stated in metrics)
    best = (_val_loss(model, monitor, cfg.emd_weight), 0)
    best_state = {k: v.clone() for k, v in model.state_dict().items()}
    t0 = time.perf_counter()
    epoch = 0
    for epoch in range(1, cfg.max_epochs + 1):
        model.train()
        tot = 0.0
        for batch in _batches(train, cfg.batch_size, rng):
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
                    "train_loss": tot / len(train),
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
        "early_stopping_on": "val" if val else "train (no val crystals labelled)",
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
    sha = hashlib.sha256(weights.read_bytes()).hexdigest()
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
        "| split | crystals | sites | charge MAE (e) model / baseline | DOS cosine model / baseline | DOS EMD (eV) model / baseline |",
        "|---|---|---|---|---|---|",
    ]
    for name, s in metrics["splits"].items():
        if not s.get("n_crystals"):
            lines.append(f"| {name} | 0 | 0 | – | – | – |")
            continue
        m, b = s["model"], s["baseline"]
        lines.append(
            f"| {name} | {m['n_crystals']} | {m['n_sites']} | {_fmt(m['charge_mae_e'])} / {_fmt(b['charge_mae_e'])} | "
            f"{_fmt(m['dos_cosine_mean'])} / {_fmt(b['dos_cosine_mean'])} | {_fmt(m['dos_emd_ev_mean'])} / {_fmt(b['dos_emd_ev_mean'])} |"
        )
    for split in ("val", "test"):
        s = metrics["splits"].get(split, {})
        if not s.get("n_crystals"):
            continue
        lines += [
            "",
            f"## {split}, per element",
            "",
            "| element | sites | charge MAE model / baseline | DOS cosine model / baseline | DOS EMD model / baseline |",
            "|---|---|---|---|---|",
        ]
        for el, m in s["model"]["by_element"].items():
            b = s["baseline"]["by_element"][el]
            lines.append(
                f"| {el} | {m['n_sites']} | {_fmt(m['charge_mae_e'])} / {_fmt(b['charge_mae_e'])} | "
                f"{_fmt(m['dos_cosine_mean'])} / {_fmt(b['dos_cosine_mean'])} | {_fmt(m['dos_emd_ev_mean'])} / {_fmt(b['dos_emd_ev_mean'])} |"
            )
    return "\n".join(lines) + "\n"


def train_and_save(
    asset_dir: Path = ASSET_DIR,
    config: TrainConfig | None = None,
    crystals: list[LabelledCrystal] | None = None,
) -> dict:
    """The ``train`` command: DFT-labelled crystals → fitted model → assets. Returns the metrics."""
    cfg = config or TrainConfig()
    t0 = time.perf_counter()
    crystals = labelled_from_dft() if crystals is None else crystals
    prep = time.perf_counter() - t0
    log: list[dict] = []
    model, metrics = fit(crystals, cfg, log)
    metrics["prepare_seconds"] = prep
    sha = save_assets(model, metrics, cfg, log, crystals, asset_dir)
    return {**metrics, "model_sha256": sha}
