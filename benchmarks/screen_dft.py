"""DFT verification of the screen's band-gap successes (issue 17), the service's own GPAW path.

A *screened band-gap success* passed every check of the screen (valid, E_hull, within target, novel,
unique) and its predicted band gap lies in the target window the screen used (``band_gap_range``,
target ± 0.5 eV). Each one is verified as ``POST /v1/structures/{id}/verify`` does it
(``worker.dft_tasks.run_verification``): the relaxed cell without site properties, a CIF round trip
whose site order must map back one to one (``worker.dft_compare.site_permutation``), and
``worker.dft_run.run_dft`` (``models.data.descriptors.one_crystal`` in a capped child process: PBE,
GPAW LCAO) with a wall-time cap per crystal. A **DFT success** is a DFT band gap inside the same window.

Order: the candidates pooled over the targets in a seeded random order (no size preference); a crystal
that hits its cap or fails is recorded with its reason and the next one is taken, until ``n`` crystals
were verified, the candidates run out, or the total budget is spent (the rest: ``not run``). Every
outcome is appended to a JSONL store (one line per crystal, keyed by target, sample index and the CIF's
SHA-256 prefix), so a rerun resumes.
"""

from __future__ import annotations

import hashlib
import json
import random
import statistics
import threading
import time
import warnings
from collections import Counter
from pathlib import Path
from typing import Any

from benchmarks.stats import fmt_rate, rate


def in_window(gap: float | None, window: list[float] | tuple[float, float] | None) -> bool:
    return gap is not None and window is not None and window[0] <= gap <= window[1]


def crystal_id(c: dict[str, Any]) -> str:
    return f"bg{c['target']:g}-{c['index']:03d}-{hashlib.sha256(c['cif'].encode()).hexdigest()[:12]}"


def candidates(screened: list[dict[str, Any]], seed: int) -> list[dict[str, Any]]:
    """The screened band-gap successes in a seeded random order.

    ``screened`` holds one dict per crystal of the run: ``target``, ``index``, ``passed`` (the whole
    screen), ``band_gap_pred``, ``window`` and ``cif`` (the relaxed cell)."""
    keep = [
        c for c in screened if c.get("passed") is True and in_window(c.get("band_gap_pred"), c.get("window"))
    ]
    keep.sort(key=lambda c: (c["target"], c["index"]))
    random.Random(seed).shuffle(keep)
    return keep


def _cif_and_perm(cif: str) -> tuple[str, list[int] | None]:
    """The cell as the service sends it to GPAW (no site properties) and its site permutation."""
    from pymatgen.core import Structure

    from worker.dft_compare import site_permutation

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        s = Structure.from_str(cif, fmt="cif")
        s = Structure(s.lattice, s.species, s.frac_coords)
        out = s.to(fmt="cif")
    return out, site_permutation(s, out)


def _identity(c: dict[str, Any]) -> dict[str, Any]:
    """The fields that name a screened crystal in every outcome record."""
    return {
        "id": crystal_id(c),
        "target": c["target"],
        "index": c["index"],
        "formula": c.get("formula"),
        "n_sites": c.get("n_sites"),
        "band_gap_pred": c["band_gap_pred"],
        "window": list(c["window"]),
    }


def verify_one(c: dict[str, Any], dft_settings: Any, max_seconds: float, memory_gb: float) -> dict[str, Any]:
    """One verification outcome (what the service stores, reduced to what this report needs)."""
    from worker.dft_compare import compare, to_stored_order
    from worker.dft_run import run_dft

    base = {
        **_identity(c),
        "settings": dft_settings.model_dump(),
        "max_seconds": max_seconds,
    }
    started = time.monotonic()
    try:
        cif, perm = _cif_and_perm(c["cif"])
    except Exception as exc:  # noqa: BLE001 - recorded against the crystal
        return {**base, "ok": False, "reason": "error", "message": repr(exc)[:300], "seconds": 0.0}
    if perm is None:
        return {
            **base,
            "ok": False,
            "reason": "site-order",
            "seconds": time.monotonic() - started,
            "message": "the CIF round trip does not map the sites back one to one",
        }
    outcome = run_dft(cif, dft_settings, max_seconds, memory_gb, lambda: True)
    if not outcome.ok:
        return {
            **base,
            "ok": False,
            "reason": outcome.reason,
            "message": outcome.message,
            "seconds": outcome.seconds,
        }
    record = to_stored_order(outcome.record or {}, perm)
    row = {"band_gap_pred": c["band_gap_pred"], "target_band_gap": c["target"]}
    cmp = compare(record, row)
    gap = float(record["band_gap"])
    return {
        **base,
        "ok": True,
        "seconds": outcome.seconds,
        "gpaw_seconds": record.get("seconds"),
        "dft_band_gap": gap,
        "gap_error": cmp["gap_error"],
        "dft_success": in_window(gap, c["window"]),
    }


