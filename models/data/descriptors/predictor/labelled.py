"""DFT-labelled corpus crystals as training examples, and the per-element baselines every metric is
reported against (per-element mean charge / mean DOS of the training sites; elements absent from
training fall back to charge 0 and the mean DOS of all training sites)."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from models.data.descriptor_spec import normalize_dos
from models.data.descriptors.predictor.features import MAX_Z, CrystalGraph, crystal_graph


@dataclass
class LabelledCrystal:
    """One crystal with per-site targets, sites in corpus order."""

    material_id: str
    split: str
    symbols: list[str]
    graph: CrystalGraph
    charges: np.ndarray  # (n,)
    dos: np.ndarray  # (n, DOS_BINS), normalized per descriptor_spec


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
