"""Turn corpus crystals into cached tensors, and compute the training-set statistics the model keeps.

Why a cache: Niggli reduction and tensor conversion of ~15k pymatgen structures take a minute; the
result (keyed by the corpus checksum and the selected rows) is stored under ``.cache/diffusion``.
Descriptors are *not* cached: the DFT/predicted stores grow between runs, so they are attached fresh.
"""

from __future__ import annotations

import hashlib
import os
import warnings
from pathlib import Path

import numpy as np
import torch

from models.data.descriptor_spec import DOS_BINS
from models.diffusion.batch import NUM_ELEMENTS
from models.diffusion.descriptors import descriptor_dim, select_channels
from models.diffusion.lattice import canonical_lattice

CACHE_DIR = Path(__file__).resolve().parents[2] / ".cache" / "diffusion"
CACHE_VERSION = "v1"
MAX_ATOMS = 64


def structure_tensors(structure) -> dict[str, torch.Tensor]:
    """Atom classes, fractional coordinates and canonical lattice of a (Niggli-reduced) structure."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reduced = structure.get_reduced_structure()
    z = np.array([site.specie.Z for site in reduced], dtype=np.int64)
    if z.tolist() != [site.specie.Z for site in structure]:
        # per-site descriptors are keyed by site index, so the reduction must not reorder sites
        raise ValueError("lattice reduction reordered the sites")
    if z.min() < 1 or z.max() > NUM_ELEMENTS:
        raise ValueError(f"element outside Z = 1..{NUM_ELEMENTS} in {reduced.composition}")
    lattice = torch.tensor(reduced.lattice.matrix, dtype=torch.float64)
    return {
        "atom_types": torch.from_numpy(z - 1),
        "frac_coords": torch.tensor(np.mod(reduced.frac_coords, 1.0), dtype=torch.float32),
        "lattice": canonical_lattice(lattice[None])[0].to(torch.float32),
    }


def _cache_key(split: str | None, limit: int | None, ids: list[str]) -> str:
    from models.data.corpus import corpus_sha256

    h = hashlib.sha256()
    h.update(f"{CACHE_VERSION}|{corpus_sha256()}|{split}|{limit}|".encode())
    h.update("\n".join(ids).encode())
    return h.hexdigest()[:20]


def load_crystals(split: str | None, descriptors: str = "none", limit: int | None = None) -> list[dict]:
    """Corpus crystals of ``split`` as tensor dicts with labels and raw (unstandardized) descriptors."""
    from models.data.corpus import load_corpus

    entries = load_corpus(split=split, descriptors=descriptors, limit=limit)  # type: ignore[arg-type]
    ids = [e.material_id for e in entries]
    path = CACHE_DIR / f"crystals-{_cache_key(split, limit, ids)}.pt"
    cached: dict[str, dict] | None = None
    if path.exists():
        cached = torch.load(path, weights_only=False)
    if cached is None:
        cached = {e.material_id: structure_tensors(e.structure) for e in entries}
        CACHE_DIR.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")  # concurrent trainers share the cache
        torch.save(cached, tmp)
        tmp.replace(path)
    items = []
    for e in entries:
        item = dict(cached[e.material_id])
        item["material_id"] = e.material_id
        item["band_gap"] = 0.0 if e.band_gap is None else float(e.band_gap)
        item["band_gap_mask"] = e.band_gap is not None
        fe = e.formation_energy_per_atom
        item["formation_energy"] = 0.0 if fe is None else float(fe)
        item["formation_energy_mask"] = fe is not None
        item["raw_charges"] = None if e.charges is None else np.asarray(e.charges, dtype=np.float64)
        item["raw_dos"] = None if e.dos is None else np.asarray(e.dos, dtype=np.float64).reshape(-1, DOS_BINS)
        item["descriptor_source"] = None if e.descriptor_source is None else str(e.descriptor_source[0])
        items.append(item)
    return items


def _raw_descriptor_matrix(item: dict, channels: str) -> np.ndarray | None:
    n = int(item["atom_types"].shape[0])
    if item["raw_charges"] is None or item["raw_dos"] is None:
        return None
    if len(item["raw_charges"]) != n or item["raw_dos"].shape[0] != n:
        raise ValueError(f"descriptor/site count mismatch for {item['material_id']}")
    return select_channels(item["raw_charges"], item["raw_dos"], channels)


# An element's spread is shrunk toward the pooled within-element spread with this many pseudo-sites, so an
# element seen at a handful of sites does not get a spread of ~0 (which would blow its values up).
ELEMENT_PRIOR_SITES = 20.0
# Lower bound of a per-element spread, as a fraction of the pooled within-element spread: DOS bins an
# element never occupies have ~0 variance, and dividing by it would amplify label noise into huge values.
MIN_STD_FRACTION = 0.05


def per_element_descriptor_stats(
    types: np.ndarray, raw: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Global (D,) and per-element (NUM_ELEMENTS, D) mean and spread of descriptor rows ``raw`` whose
    sites have element classes ``types``.

    The per-element mean is the element's own (not shrunk): any pull toward the global mean would leave
    an element-specific offset, i.e. a fingerprint, in the standardized values. Only the spread is
    shrunk, toward the pooled within-element spread (not the global one, which holds the between-element
    differences). Elements without sites get the global statistics; they are never standardized.
    """
    mean = raw.mean(0)
    std = np.maximum(raw.std(0), 1e-3)
    counts = np.bincount(types, minlength=NUM_ELEMENTS).astype(np.float64)[:, None]
    sums = np.zeros((NUM_ELEMENTS, raw.shape[1]))
    squares = np.zeros_like(sums)
    np.add.at(sums, types, raw)
    np.add.at(squares, types, raw**2)
    seen = counts > 0
    el_mean = np.where(seen, sums / np.maximum(counts, 1.0), mean)
    el_var = np.where(seen, np.maximum(squares / np.maximum(counts, 1.0) - el_mean**2, 0.0), 0.0)
    pooled = (counts * el_var).sum(0) / counts.sum()
    k = ELEMENT_PRIOR_SITES
    el_std = np.sqrt((counts * el_var + k * pooled) / (counts + k))
    el_std = np.where(seen, el_std, std)
    el_std = np.maximum(el_std, np.maximum(MIN_STD_FRACTION * np.sqrt(pooled), 1e-3))
    return mean, std, el_mean, el_std


