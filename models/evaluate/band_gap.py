"""Independent band-gap predictor used only to *score* generated crystals (never for guidance).

Two LightGBM models on :mod:`models.evaluate.band_gap_features`: a classifier for metal vs non-metal
(MP gap < ``METAL_GAP`` eV counts as metal) and a regressor for the gap of non-metals. The prediction
is 0 when the classifier says metal, else the regressor's value (clipped at 0). Gradient-boosted
trees on ~120 tabular features train in about a minute on one core, need no GPU and no downloaded
data, and serialise to plain text that loads with any LightGBM version.

It is trained on the corpus' MP band gaps of the **train split only** (early stopping on val) and
reports its MAE and metal/non-metal accuracy on the test split. ``python -m models.evaluate.band_gap
train`` rebuilds ``assets/band_gap/`` (models, feature list, metrics, training log).
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import platform
import sys
import time
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
from pymatgen.core import Structure

from models.evaluate.band_gap_features import feature_names, featurize

ASSET_DIR = Path(__file__).resolve().parent / "assets" / "band_gap"
CACHE_DIR = Path(__file__).resolve().parents[2] / ".cache" / "evaluate"
METAL_GAP = 0.1  # eV
SEED = 0


@dataclass
class BandGapPredictor:
    classifier: object  # lightgbm.Booster
    regressor: object  # lightgbm.Booster

    def predict_features(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(gap in eV, probability of being a metal) for a feature matrix."""
        p_metal = np.asarray(self.classifier.predict(x), dtype=float)
        gap = np.clip(np.asarray(self.regressor.predict(x), dtype=float), 0.0, None)
        return np.where(p_metal >= 0.5, 0.0, gap), p_metal

    def predict(self, structures: list[Structure]) -> np.ndarray:
        return self.predict_features(featurize(structures))[0]

    def predict_one(self, structure: Structure) -> float:
        return float(self.predict([structure])[0])


def _load_booster(path: Path):
    import lightgbm as lgb

    with gzip.open(path, "rt") as fh:
        return lgb.Booster(model_str=fh.read())


@lru_cache(maxsize=1)
def load_predictor(asset_dir: Path = ASSET_DIR) -> BandGapPredictor:
    """Load the shipped models; fails loudly if they were not trained or the feature set changed."""
    meta_path = asset_dir / "features.json"
    if not meta_path.exists():
        raise FileNotFoundError(f"{meta_path} missing: train with `python -m models.evaluate.band_gap train`")
    meta = json.loads(meta_path.read_text())
    if meta["feature_names"] != feature_names():
        raise RuntimeError("shipped band-gap model was trained on a different feature set; retrain it")
    return BandGapPredictor(
        classifier=_load_booster(asset_dir / "classifier.txt.gz"),
        regressor=_load_booster(asset_dir / "regressor.txt.gz"),
    )


def _save_booster(booster, path: Path) -> None:
    with gzip.open(path, "wt", compresslevel=9) as fh:
        fh.write(booster.model_to_string())


def metrics(y_true: np.ndarray, y_pred: np.ndarray, p_metal: np.ndarray) -> dict:
    metal_true = y_true < METAL_GAP
    metal_pred = p_metal >= 0.5
    nonmetal = ~metal_true
    return {
        "n": int(len(y_true)),
        "mae_ev": float(np.mean(np.abs(y_pred - y_true))),
        "rmse_ev": float(np.sqrt(np.mean((y_pred - y_true) ** 2))),
        "mae_nonmetals_ev": float(np.mean(np.abs(y_pred[nonmetal] - y_true[nonmetal])))
        if nonmetal.any()
        else None,
        "metal_accuracy": float(np.mean(metal_true == metal_pred)),
        "metal_fraction_true": float(metal_true.mean()),
        "baseline_mae_predict_train_mean_ev": None,
    }


