"""Resumable batch runner: label corpus crystals with the DFT path, cheapest first, one subprocess each.

Why a subprocess per crystal: an SCF that does not converge (or a crystal that eats all memory) must be
stoppable without losing the runner; the child gets a hard wall-time cap and an address-space cap, and
dies with the runner (PR_SET_PDEATHSIG). Every finished crystal is appended to the store at once, so a
killed runner loses at most the crystals in flight; on restart, ids already stored (done or failed)
are skipped. The order is deterministic (``ordering``), so restarts continue where they stopped.
"""

from __future__ import annotations

import ctypes
import json
import os
import re
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from models.data.corpus import corpus_frame
from models.data.descriptors.ordering import elements_with_setups, order_for_labelling
from models.data.descriptors.settings import DEFAULT_SETTINGS, DFTSettings
from models.data.descriptors.store import RESULTS_DIR, ResultWriter, iter_failures, latest_results

REPO_ROOT = Path(__file__).resolve().parents[3]
LOG_DIR = REPO_ROOT / "var" / "dft_logs"
_ACTIVE_CHILDREN: set[int] = set()  # process-group ids of DFT children in flight


def kill_active_children() -> int:
    """SIGKILL every DFT child in flight (their crystals are redone on restart); returns how many.

    Used by the signal handlers of the corpus runner and the benchmark's DFT reference: a child's
    process group also holds GPAW's helpers, so the whole group goes."""
    pgids = list(_ACTIVE_CHILDREN)
    for pgid in pgids:
        try:
            os.killpg(pgid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return len(pgids)


def load_corpus_table() -> pd.DataFrame:
    return corpus_frame()


def candidate_table(splits: list[str] | None = None, max_sites: int | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(runnable crystals, crystals with an element that has no PAW setup in gpaw-data)."""
    df = load_corpus_table()
    if splits:
        df = df[df["split"].isin(splits)]
    if max_sites:
        df = df[df["n_sites"] <= max_sites]
    ok = elements_with_setups()
    supported = df["elements"].map(lambda s: all(e in ok for e in str(s).split()))
    return df[supported], df[~supported]


@dataclass
class Outcome:
    material_id: str
    ok: bool
    seconds: float
    record: dict[str, Any] | None = None
    reason: str = ""
    message: str = ""


def _child_setup(memory_bytes: int) -> None:
    """In the child before exec: die with the runner, cap address space."""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except OSError:
        pass
    if memory_bytes > 0:
        resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))


def run_one(material_id: str, cif: str, settings: DFTSettings, max_seconds: float, memory_gb: float,
            log_dir: Path = LOG_DIR) -> Outcome:
    """Label one crystal in a child process with a hard time cap."""
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    env["PYTHONPATH"] = str(REPO_ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    job = json.dumps({"material_id": material_id, "cif": cif, "settings": settings.model_dump()})
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="dft-") as tmp:
        out, txt = Path(tmp) / "out.json", Path(tmp) / "gpaw.txt"
        proc = subprocess.Popen(
            [sys.executable, "-m", "models.data.descriptors.one_crystal", "--out", str(out), "--txt", str(txt)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=REPO_ROOT, env=env,
            start_new_session=True, preexec_fn=lambda: _child_setup(int(memory_gb * 2**30)),
        )
        reason = ""
        _ACTIVE_CHILDREN.add(proc.pid)
        try:
            _, err = proc.communicate(job.encode(), timeout=max_seconds)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            _, err = proc.communicate()
            reason = "timeout"
        finally:
            _ACTIVE_CHILDREN.discard(proc.pid)
        seconds = time.monotonic() - t0
        if not reason and proc.returncode == 0 and out.exists():
            return Outcome(material_id, True, seconds, record=json.loads(out.read_text()))
        stderr = err.decode(errors="replace")
        if not reason:
            reason = "memory" if ("MemoryError" in stderr or "Cannot allocate" in stderr) else "error"
        message = _error_line(stderr) or f"exit code {proc.returncode}"
        if reason == "timeout":
            message = f"killed after {max_seconds:.0f} s"
        log_tail = ""
        if txt.exists():
            log_text = txt.read_text(errors="replace")
            log_tail = "\n".join(log_text.splitlines()[-15:])
            log_dir.mkdir(parents=True, exist_ok=True)
            (log_dir / f"{material_id}.txt").write_text(log_text + "\n--- stderr ---\n" + stderr[-5000:])
        return Outcome(material_id, False, seconds, reason=reason, message=message + ("\n" + log_tail if log_tail else ""))


MP_U_METALS = frozenset("Co Cr Fe Mn Mo Ni V W".split())


def mp_used_hubbard_u(species: list[str]) -> bool:
    """Materials Project's GGA+U rule: oxides and fluorides containing Co, Cr, Fe, Mn, Mo, Ni, V or W.
    Our path is plain PBE for everything, so the gap comparison is like-for-like only when this is False."""
    s = set(species)
    return bool(s & {"O", "F"}) and bool(s & MP_U_METALS)


def _error_line(stderr: str) -> str:
    """The exception line of a Python traceback (last line naming an Error/Exception), else the last line."""
    lines = [ln.strip() for ln in stderr.strip().splitlines() if ln.strip()]
    for ln in reversed(lines):
        if re.match(r"^[\w.]*(Error|Exception|Interrupt|Exit)\b", ln):
            return ln[:500]
    return lines[-1][:500] if lines else ""


def _fmt_hours(seconds: float) -> str:
    return f"{seconds / 3600:.1f} h" if seconds >= 3600 else f"{seconds / 60:.0f} min"


def measured_seconds(stored: dict[str, dict], failures: list[dict]) -> dict[str, float]:
    """Seconds each crystal already cost: finished ones as measured, timeouts at their cap (a lower
    bound that still tells the cost model this kind of crystal is expensive). Errors say nothing about
    cost and are left out."""
    out = {f["material_id"]: float(f["max_seconds"]) for f in failures
           if f.get("reason") == "timeout" and f.get("max_seconds")}
    out.update({m: float(r["seconds"]) for m, r in stored.items() if r.get("seconds") is not None})
    return out


def run(workers: int = 1, max_seconds: float = 900.0, limit: int | None = None, splits: list[str] | None = None,
        settings: DFTSettings = DEFAULT_SETTINGS, retry_failed: bool = False, memory_gb: float = 8.0,
        max_sites: int | None = None, results_dir: Path = RESULTS_DIR) -> list[Outcome]:
    """Label remaining crystals in order until done, ``limit`` reached, or the process is stopped."""
    df, unsupported = candidate_table(splits, max_sites)
    stored = latest_results(results_dir)
    failures = list(iter_failures(results_dir))
    order = order_for_labelling(df, measured_seconds(stored, failures))
    done = set(stored)
    failed = {f["material_id"] for f in failures} if not retry_failed else set()
    todo = [m for m in order if m not in done and m not in failed]
    if limit is not None:
        todo = todo[:limit]
    rows = df.set_index("material_id")
    print(f"[runner] corpus candidates {len(df)} (+{len(unsupported)} without PAW setups), done {len(done)}, "
          f"failed {len(failed)}, queued now {len(todo)}; workers {workers}, cap {max_seconds:.0f} s; "
          f"settings {settings.model_dump()}", flush=True)
    writer = ResultWriter(results_dir)
    outcomes: list[Outcome] = []
    ok_seconds: list[float] = []
    remaining_total = len(order) - len(done) - len(failed)

    def stop(signum, frame):
        """Kill the crystals in flight (they are redone on restart) and leave at once: every finished
        result is already fsynced, and waiting for the worker threads could take ``max_seconds``."""
        print(f"[runner] signal {signum}: killing {len(_ACTIVE_CHILDREN)} DFT child(ren) and stopping", flush=True)
        kill_active_children()
        os._exit(128 + signum)

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        _run_queue(todo, workers, rows, settings, max_seconds, memory_gb, writer, done, outcomes, ok_seconds,
                   remaining_total)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return outcomes


def _run_queue(todo, workers, rows, settings, max_seconds, memory_gb, writer, done, outcomes, ok_seconds,
               remaining_total) -> None:
    """Run ``todo`` on ``workers`` threads (each drives one DFT child) and record each crystal as it
    finishes. The executor starts them in ``todo`` order, so the cheapest-first order holds."""
    n_failed = 0
    pool = ThreadPoolExecutor(max_workers=workers)
    try:
        futures = {
            pool.submit(run_one, mid, rows.at[mid, "cif"], settings, max_seconds, memory_gb): mid for mid in todo
        }
        for fut in as_completed(futures):
            mid = futures[fut]
            res = fut.result()
            row = rows.loc[mid]
            status = _record_outcome(writer, res, row, mid, settings, max_seconds)
            if res.ok and res.record is not None:
                ok_seconds.append(res.seconds)
            else:
                n_failed += 1
            outcomes.append(res)
            remaining_total -= 1
            mean_all = sum(o.seconds for o in outcomes) / len(outcomes)
            med = statistics.median(ok_seconds) if ok_seconds else float("nan")
            eta = remaining_total * mean_all / workers
            print(f"[{time.strftime('%H:%M:%S')}] {mid} {row['formula']} n={row['n_sites']} {res.seconds:.0f} s {status} | "
                  f"session ok {len(ok_seconds)} failed {n_failed}; total done {len(done) + len(ok_seconds)}, "
                  f"remaining {remaining_total}; median {med:.0f} s/crystal; ETA {_fmt_hours(eta)}", flush=True)
    finally:
        # On an error, crystals not yet started are dropped instead of run to completion.
        pool.shutdown(wait=True, cancel_futures=True)


def _record_outcome(writer: ResultWriter, res: Outcome, row: pd.Series, mid: str, settings: DFTSettings,
                    max_seconds: float) -> str:
    """Append the crystal's result (or failure) to the store; returns the status for the log line."""
    meta = {"material_id": mid, "formula_corpus": row["formula"], "source": row["source"],
            "split": row["split"], "mp_band_gap": None if pd.isna(row["band_gap"]) else float(row["band_gap"]),
            "mp_formation_energy_per_atom": None if pd.isna(row["formation_energy_per_atom"])
            else float(row["formation_energy_per_atom"]),
            "finished_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "max_seconds": max_seconds}
    if res.ok and res.record is not None:
        rec = {**res.record, **meta, "wall_seconds_runner": res.seconds}
        if len(rec["species"]) != int(row["n_sites"]):
            raise RuntimeError(f"{mid}: result has {len(rec['species'])} sites, corpus {row['n_sites']}")
        writer.add_result(rec)
        return (f"ok gap {rec['band_gap']:.2f} (MP {meta['mp_band_gap']}) "
                f"q {min(rec['charges']):+.2f}..{max(rec['charges']):+.2f}")
    writer.add_failure({**meta, "reason": res.reason, "message": res.message, "seconds": res.seconds,
                        "n_sites": int(row["n_sites"]), "settings": settings.model_dump()})
    return f"FAILED {res.reason}: {res.message.splitlines()[0] if res.message else ''}"


def status(results_dir: Path = RESULTS_DIR) -> dict[str, Any]:
    """Counts, element coverage, timing and gap agreement of what the store holds."""
    df, unsupported = candidate_table()
    results = latest_results(results_dir)
    failures = {f["material_id"]: f for f in iter_failures(results_dir)}
    failed_only = {m: f for m, f in failures.items() if m not in results}
    corpus_elements = {e for s in df["elements"] for e in str(s).split()}
    covered = {e for r in results.values() for e in r["species"]}
    secs = [r["seconds"] for r in results.values()]
    like = [(r["band_gap"], r["mp_band_gap"]) for r in results.values()
            if r.get("mp_band_gap") is not None and not mp_used_hubbard_u(r["species"])]
    plus_u = [(r["band_gap"], r["mp_band_gap"]) for r in results.values()
              if r.get("mp_band_gap") is not None and mp_used_hubbard_u(r["species"])]
    gaps = like + plus_u
    gap_mae = statistics.fmean(abs(a - b) for a, b in like) if like else None
    gap_mae_u = statistics.fmean(abs(a - b) for a, b in plus_u) if plus_u else None
    metal_agree = (sum((a <= 0.0) == (b <= 0.0) for a, b in gaps) / len(gaps)) if gaps else None
    resid = [abs(r["charge_residual"]) for r in results.values()]
    return {
        "done": len(results),
        "failed": len(failed_only),
        "failure_reasons": dict(Counter(f["reason"] for f in failed_only.values())),
        "remaining": len(df) - len(results) - len(failed_only),
        "candidates": len(df),
        "without_paw_setup": len(unsupported),
        "elements_covered": len(covered & corpus_elements),
        "elements_in_corpus": len(corpus_elements),
        "elements_missing": " ".join(sorted(corpus_elements - covered)),
        "median_seconds": statistics.median(secs) if secs else None,
        "total_seconds": sum(secs),
        "spin_polarized": sum(bool(r.get("spin_polarized")) for r in results.values()),
        "gap_vs_mp_mae_ev_like_for_like": gap_mae,
        "gap_vs_mp_n_like_for_like": len(like),
        "gap_vs_mp_mae_ev_mp_used_U": gap_mae_u,
        "gap_vs_mp_n_mp_used_U": len(plus_u),
        "metal_flag_agreement": metal_agree,
        "max_abs_charge_residual": max(resid) if resid else None,
    }