def load_store(path: Path) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    if path.exists():
        for line in path.read_text().splitlines():
            if line.strip():
                rec = json.loads(line)
                out[rec["id"]] = rec
    return out


def _append(path: Path, rec: dict[str, Any]) -> None:
    import os

    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as f:
        f.write(json.dumps(rec, default=str) + "\n")
        f.flush()
        os.fsync(f.fileno())


def _not_run(c: dict[str, Any]) -> dict[str, Any]:
    return {
        **_identity(c),
        "ok": False,
        "reason": "not run",
        "message": "total DFT budget spent",
        "seconds": 0.0,
    }


def _verify_or_error(verify, c: dict[str, Any], dft_settings, cap: float, memory_gb: float) -> dict[str, Any]:
    """One verification; an unexpected exception becomes the crystal's recorded error."""
    try:
        return verify(c, dft_settings, cap, memory_gb)
    except Exception as exc:  # noqa: BLE001 - recorded against the crystal
        return {**_not_run(c), "reason": "error", "message": repr(exc)[:300]}


def _log_outcome(log, c: dict[str, Any], rec: dict[str, Any]) -> None:
    log(
        f"DFT {rec['id']} {c.get('formula')} ({c.get('n_sites')} sites): ok={rec['ok']} "
        f"reason={rec.get('reason')} gap={rec.get('dft_band_gap')} pred={c['band_gap_pred']:.2f} "
        f"{rec['seconds']:.0f} s",
        flush=True,
    )


