"""Append-only JSONL of DFT outcomes, one line per finished crystal, beside the report it feeds.

Each line holds the crystal (CIF in the DFT's site order), the descriptors the model generated for it,
the DFT settings and the outcome, so a report can be rebuilt from the store alone when the benchmark
cache (under ``var/``) is gone.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path

from benchmarks.dft.selection import Candidate, Selection
from benchmarks.dft.siteorder import structure_from_record
from benchmarks.jsonable import jsonable
from models.data.descriptors.settings import DFTSettings


class ReferenceStore:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def records(self) -> list[dict]:
        if not self.path.exists():
            return []
        out = []
        for line in self.path.read_text().splitlines():
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                continue  # a line cut by a kill
        return out

    def append(self, rec: dict) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a") as fh:
            fh.write(json.dumps(jsonable(rec), separators=(",", ":")) + "\n")
            fh.flush()
            os.fsync(fh.fileno())

    def latest(self, settings: DFTSettings) -> dict[str, dict]:
        """{crystal_id: newest record under these settings}; a success is never replaced by a failure."""
        want = settings.model_dump()
        out: dict[str, dict] = {}
        for rec in self.records():
            if rec.get("settings") != want:
                continue
            prev = out.get(rec["crystal_id"])
            if prev is None or rec["ok"] or not prev["ok"]:
                out[rec["crystal_id"]] = rec
        return out


def default_store_path(results_dir: Path, variant: str, mode: str = "reference") -> Path:
    """Beside the report, in the tracked tree: an hour of DFT per 30 crystals must not be lost with an
    ignored ``var/`` when a session ends; every finished crystal survives as an uncommitted change."""
    stem = "dft_reference_store" if mode == "reference" else "dft_verification_store"
    return results_dir / f"{stem}_{variant}.jsonl"


def generated_descriptors(c: Candidate) -> dict:
    return {"charges": c.charges, "dos": c.dos}


def candidates_from_store(store: ReferenceStore, settings: DFTSettings) -> Selection:
    """The crystals of every stored outcome, rebuilt from the store alone (no benchmark cache)."""
    out: list[Candidate] = []
    counts: Counter[str] = Counter()
    for rec in store.latest(settings).values():
        counts["stored"] += 1
        got = structure_from_record(rec)
        if got is None:
            counts["no_structure"] += 1
            continue
        s, q, d = got
        if q is None and d is None:
            counts["without_generated_descriptors"] += 1
        out.append(Candidate(
            crystal_id=rec["crystal_id"], cell=rec["cell"], name=rec["name"], formula=rec["formula"], n_sites=len(s),
            e_above_hull=float(rec["e_above_hull"]), predicted_band_gap=rec.get("predicted_band_gap"), structure=s,
            charges=q, dos=d, cost=float(rec.get("estimated_cost") or 0.0), source="store", target=rec.get("target"),
        ))
    out.sort(key=lambda c: (c.cost, c.crystal_id))
    counts["selected"] = len(out)
    note = f"no benchmark cache: the crystals and generated descriptors are those stored in {store.path}"
    return Selection(out, dict(counts), [], [note])
