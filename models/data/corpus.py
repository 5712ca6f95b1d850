"""Load the project's crystal corpus: structures, MP labels and per-site electronic descriptors.

The table itself is ``models/data/corpus/corpus.csv.gz`` (built by ``models.data.build_corpus``;
provenance in ``models/data/corpus/manifest.json``). Descriptors come from three producers, chosen per
crystal in this order of trust:

1. ``dft``       — the GPAW + Bader reference path (``models.data.descriptors.store``);
2. ``predicted`` — the per-site descriptor predictor trained on the DFT-labelled crystals;
3. ``dummy``     — random values of the same shape, only when explicitly asked for (the control).

Every site carries its source, so a training run or a user can tell measured from predicted values.
"""

from __future__ import annotations

import os
import pickle
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
from pymatgen.core import Structure

from models.data.build_corpus import CORPUS_FILE, MANIFEST_FILE
from models.data.descriptors.predicted_store import load_predicted_descriptors
from models.data.descriptors.store import load_dft_descriptors
from models.hashing import sha256_file

Split = Literal["train", "val", "test"]
DescriptorMode = Literal["auto", "dft", "none", "dummy"]

CACHE_DIR = Path(__file__).resolve().parents[2] / ".cache" / "corpus"


@dataclass
class CorpusEntry:
    """One corpus crystal with its labels and (optional) per-site descriptors."""

    material_id: str
    source: str
    structure: Structure
    band_gap: float | None
    formation_energy_per_atom: float | None
    e_above_hull: float | None
    spacegroup: int | None
    split: str
    charges: np.ndarray | None = None
    dos: np.ndarray | None = None
    descriptor_source: np.ndarray | None = None

    @property
    def n_sites(self) -> int:
        return len(self.structure)


@lru_cache(maxsize=1)
def corpus_frame() -> pd.DataFrame:
    """The raw corpus table (CIF text included, nothing parsed); cached per process."""
    df = pd.read_csv(CORPUS_FILE, dtype={"material_id": str, "split": str, "source": str})
    df["spacegroup"] = df["spacegroup"].astype("Int64")
    return df


def corpus_sha256() -> str:
    return sha256_file(CORPUS_FILE)


def _parse(cif: str) -> Structure:
    with warnings.catch_warnings():
        # pymatgen warns about rounding near-ideal fractional coordinates; that is expected for MP CIFs.
        warnings.simplefilter("ignore")
        return Structure.from_str(cif, fmt="cif")


def _structure_cache_path() -> Path:
    return CACHE_DIR / f"structures-{corpus_sha256()[:16]}.pkl"


def structures_for(df: pd.DataFrame) -> dict[str, Structure]:
    """Structures for the rows of ``df``: from the whole-corpus cache when it exists or when most of
    the corpus is wanted; a small request without a cache parses only its own rows (tests, service)."""
    if _structure_cache_path().exists() or len(df) > 2000:
        return _all_structures()
    return {mid: _parse(cif) for mid, cif in zip(df["material_id"], df["cif"], strict=True)}


@lru_cache(maxsize=1)
def _all_structures() -> dict[str, Structure]:
    """Parse every CIF once and keep a pickle under .cache keyed by the corpus checksum.

    Parsing ~16k CIFs costs ~40 s; the cache makes later loads a second or two.
    """
    path = _structure_cache_path()
    if path.exists():
        with path.open("rb") as fh:
            return pickle.load(fh)
    df = corpus_frame()
    out = {mid: _parse(cif) for mid, cif in zip(df["material_id"], df["cif"], strict=True)}
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")  # concurrent trainers share the cache
    with tmp.open("wb") as fh:
        pickle.dump(out, fh, protocol=pickle.HIGHEST_PROTOCOL)
    tmp.replace(path)
    return out


def _opt_float(x: object) -> float | None:
    return None if x is None or pd.isna(x) else float(x)  # type: ignore[arg-type]


def _descriptor_tables(mode: DescriptorMode) -> list[tuple[str, dict]]:
    """(source name, {material_id: object with .charges and .dos}) in order of trust."""
    tables: list[tuple[str, dict]] = []
    if mode in ("auto", "dft"):
        tables.append(("dft", load_dft_descriptors()))
    if mode == "auto":
        tables.append(("predicted", load_predicted_descriptors()))
    return tables


def load_corpus(
    split: Split | None = None,
    descriptors: DescriptorMode = "auto",
    limit: int | None = None,
    material_ids: Iterable[str] | None = None,
) -> list[CorpusEntry]:
    """Return corpus crystals as pymatgen structures with labels and descriptors.

    ``descriptors``: ``auto`` = DFT where computed, else predicted, else none; ``dft`` = DFT only;
    ``dummy`` = the seeded random control for every crystal; ``none`` = structures and labels only.
    """
    df = corpus_frame()
    if split is not None:
        if split not in ("train", "val", "test"):
            raise ValueError(f"unknown split {split!r}; expected train, val or test")
        df = df[df["split"] == split]
    if material_ids is not None:
        wanted = set(material_ids)
        df = df[df["material_id"].isin(wanted)]
    if limit is not None:
        df = df.iloc[:limit]
    structures = structures_for(df)
    tables = _descriptor_tables(descriptors) if descriptors in ("auto", "dft") else []
    if descriptors == "dummy":
        from models.data.descriptors.dummy import dummy_descriptors

    entries: list[CorpusEntry] = []
    for row in df.itertuples(index=False):
        s = structures[row.material_id]
        e = CorpusEntry(
            material_id=row.material_id,
            source=row.source,
            structure=s,
            band_gap=_opt_float(row.band_gap),
            formation_energy_per_atom=_opt_float(row.formation_energy_per_atom),
            e_above_hull=_opt_float(row.e_above_hull),
            spacegroup=None if pd.isna(row.spacegroup) else int(row.spacegroup),
            split=row.split,
        )
        if descriptors == "dummy":
            e.charges, e.dos = dummy_descriptors(row.material_id, len(s))
            e.descriptor_source = np.full(len(s), "dummy")
        for name, table in tables:
            d = table.get(row.material_id)
            if d is not None:
                e.charges = np.asarray(d.charges, dtype=np.float64)
                e.dos = np.asarray(d.dos, dtype=np.float64)
                e.descriptor_source = np.full(len(s), name)
                break
        entries.append(e)
    return entries


def manifest_path() -> Path:
    return MANIFEST_FILE


def descriptor_counts() -> dict[str, int]:
    """How many corpus crystals carry DFT, predicted or no descriptors (the manifest records this)."""
    ids = set(corpus_frame()["material_id"])
    counts = {"dft": 0, "predicted": 0, "none": 0}
    seen: set[str] = set()
    for name, table in _descriptor_tables("auto"):
        n = len((set(table) & ids) - seen)
        counts[name] = n
        seen |= set(table) & ids
    counts["none"] = len(ids - seen)
    return counts


def update_manifest_descriptors() -> dict:
    """Write the current descriptor counts into the corpus manifest (run after DFT/labelling)."""
    import json

    manifest = json.loads(MANIFEST_FILE.read_text())
    manifest["descriptors"] = {
        "counts": descriptor_counts(),
        "meaning": "dft = GPAW PBE + Bader (models/data/descriptors); predicted = per-site predictor "
        "trained on the DFT crystals (models/data/descriptors/predictor); none = not yet labelled",
    }
    MANIFEST_FILE.write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest["descriptors"]


if __name__ == "__main__":
    print(update_manifest_descriptors())
