"""Store of predictor-labelled descriptors for corpus crystals without DFT descriptors.

One compressed file, ``predicted/predicted.npz``, rewritten whole by each ``label`` run (a retrained
predictor relabels everything, so appending makes no sense). Flat arrays keep ~160k sites compact:
- ``material_ids`` (C,) str, ``n_sites`` (C,) int32, ``z`` (S,) uint8 atomic numbers in corpus site
  order (for a site-order check against the structure);
- ``charges`` (S,) float32 in e;
- ``dos`` (S, DOS_BINS) float16: the predictor's DOS is a smooth model output, float16's 3 significant
  digits are far below its error; the loader re-normalizes each row (``normalize_dos``) so the stored
  rounding never breaks the integrate-to-DOS_NORM convention;
- ``model_sha256``: SHA-256 of the predictor weights that produced every value; ``created_utc``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from models.data.descriptor_spec import DOS_BINS, normalize_dos

PREDICTED_FILE = Path(__file__).resolve().parent / "predicted" / "predicted.npz"


@dataclass(frozen=True)
class PredictedDescriptors:
    material_id: str
    z: np.ndarray  # (n,) atomic numbers, corpus site order
    charges: np.ndarray  # (n,) float64, e
    dos: np.ndarray  # (n, DOS_BINS) float64
    model_sha256: str


def write_predicted(
    material_ids: list[str],
    z: list[np.ndarray],
    charges: list[np.ndarray],
    dos: list[np.ndarray],
    model_sha256: str,
    path: Path = PREDICTED_FILE,
) -> Path:
    """Write the store atomically (temp file + rename) so a reader never sees half a file."""
    if not (len(material_ids) == len(z) == len(charges) == len(dos)):
        raise ValueError("material_ids, z, charges and dos must have one entry per crystal")
    n = np.array([len(q) for q in charges], dtype=np.int32)
    for mid, zz, q, d in zip(material_ids, z, charges, dos, strict=True):
        if len(zz) != len(q) or np.shape(d) != (len(q), DOS_BINS):
            raise ValueError(
                f"{mid}: inconsistent shapes z {np.shape(zz)}, charges {np.shape(q)}, dos {np.shape(d)}"
            )
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.stem + ".tmp.npz")
    np.savez_compressed(
        tmp,
        material_ids=np.array(material_ids, dtype=str),
        n_sites=n,
        z=np.concatenate(z).astype(np.uint8) if z else np.zeros(0, np.uint8),
        charges=np.concatenate(charges).astype(np.float32) if charges else np.zeros(0, np.float32),
        dos=np.concatenate(dos).astype(np.float16) if dos else np.zeros((0, DOS_BINS), np.float16),
        model_sha256=np.array(model_sha256),
        created_utc=np.array(time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())),
    )
    tmp.replace(path)
    load_predicted_descriptors.cache_clear()
    return path


@lru_cache(maxsize=2)
def load_predicted_descriptors(path: Path = PREDICTED_FILE) -> dict[str, PredictedDescriptors]:
    """{material_id: PredictedDescriptors}; empty when nothing has been labelled yet."""
    path = Path(path)
    if not path.exists():
        return {}
    with np.load(path, allow_pickle=False) as f:
        ids, n, z = f["material_ids"], f["n_sites"], f["z"]
        charges = f["charges"].astype(np.float64)
        dos = normalize_dos(f["dos"].astype(np.float64))
        sha = str(f["model_sha256"])
    offsets = np.concatenate([[0], np.cumsum(n)])
    return {
        str(mid): PredictedDescriptors(str(mid), z[a:b].astype(np.int64), charges[a:b], dos[a:b], sha)
        for mid, a, b in zip(ids, offsets[:-1], offsets[1:], strict=True)
    }