def _run_workers(work, workers: int) -> None:
    threads = [threading.Thread(target=work, daemon=True) for _ in range(max(1, workers))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def run(
    ordered: list[dict[str, Any]],
    *,
    n: int,
    store: Path,
    dft_settings: Any,
    max_seconds: float,
    memory_gb: float,
    budget_seconds: float | None = None,
    workers: int = 1,
    verify=verify_one,
    log=print,
) -> list[dict[str, Any]]:
    """Verify in order until ``n`` are verified (ok), the list ends, or the budget is spent.

    ``workers`` crystals run at once (each a GPAW child process); a new one is started only while
    fewer than ``n`` are verified or running, so a failure is replaced by the next candidate. Returns
    the outcomes of the candidates reached, in order; those the budget left out are ``reason: "not run"``."""
    done = load_store(store)
    started = time.monotonic()
    cond = threading.Condition()
    results: dict[int, dict[str, Any]] = {}
    state = {"next": 0, "ok": 0, "running": 0}

    def take() -> tuple[int, float] | None:
        with cond:
            while True:
                if state["next"] >= len(ordered) or state["ok"] >= n:
                    return None
                if state["ok"] + state["running"] >= n:
                    cond.wait()
                    continue
                i = state["next"]
                state["next"] += 1
                c = ordered[i]
                if crystal_id(c) in done:  # resumed from the store
                    results[i] = done[crystal_id(c)]
                    state["ok"] += bool(results[i].get("ok"))
                    continue
                left = None if budget_seconds is None else budget_seconds - (time.monotonic() - started)
                if left is not None and left < min(60.0, max_seconds):
                    results[i] = _not_run(c)
                    continue
                state["running"] += 1
                return i, (max_seconds if left is None else min(max_seconds, left))

    def work() -> None:
        while (job := take()) is not None:
            i, cap = job
            c = ordered[i]
            rec = _verify_or_error(verify, c, dft_settings, cap, memory_gb)
            with cond:
                _append(store, rec)
                results[i] = rec
                state["running"] -= 1
                state["ok"] += bool(rec.get("ok"))
                cond.notify_all()
            _log_outcome(log, c, rec)

    _run_workers(work, workers)
    return [results[i] for i in sorted(results)]


def summarize(outcomes: list[dict[str, Any]], n_candidates: int, n_wanted: int) -> dict[str, Any]:
    attempted = [o for o in outcomes if o.get("reason") != "not run"]
    ok = [o for o in attempted if o.get("ok")]
    success = [o for o in ok if o.get("dft_success")]
    failed = [o for o in attempted if not o.get("ok")]
    secs = [float(o["seconds"]) for o in attempted]
    ok_secs = [float(o["seconds"]) for o in ok]
    per_target: dict[str, dict[str, Any]] = {}
    for t in sorted({o["target"] for o in attempted}):
        mine = [o for o in ok if o["target"] == t]
        per_target[f"{t:g}"] = {
            "verified": len(mine),
            "dft_success": rate(sum(bool(o["dft_success"]) for o in mine), len(mine)),
        }
    errors = [o["gap_error"] for o in ok if o.get("gap_error") is not None]
    return {
        "candidates": n_candidates,
        "wanted": n_wanted,
        "attempted": len(attempted),
        "verified": len(ok),
        "dft_successes": len(success),
        "dft_success_rate": rate(len(success), len(ok)),
        "dft_success_rate_of_attempted": rate(len(success), len(attempted)),
        "failures": dict(Counter(o.get("reason") for o in failed)),
        "failure_messages": [
            {"id": o["id"], "reason": o.get("reason"), "message": o.get("message")} for o in failed
        ],
        "not_run": sum(o.get("reason") == "not run" for o in outcomes),
        "seconds_per_verification": {
            "mean_attempted": statistics.fmean(secs) if secs else None,
            "mean_verified": statistics.fmean(ok_secs) if ok_secs else None,
            "median_verified": statistics.median(ok_secs) if ok_secs else None,
            "max_verified": max(ok_secs) if ok_secs else None,
            "total": sum(secs),
        },
        "gap_error_pred_minus_dft": {
            "n": len(errors),
            "mean": statistics.fmean(errors) if errors else None,
            "mae": statistics.fmean(abs(e) for e in errors) if errors else None,
        },
        "per_target": per_target,
        "crystals": [
            {
                k: o.get(k)
                for k in (
                    "id",
                    "formula",
                    "n_sites",
                    "target",
                    "band_gap_pred",
                    "dft_band_gap",
                    "dft_success",
                    "ok",
                    "reason",
                    "seconds",
                )
            }
            for o in outcomes
        ],
    }


def render(
    s: dict[str, Any], settings: dict[str, Any], max_seconds: float, selection: str | None = None
) -> list[str]:
    sec = s["seconds_per_verification"]
    f = lambda x: "–" if x is None else f"{x:.0f}"  # noqa: E731
    lines = [
        "## DFT verification of the screened band-gap successes",
        "",
        f"{s['candidates']} screened band-gap successes (passed the screen, predicted gap in the target window), "
        f"{selection or 'pooled over the targets in a seeded random order'}; verified with the service's GPAW path "
        f"(PBE, LCAO; settings {json.dumps(settings, sort_keys=True)}), cap {max_seconds:.0f} s per crystal.",
        "",
        f"- **verified: {s['verified']}** of {s['attempted']} attempted (wanted {s['wanted']}); "
        f"failures: {', '.join(f'{k} {v}' for k, v in s['failures'].items()) or 'none'}; not run (budget): {s['not_run']}",
        f"- **DFT successes** (DFT gap in the same window): {fmt_rate(s['dft_success_rate'])} of the verified; "
        f"{fmt_rate(s['dft_success_rate_of_attempted'])} counting failures as not successes",
        f"- seconds per verification (wall, this box): mean {f(sec['mean_verified'])} (verified), "
        f"median {f(sec['median_verified'])}, max {f(sec['max_verified'])}; mean over attempted {f(sec['mean_attempted'])}; "
        f"total {f(sec['total'])}",
    ]
    ge = s["gap_error_pred_minus_dft"]
    if ge["n"]:
        lines.append(
            f"- predicted − DFT gap: mean {ge['mean']:+.2f} eV, MAE {ge['mae']:.2f} eV (n = {ge['n']})"
        )
    lines += [
        "",
        "| crystal | formula | sites | target (eV) | predicted gap | DFT gap | DFT success | outcome | s |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for c in s["crystals"]:
        gap = "–" if c.get("dft_band_gap") is None else f"{c['dft_band_gap']:.2f}"
        succ = "–" if not c.get("ok") else ("yes" if c.get("dft_success") else "no")
        lines.append(
            f"| {c['id']} | {c.get('formula')} | {c.get('n_sites')} | {c['target']:g} | {c['band_gap_pred']:.2f} | {gap} "
            f"| {succ} | {'ok' if c.get('ok') else c.get('reason')} | {c.get('seconds') or 0:.0f} |"
        )
    for m in s["failure_messages"]:
        lines.append(f"\n- {m['id']}: {m['reason']}: {m['message']}")
    lines.append("")
    return lines


def follow(
    caches: list[Path],
    *,
    store: Path,
    dft_settings: Any,
    max_seconds: float,
    memory_gb: float,
    seed: int,
    deadline: float,
    workers: int = 1,
    poll: float = 20.0,
    verify=verify_one,
    log=print,
) -> int:
    """Verify screened band-gap successes while the per-target samples are still being relaxed.

    ``caches``: the per-target cache files ``benchmarks.relax_cost`` writes when a target is done. As
    they appear, their candidates join the queue: a seeded random order within each target, and the
    next crystal always comes from the available target with the fewest crystals taken so far (round
    robin, no size preference). Stops when every target is in and verified, or at ``deadline``
    (``time.time()``): no crystal is started with less than a minute left, and a running one is
    capped at the deadline. Returns the number of crystals run."""
    lock = threading.Lock()
    taken: set[str] = set(load_store(store))
    per_target: dict[float, list[dict[str, Any]]] = {}
    count = [0]

    def refresh() -> bool:
        for p in caches:
            if p.exists():
                r = json.loads(p.read_text())
                if r["band_gap"] not in per_target:
                    per_target[r["band_gap"]] = candidates(r.get("screened", []), seed)
                    log(f"target {r['band_gap']:g}: {len(per_target[r['band_gap']])} candidates", flush=True)
        return len(per_target) == len(caches)

    def take() -> tuple[dict[str, Any], float] | None:
        while True:
            with lock:
                complete = refresh()
                left = deadline - time.time()
                if left < 60.0:
                    return None
                queues = [
                    (
                        sum(crystal_id(c) in taken for c in cs),
                        t,
                        [c for c in cs if crystal_id(c) not in taken],
                    )
                    for t, cs in sorted(per_target.items())
                ]
                queues = [q for q in queues if q[2]]
                if queues:
                    c = min(queues, key=lambda q: (q[0], q[1]))[2][0]
                    taken.add(crystal_id(c))
                    return c, min(max_seconds, left)
                if complete:
                    return None
            time.sleep(poll)

    def work() -> None:
        while (job := take()) is not None:
            c, cap = job
            rec = _verify_or_error(verify, c, dft_settings, cap, memory_gb)
            rec["finished_utc"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
            with lock:
                _append(store, rec)
                count[0] += 1
            _log_outcome(log, c, rec)

    _run_workers(work, workers)
    return count[0]


def main(argv: list[str] | None = None) -> int:
    """``python -m benchmarks.screen_dft --caches target_*.json ... --store S --deadline-utc HH:MM``:
    the DFT stage next to running ``benchmarks.relax_cost`` parts; ``relax_cost --dft N
    --dft-report-only`` then reports from the store."""
    import argparse
    import datetime as dt
    import shlex
    import sys

    from app.core.config import get_settings
    from models.data.descriptors.settings import DFTSettings

    ap = argparse.ArgumentParser(description=follow.__doc__)
    ap.add_argument("--caches", type=Path, nargs="+", required=True)
    ap.add_argument("--store", type=Path, required=True)
    ap.add_argument("--deadline-utc", required=True, help="HH:MM today (UTC)")
    ap.add_argument("--max-seconds", type=float, default=None)
    ap.add_argument("--dft-settings", default=None)
    ap.add_argument("--seed", type=int, default=17)
    ap.add_argument("--workers", type=int, default=1)
    args = ap.parse_args(argv)
    t0 = time.monotonic()
    settings = get_settings()
    overrides = json.loads(args.dft_settings) if args.dft_settings else dict(settings.dft_settings)
    hh, mm = (int(x) for x in args.deadline_utc.split(":"))
    now = dt.datetime.now(dt.UTC)
    deadline = now.replace(hour=hh, minute=mm, second=0, microsecond=0).timestamp()
    n = follow(
        args.caches,
        store=args.store,
        dft_settings=DFTSettings(**overrides),
        max_seconds=args.max_seconds or settings.dft_max_seconds,
        memory_gb=settings.dft_memory_gb,
        seed=args.seed,
        deadline=deadline,
        workers=args.workers,
    )
    import resource

    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime
    done = {
        "command": "python -m benchmarks.screen_dft "
        + shlex.join(argv if argv is not None else sys.argv[1:]),
        "crystals_run": n,
        "wall_seconds": time.monotonic() - t0,
        "cpu_seconds": cpu,
        "finished_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    args.store.with_suffix(".run.json").write_text(json.dumps(done, indent=1))
    print(json.dumps(done), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
