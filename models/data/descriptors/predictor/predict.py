"""Use the shipped predictor: one structure (evaluation of generated crystals) or the whole corpus.

``predict_descriptors(structure)`` loads the shipped weights once per process and returns float64
``(charges (n,), dos (n, DOS_BINS))`` in the descriptor_spec convention — the callable
``models.evaluate.descriptor_accuracy`` expects (``--descriptor-predictor
models.data.descriptors.predictor:predict_descriptors``).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
from pymatgen.core import Structure

from models.data.descriptors.predictor.assets import ASSET_DIR, WEIGHTS_FILE
from models.data.descriptors.predictor.features import crystal_graph
from models.data.descriptors.predictor.model import DescriptorNet, ModelConfig, predict_batch


@lru_cache(maxsize=4)
def load_model(asset_dir: Path = ASSET_DIR) -> tuple[DescriptorNet, str]:
    """(model in eval mode, SHA-256 of the weights file)."""
    path = Path(asset_dir) / WEIGHTS_FILE
    if not path.exists():
        raise FileNotFoundError(
            f"no descriptor-predictor weights at {path}; train them with `python -m models.data.descriptors.predictor train`"
        )
    blob = path.read_bytes()
    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    # weights saved before the oxidation-state input existed were trained without it
    model = DescriptorNet(ModelConfig(**{"use_oxidation": False, **ckpt["model_config"]}))
    # older weights lack the oxidation-state terms; their neutral values (zeros) come from the model
    state = {
        **{k: v for k, v in model.state_dict().items() if k in ("base_oxi", "oxi_slope")},
        **ckpt["state_dict"],
    }
    model.load_state_dict(state)
    model.eval()
    return model, hashlib.sha256(blob).hexdigest()


def predict_descriptors(structure: Structure) -> tuple[np.ndarray, np.ndarray]:
    """(charges (n,) in e, summing to 0; dos (n, DOS_BINS), each row integrating to DOS_NORM)."""
    model, _ = load_model()
    return predict_batch(model, [crystal_graph(structure)])[0]


def predict_many(
    structures: list[Structure], asset_dir: Path = ASSET_DIR, chunk: int = 128
) -> list[tuple[np.ndarray, np.ndarray]]:
    model, _ = load_model(asset_dir)
    out: list[tuple[np.ndarray, np.ndarray]] = []
    for k in range(0, len(structures), chunk):
        out += predict_batch(model, [crystal_graph(s) for s in structures[k : k + chunk]])
    return out


def label_corpus(
    asset_dir: Path = ASSET_DIR,
    out_path: Path | None = None,
    limit: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> dict:
    """Predict descriptors for every corpus crystal without DFT descriptors; write the predicted store."""
    from models.data.corpus import load_corpus
    from models.data.descriptors.predicted_store import PREDICTED_FILE, write_predicted
    from models.data.descriptors.store import load_dft_descriptors

    t0 = time.perf_counter()
    model, sha = load_model(asset_dir)
    dft = load_dft_descriptors()
    entries = [e for e in load_corpus(descriptors="none", limit=limit) if e.material_id not in dft]
    ids: list[str] = []
    zs: list[np.ndarray] = []
    charges: list[np.ndarray] = []
    dos: list[np.ndarray] = []
    chunk = 128
    for k in range(0, len(entries), chunk):
        part = entries[k : k + chunk]
        graphs = [crystal_graph(e.structure) for e in part]
        for e, g, (q, d) in zip(part, graphs, predict_batch(model, graphs), strict=True):
            ids.append(e.material_id)
            zs.append(g.z)
            charges.append(q)
            dos.append(d)
        if progress:
            progress(min(k + chunk, len(entries)), len(entries))
    path = write_predicted(ids, zs, charges, dos, sha, out_path or PREDICTED_FILE)
    return {
        "n_labelled": len(ids),
        "n_sites": int(sum(len(q) for q in charges)),
        "n_skipped_dft": len(dft),
        "model_sha256": sha,
        "path": str(path),
        "bytes": path.stat().st_size,
        "seconds": time.perf_counter() - t0,
    }