def compute_stats(items: list[dict], channels: str) -> dict:
    """Statistics the model needs at train and sample time (stored in every checkpoint)."""
    n = np.array([int(it["atom_types"].shape[0]) for it in items])
    vols = np.array([float(torch.det(it["lattice"].double()).abs()) for it in items])
    counts = np.bincount(n, minlength=MAX_ATOMS + 1)[: MAX_ATOMS + 1]
    elem = np.zeros(NUM_ELEMENTS, dtype=np.int64)
    for it in items:
        np.add.at(elem, it["atom_types"].numpy(), 1)
    dim = descriptor_dim(channels)
    with_desc = [(it, m) for it in items if dim for m in [_raw_descriptor_matrix(it, channels)] if m is not None]
    if with_desc:
        types = np.concatenate([it["atom_types"].numpy() for it, _ in with_desc])
        mean, std, el_mean, el_std = per_element_descriptor_stats(types, np.concatenate([m for _, m in with_desc]))
    else:
        mean, std = np.zeros(dim), np.ones(dim)
        el_mean, el_std = np.tile(mean, (NUM_ELEMENTS, 1)), np.tile(std, (NUM_ELEMENTS, 1))
    return {
        "volume_per_atom": float((vols / n).mean()),
        "num_atoms_counts": counts.tolist(),
        "element_counts": elem.tolist(),
        "descriptor_channels": channels,
        "descriptor_standardization": "per_element",
        "descriptor_mean": mean.tolist(),
        "descriptor_std": std.tolist(),
        "descriptor_mean_by_element": el_mean.tolist(),
        "descriptor_std_by_element": el_std.tolist(),
        "descriptor_sites": int(sum(m.shape[0] for _, m in with_desc)),
        "num_crystals": len(items),
        "descriptor_provenance": descriptor_provenance(items) if dim else None,
    }


def standardization_tables(stats: dict) -> tuple[np.ndarray, np.ndarray]:
    """The (NUM_ELEMENTS, D) mean and spread tables the descriptors are standardized with; checkpoints
    from before per-element standardization carry one global row, used for every element."""
    if stats.get("descriptor_standardization") == "per_element":
        return np.asarray(stats["descriptor_mean_by_element"]), np.asarray(stats["descriptor_std_by_element"])
    mean, std = np.asarray(stats["descriptor_mean"]), np.asarray(stats["descriptor_std"])
    return np.tile(mean, (NUM_ELEMENTS, 1)), np.tile(std, (NUM_ELEMENTS, 1))


def descriptor_provenance(items: list[dict]) -> dict:
    """Where the training descriptors came from, frozen into the checkpoint's stats: how many crystals
    carry DFT vs predicted vs dummy descriptors and which predicted store (and predictor weights) made
    the predicted ones, so a shipped variant says exactly which labels it learned."""
    from collections import Counter

    counts = Counter(str(it.get("descriptor_source")) for it in items)
    out: dict = {"crystals_by_source": dict(sorted(counts.items()))}
    if counts.get("predicted"):
        import hashlib

        from models.data.descriptors.predicted_store import PREDICTED_FILE

        blob = PREDICTED_FILE.read_bytes()
        with np.load(PREDICTED_FILE, allow_pickle=False) as z:
            out["predicted_store_sha256"] = hashlib.sha256(blob).hexdigest()
            out["predictor_sha256"] = str(z["model_sha256"])
            out["predicted_store_created_utc"] = str(z["created_utc"])
    return out


def attach_descriptors(items: list[dict], channels: str, stats: dict) -> list[dict]:
    """Add standardized ``descriptors`` (n, D) and the per-site ``descriptor_mask`` to every item."""
    dim = descriptor_dim(channels)
    mean, std = standardization_tables(stats) if dim else (None, None)
    for it in items:
        n = int(it["atom_types"].shape[0])
        raw = _raw_descriptor_matrix(it, channels) if dim else None
        if raw is None:
            it["descriptors"] = torch.zeros(n, dim)
            it["descriptor_mask"] = torch.zeros(n, dtype=torch.bool)
        else:
            types = it["atom_types"].numpy()
            it["descriptors"] = torch.tensor((raw - mean[types]) / std[types], dtype=torch.float32)
            it["descriptor_mask"] = torch.ones(n, dtype=torch.bool)
    return items
