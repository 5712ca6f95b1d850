"""Turn corpus crystals into cached tensors, and compute the training-set statistics the model keeps.

Why a cache: Niggli reduction and tensor conversion of ~15k pymatgen structures take a minute; the
result (keyed by the corpus checksum and the selected rows) is stored under ``.cache/diffusion``.
Descriptors are *not* cached: the DFT/predicted stores grow between runs, so they are attached fresh.
"""

from __future__ import annotations

import hashlib
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
        tmp = path.with_suffix(".tmp")
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


def compute_stats(items: list[dict], channels: str) -> dict:
    """Statistics the model needs at train and sample time (stored in every checkpoint)."""
    n = np.array([int(it["atom_types"].shape[0]) for it in items])
    vols = np.array([float(torch.det(it["lattice"].double()).abs()) for it in items])
    counts = np.bincount(n, minlength=MAX_ATOMS + 1)[: MAX_ATOMS + 1]
    elem = np.zeros(NUM_ELEMENTS, dtype=np.int64)
    for it in items:
        np.add.at(elem, it["atom_types"].numpy(), 1)
    dim = descriptor_dim(channels)
    rows = [m for m in (_raw_descriptor_matrix(it, channels) for it in items) if m is not None] if dim else []
    if rows:
        allrows = np.concatenate(rows, 0)
        mean = allrows.mean(0)
        std = np.maximum(allrows.std(0), 1e-3)
    else:
        mean, std = np.zeros(dim), np.ones(dim)
    return {
        "volume_per_atom": float((vols / n).mean()),
        "num_atoms_counts": counts.tolist(),
        "element_counts": elem.tolist(),
        "descriptor_channels": channels,
        "descriptor_mean": mean.tolist(),
        "descriptor_std": std.tolist(),
        "descriptor_sites": int(sum(r.shape[0] for r in rows)),
        "num_crystals": len(items),
        "descriptor_provenance": descriptor_provenance(items) if dim else None,
    }


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
    mean = np.asarray(stats["descriptor_mean"], dtype=np.float64)
    std = np.asarray(stats["descriptor_std"], dtype=np.float64)
    for it in items:
        n = int(it["atom_types"].shape[0])
        raw = _raw_descriptor_matrix(it, channels) if dim else None
        if raw is None:
            it["descriptors"] = torch.zeros(n, dim)
            it["descriptor_mask"] = torch.zeros(n, dtype=torch.bool)
        else:
            it["descriptors"] = torch.tensor((raw - mean) / std, dtype=torch.float32)
            it["descriptor_mask"] = torch.ones(n, dtype=torch.bool)
    return items
