"""Append-only store of DFT results, and the loader the corpus uses.

Layout of ``dft_results/`` (committed to the repo):
- ``results-<UTC stamp>-<pid>.jsonl.gz``: one file per runner session; every finished crystal is
  appended as its *own gzip member* holding one JSON line, so the file is valid gzip after every write
  and a kill can at worst truncate the last member (which the reader drops). Each record holds
  ``material_id``, ``species`` (site order of the corpus CIF as parsed by pymatgen), ``charges`` (n,),
  ``dos`` (n, 64) on ``descriptor_spec.DOS_ENERGIES``, ``band_gap``, ``is_metal``, ``energy_ev``,
  ``fermi_level``, ``vbm``/``cbm``, magnetic moments, ``seconds`` and the full ``settings``.
- ``failures-<UTC stamp>-<pid>.jsonl``: one plain JSON line per failed crystal (``reason`` =
  ``timeout`` | ``error`` | ``memory``, ``message``, ``seconds``, settings).
A crystal re-run later (e.g. with a longer time cap) simply appears again; the newest record wins.

The descriptor predictor (later) trains on ``load_dft_descriptors()``: per-site ``charges`` and ``dos``
targets with ``species``, keyed by material id, site order = corpus structure order.
"""

from __future__ import annotations

import gzip
import json
import os
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from models.data.descriptor_spec import DOS_BINS

RESULTS_DIR = Path(__file__).resolve().parent / "dft_results"


@dataclass(frozen=True)
class SiteDescriptors:
    """DFT descriptors of one crystal, sites in corpus order."""

    material_id: str
    species: tuple[str, ...]
    charges: np.ndarray  # (n,) e
    dos: np.ndarray  # (n, DOS_BINS)
    band_gap: float
    is_metal: bool
    energy: float  # eV per cell
    seconds: float
    settings: dict[str, Any] = field(default_factory=dict)
    charge_residual: float = 0.0
    spin_polarized: bool = False


def _session_stamp() -> str:
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()) + f"-{os.getpid()}"


class ResultWriter:
    """Appends result / failure records for one runner session (single writer)."""

    def __init__(self, results_dir: Path = RESULTS_DIR) -> None:
        self.dir = Path(results_dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        stamp = _session_stamp()
        self.results_path = self.dir / f"results-{stamp}.jsonl.gz"
        self.failures_path = self.dir / f"failures-{stamp}.jsonl"

    def add_result(self, record: dict[str, Any]) -> None:
        line = (json.dumps(record, separators=(",", ":")) + "\n").encode()
        with self.results_path.open("ab") as fh:
            fh.write(gzip.compress(line, compresslevel=9, mtime=0))
            fh.flush()
            os.fsync(fh.fileno())

    def add_failure(self, record: dict[str, Any]) -> None:
        with self.failures_path.open("a") as fh:
            fh.write(json.dumps(record, separators=(",", ":")) + "\n")
            fh.flush()
            os.fsync(fh.fileno())


def _gzip_members(data: bytes) -> Iterator[bytes]:
    """Decompress concatenated gzip members one by one; stop quietly at a truncated tail."""
    while data:
        d = zlib.decompressobj(wbits=31)
        try:
            out = d.decompress(data)
        except zlib.error:
            return
        if not d.eof:
            return  # truncated last member (writer killed mid-append)
        yield out
        data = d.unused_data


def iter_results(results_dir: Path = RESULTS_DIR) -> Iterator[dict[str, Any]]:
    """Every stored result record, oldest session first."""
    for path in sorted(Path(results_dir).glob("results-*.jsonl.gz")):
        for chunk in _gzip_members(path.read_bytes()):
            for line in chunk.decode().splitlines():
                line = line.strip()
                if line:
                    try:
                        yield json.loads(line)
                    except json.JSONDecodeError:
                        continue


def iter_failures(results_dir: Path = RESULTS_DIR) -> Iterator[dict[str, Any]]:
    for path in sorted(Path(results_dir).glob("failures-*.jsonl")):
        for line in path.read_text().splitlines():
            try:
                yield json.loads(line)
            except json.JSONDecodeError:
                continue  # a line cut by a kill


def latest_results(results_dir: Path = RESULTS_DIR) -> dict[str, dict[str, Any]]:
    """{material_id: newest result record}."""
    out: dict[str, dict[str, Any]] = {}
    for rec in iter_results(results_dir):
        out[rec["material_id"]] = rec
    return out


def to_site_descriptors(rec: dict[str, Any]) -> SiteDescriptors:
    charges = np.asarray(rec["charges"], dtype=np.float64)
    dos = np.asarray(rec["dos"], dtype=np.float64)
    n = len(rec["species"])
    if charges.shape != (n,) or dos.shape != (n, DOS_BINS):
        raise ValueError(f"{rec['material_id']}: descriptor shapes {charges.shape}, {dos.shape} for {n} sites")
    return SiteDescriptors(
        material_id=rec["material_id"],
        species=tuple(rec["species"]),
        charges=charges,
        dos=dos,
        band_gap=float(rec["band_gap"]),
        is_metal=bool(rec["is_metal"]),
        energy=float(rec["energy_ev"]),
        seconds=float(rec["seconds"]),
        settings=dict(rec.get("settings", {})),
        charge_residual=float(rec.get("charge_residual", 0.0)),
        spin_polarized=bool(rec.get("spin_polarized", False)),
    )


def load_dft_descriptors(results_dir: Path = RESULTS_DIR) -> dict[str, SiteDescriptors]:
    """{material_id: SiteDescriptors} for every crystal labelled by the DFT path (newest record wins)."""
    return {mid: to_site_descriptors(rec) for mid, rec in latest_results(results_dir).items()}


def check_site_order(desc: SiteDescriptors, species: list[str] | tuple[str, ...]) -> None:
    """Raise if stored descriptors do not belong to a structure with these species in this order."""
    if tuple(species) != desc.species:
        raise ValueError(f"{desc.material_id}: stored species {desc.species} != structure {tuple(species)}")
