"""Run the corpus DFT path (GPAW + Bader + atomic DOS) on selected crystals, resumably.

Each crystal is one capped subprocess (``models.data.descriptors.runner.run_one``, production
``DFTSettings`` unless told otherwise); each outcome is appended to the store as it finishes and
skipped on restart (failures too, unless ``retry_failed``). SIGTERM/SIGINT kill the children in
flight (redone next time) and leave; everything finished is already fsynced.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

from benchmarks.dft.selection import Candidate
from benchmarks.dft.siteorder import cif_keeps_site_order
from benchmarks.dft.store import ReferenceStore, generated_descriptors
from benchmarks.provenance import utc_now
from models.data.descriptors.settings import DEFAULT_SETTINGS, DFTSettings


def _stderr(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def first_line(text: str | None) -> str:
    return (str(text or "").strip().splitlines() or [""])[0]


def run_one_candidate(c: Candidate, settings: DFTSettings, max_seconds: float, memory_gb: float,
                      log_dir: Path) -> dict:
    """DFT of one crystal as a store record (success with the DFT result, or failure with its reason)."""
    from models.data.descriptors.runner import run_one

    cif = c.structure.to(fmt="cif")
    meta = {**c.row(), "cif": cif, **generated_descriptors(c), "settings": settings.model_dump(),
            "max_seconds": max_seconds}
    if not cif_keeps_site_order(c.structure):
        return {**meta, "ok": False, "reason": "site-order", "message": "CIF round trip reorders sites",
                "wall_seconds": 0.0, "finished_utc": utc_now()}
    res = run_one(c.crystal_id, cif, settings, max_seconds, memory_gb, log_dir=log_dir)
    rec = {**meta, "ok": res.ok, "wall_seconds": round(res.seconds, 2), "finished_utc": utc_now()}
    if not (res.ok and res.record is not None):
        return {**rec, "reason": res.reason, "message": res.message}
    dft = {k: v for k, v in res.record.items() if k != "material_id"}
    if dft["species"] != [x.specie.symbol for x in c.structure]:
        return {**rec, "ok": False, "reason": "site-order", "message": f"DFT species {dft['species']}"}
    return {**rec, "dft": dft}


def run_reference(
    candidates: list[Candidate],
    store: ReferenceStore,
    settings: DFTSettings = DEFAULT_SETTINGS,
    max_seconds: float = 400.0,
    workers: int = 1,
    memory_gb: float = 8.0,
    retry_failed: bool = False,
    log_dir: Path | None = None,
    log: Callable[[str], None] = _stderr,
) -> list[dict]:
    """Run DFT on every candidate without a stored outcome; return the new records."""
    from models.data.descriptors.runner import kill_active_children

    log_dir = log_dir or store.path.parent / "logs"
    latest = store.latest(settings)
    todo = [c for c in candidates
            if c.crystal_id not in latest or (retry_failed and not latest[c.crystal_id]["ok"])]
    log(f"[dft] {len(candidates)} selected, {len(candidates) - len(todo)} already in {store.path}, "
        f"{len(todo)} to run; workers {workers}, cap {max_seconds:.0f} s")
    new: list[dict] = []
    if not todo:
        return new

    def stop(signum, frame):
        kill_active_children()
        os._exit(128 + signum)

    main_thread = threading.current_thread() is threading.main_thread()
    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)} if main_thread else {}
    try:
        # Threads, not processes: each DFT already runs in its own capped subprocess.
        with ThreadPoolExecutor(max_workers=workers) as ex:
            futures = {ex.submit(run_one_candidate, c, settings, max_seconds, memory_gb, log_dir): c for c in todo}
            for fut in as_completed(futures):
                c, rec = futures[fut], fut.result()
                store.append(rec)
                new.append(rec)
                status = (f"ok gap {rec['dft']['band_gap']:.2f} eV, {rec['dft']['seconds']:.0f} s" if rec["ok"]
                          else f"FAILED {rec['reason']}: {first_line(rec.get('message'))[:120]}")
                log(f"[dft] {len(new)}/{len(todo)} {c.crystal_id} {c.formula} n={c.n_sites}: {status}")
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return new
