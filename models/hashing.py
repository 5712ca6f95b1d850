"""SHA-256 of a file: the one checksum every manifest, provenance block and cache key of the project uses.

Checkpoints, the corpus, predictor weights and benchmark snapshots are all identified by it, so they
must agree byte for byte on how it is computed. Read in 1 MiB chunks so hashing a large file never
holds it in memory twice.
"""

from __future__ import annotations

import hashlib
from pathlib import Path


def sha256_file(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