def _featurized_splits(corpus_key: str, log=print) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Features and MP gaps per split, cached under .cache/ keyed by corpus checksum and feature set."""
    from models.data.corpus import load_corpus

    names_key = hashlib.sha256(" ".join(feature_names()).encode()).hexdigest()[:8]
    cache = CACHE_DIR / f"band-gap-features-{corpus_key[:16]}-{names_key}.npz"
    if cache.exists():
        z = np.load(cache)
        return {s: (z[f"{s}_x"], z[f"{s}_y"]) for s in ("train", "val", "test")}
    data = {}
    for split in ("train", "val", "test"):
        entries = [e for e in load_corpus(split=split, descriptors="none") if e.band_gap is not None]
        data[split] = (
            featurize([e.structure for e in entries]),
            np.array([e.band_gap for e in entries], dtype=float),
        )
        log(f"featurized {split}: {data[split][0].shape}")
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(
        cache, **{f"{s}_{k}": v for s, (x, y) in data.items() for k, v in (("x", x), ("y", y))}
    )
    return data


def train(out_dir: Path = ASSET_DIR, log=print) -> dict:
    import lightgbm as lgb

    from models.data.corpus import corpus_sha256

    t0 = time.time()
    data = _featurized_splits(corpus_sha256(), log)
    log(f"features ready in {time.time() - t0:.0f} s")
    (xtr, ytr), (xva, yva) = data["train"], data["val"]
    names = feature_names()
    common = {
        "feature_fraction": 0.7,
        "bagging_fraction": 0.8,
        "bagging_freq": 1,
        "lambda_l2": 1.0,
        "min_data_in_leaf": 10,
        "num_threads": 1,
        "seed": SEED,
        "deterministic": True,
        "verbose": -1,
    }
    # Settings picked on the val split (non-metal L1: huber 0.423, L2 0.441, L1 0.456 eV); the
    # Huber loss keeps the robustness of L1 to the few huge-gap outliers but converges in ~1.4k trees.
    clf_params = {
        **common,
        "objective": "binary",
        "metric": "binary_error",
        "learning_rate": 0.03,
        "num_leaves": 63,
    }
    reg_params = {
        **common,
        "objective": "huber",
        "alpha": 1.0,
        "metric": "l1",
        "learning_rate": 0.05,
        "num_leaves": 31,
    }
    evals: dict = {}
    t1 = time.time()
    clf = lgb.train(
        clf_params,
        lgb.Dataset(xtr, (ytr < METAL_GAP).astype(int), feature_name=names),
        num_boost_round=3000,
        valid_sets=[lgb.Dataset(xva, (yva < METAL_GAP).astype(int), feature_name=names)],
        valid_names=["val"],
        callbacks=[lgb.early_stopping(100, verbose=False), lgb.record_evaluation(evals)],
    )
    log(
        f"classifier: best_iteration={clf.best_iteration} val_error={min(evals['val']['binary_error']):.4f} ({time.time() - t1:.0f} s)"
    )
    gtr, gva = ytr >= METAL_GAP, yva >= METAL_GAP
    t1 = time.time()
    evals_r: dict = {}
    reg = lgb.train(
        reg_params,
        lgb.Dataset(xtr[gtr], ytr[gtr], feature_name=names),
        num_boost_round=4000,
        valid_sets=[lgb.Dataset(xva[gva], yva[gva], feature_name=names)],
        valid_names=["val"],
        callbacks=[lgb.early_stopping(150, verbose=False), lgb.record_evaluation(evals_r)],
    )
    log(
        f"regressor (non-metals): best_iteration={reg.best_iteration} val_l1={min(evals_r['val']['l1']):.4f} ({time.time() - t1:.0f} s)"
    )
    # Keep only the trees up to early stopping so the shipped text models are exactly what was validated.
    clf = lgb.Booster(model_str=clf.model_to_string(num_iteration=clf.best_iteration))
    reg = lgb.Booster(model_str=reg.model_to_string(num_iteration=reg.best_iteration))
    pred = BandGapPredictor(clf, reg)
    result = {}
    for split, (x, y) in data.items():
        yp, pm = pred.predict_features(x)
        m = metrics(y, yp, pm)
        m["baseline_mae_predict_train_mean_ev"] = float(np.mean(np.abs(y - ytr.mean())))
        result[split] = m
        log(
            f"{split}: MAE {m['mae_ev']:.3f} eV, non-metal MAE {m['mae_nonmetals_ev']:.3f} eV, metal/non-metal accuracy {m['metal_accuracy']:.3f} (n={m['n']}; baseline MAE {m['baseline_mae_predict_train_mean_ev']:.3f})"
        )
    out_dir.mkdir(parents=True, exist_ok=True)
    _save_booster(clf, out_dir / "classifier.txt.gz")
    _save_booster(reg, out_dir / "regressor.txt.gz")
    (out_dir / "features.json").write_text(
        json.dumps({"feature_names": names, "metal_gap_ev": METAL_GAP}, indent=1)
    )
    import lightgbm

    summary = {
        "model": "LightGBM metal classifier + non-metal gap regressor (Huber loss)",
        "trained_on": "corpus split=train, MP band gaps; early stopping on split=val; test never seen",
        "corpus_sha256": corpus_sha256(),
        "metal_definition": f"MP band gap < {METAL_GAP} eV",
        "classifier_trees": clf.num_trees(),
        "regressor_trees": reg.num_trees(),
        "classifier_params": clf_params,
        "regressor_params": reg_params,
        "metrics": result,
        "train_seconds_total": round(time.time() - t0, 1),
        "lightgbm": lightgbm.__version__,
        "python": platform.python_version(),
        "used_for_guidance": False,
    }
    (out_dir / "metrics.json").write_text(json.dumps(summary, indent=2))
    load_predictor.cache_clear()
    return summary


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m models.evaluate.band_gap", description=__doc__)
    ap.add_argument("command", choices=["train", "metrics"])
    args = ap.parse_args(argv)
    if args.command == "train":
        ASSET_DIR.mkdir(parents=True, exist_ok=True)
        log_path = ASSET_DIR / "training_log.txt"
        with log_path.open("w") as fh:

            def log(msg: str) -> None:
                line = f"[{time.strftime('%H:%M:%S')}] {msg}"
                print(line, flush=True)
                fh.write(line + "\n")
                fh.flush()

            summary = train(log=log)
        json.dump(summary["metrics"], sys.stdout, indent=2)
        print()
    else:
        print((ASSET_DIR / "metrics.json").read_text())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
