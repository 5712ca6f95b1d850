"""Crystals as the DFT child will see them: site order through a CIF round trip, and a crystal's digest.

The DFT child parses a CIF exactly as the corpus path does, and pymatgen's CIF parser groups sites by
species, so a generated cell (sites in sampling order) comes back permuted; per-site generated
descriptors must follow the same permutation or they are compared with another site's DFT values.
"""

from __future__ import annotations

import hashlib
import io
import warnings

import numpy as np
from pymatgen.core import Structure

from models.data.descriptor_spec import DOS_BINS


def parse_cif(cif: str) -> Structure:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return Structure.from_str(cif, fmt="cif")


def read_cif_in_order(cif: str) -> Structure:
    """A P1 CIF read with ASE, which keeps the ``_atom_site`` loop order (the order pymatgen's writer
    used, i.e. the generated order); pymatgen's own parser would group the sites by species."""
    import ase.io
    from pymatgen.io.ase import AseAtomsAdaptor

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        s = AseAtomsAdaptor.get_structure(ase.io.read(io.StringIO(cif), format="cif"))
    return Structure(s.lattice, [x.specie.symbol for x in s], s.frac_coords)  # plain sites, no ASE properties


def array_or_none(x, shape: tuple[int, ...]) -> np.ndarray | None:
    if x is None:
        return None
    a = np.asarray(x, dtype=np.float64)
    if a.shape != shape:
        raise ValueError(f"generated descriptor of shape {a.shape}, expected {shape}")
    return a


def structure_from_record(rec: dict, key: str = "cif") -> tuple[Structure, np.ndarray | None, np.ndarray | None] | None:
    """The crystal stored under ``key`` (``structure`` as ``Structure.as_dict()`` is preferred for the
    as-sampled cell) with the generated ``charges`` (n,) and ``dos`` (n, DOS_BINS) in its site order."""
    blob = rec.get("structure") if key == "cif" and rec.get("structure") else rec.get(key)
    if not blob:
        return None
    s = Structure.from_dict(blob) if isinstance(blob, dict) else read_cif_in_order(blob)
    n = len(s)
    return s, array_or_none(rec.get("charges"), (n,)), array_or_none(rec.get("dos"), (n, DOS_BINS))


def cif_site_permutation(s: Structure, tol: float = 1e-4) -> list[int] | None:
    """``perm`` with parsed[j] = s[perm[j]] for the CIF the DFT child parses, or None if sites do not map."""
    back = parse_cif(s.to(fmt="cif"))
    if len(back) != len(s):
        return None
    species = [x.specie.symbol for x in s]
    free = set(range(len(s)))
    perm: list[int] = []
    for site in back:
        diff = s.frac_coords - site.frac_coords
        dist = np.abs(diff - np.round(diff)).max(axis=1)
        hit = next((i for i in np.argsort(dist) if i in free and dist[i] < tol), None)
        if hit is None or species[hit] != site.specie.symbol:
            return None
        free.discard(int(hit))
        perm.append(int(hit))
    return perm


def in_cif_order(
    s: Structure, q: np.ndarray | None, d: np.ndarray | None
) -> tuple[Structure, np.ndarray | None, np.ndarray | None] | None:
    """The crystal and its generated descriptors in the site order the DFT result will have."""
    perm = cif_site_permutation(s)
    if perm is None:
        return None
    if perm == list(range(len(s))):
        return s, q, d
    return (
        Structure.from_sites([s[i] for i in perm]),
        None if q is None else q[perm],
        None if d is None else d[perm],
    )


def cif_keeps_site_order(s: Structure) -> bool:
    return cif_site_permutation(s) == list(range(len(s)))


def structure_digest(s: Structure) -> str:
    """First 8 hex digits of the SHA-256 of the crystal's CIF: the part of its id that says *which* crystal.

    Why: the same checkpoint, seed and job arguments draw different crystals on a different CPU (float
    summation order in vectorised kernels), so a job fingerprint alone could pair a stored DFT result
    with a crystal it was never run on."""
    return hashlib.sha256(s.to(fmt="cif").encode()).hexdigest()[:8]
