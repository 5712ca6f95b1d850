"""Run benchmark jobs in worker processes, caching each finished job on disk so a run can resume.

A job is a module-level function named by ``"module:function"`` plus JSON-able keyword arguments. Its
cache key is a hash of both (checkpoint SHA-256s are part of the arguments), so a changed checkpoint or
setting reruns the job while an interrupted benchmark skips everything already done. Workers are
``spawn``-ed processes (even a single one), each limited to ``threads`` torch/BLAS threads: on this
2-core machine one single-threaded worker per core is faster than one process with two threads.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import multiprocessing as mp
import os
import sys
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

CACHE_VERSION = 3  # bump when a job function changes what it computes
# Address-space cap per worker process. Why: a CHGNet relaxation that collapses a generated cell can grow
# a worker past the machine's memory, and the kernel's OOM killer then takes the whole pool down. Under
# the cap the allocation fails inside the worker as MemoryError / RuntimeError, which the evaluation
# records against that crystal (``stability_error``) instead of losing the run. 9 GB × 2 workers leaves
# the parent and the OS room on a 24 GB machine; override per run with BENCH_WORKER_MEMORY_GB.
WORKER_MEMORY_GB = float(os.environ.get("BENCH_WORKER_MEMORY_GB", "9"))


@dataclass
class Job:
    key: str  # human-readable, unique within a run (file name of the cache entry)
    fn: str  # "module:function"
    kwargs: dict = field(default_factory=dict)
    cost: float = 1.0  # relative expected cost; larger jobs are started first to balance the workers

    def fingerprint(self) -> str:
        blob = json.dumps({"v": CACHE_VERSION, "fn": self.fn, "kwargs": self.kwargs}, sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()


def _set_threads(threads: int) -> None:
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(threads)
    import torch

    torch.set_num_threads(threads)


def _limit_memory(gb: float) -> None:
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    cap = int(gb * 2**30)
    if hard != resource.RLIM_INFINITY:
        cap = min(cap, hard)
    if soft == resource.RLIM_INFINITY or soft > cap:
        resource.setrlimit(resource.RLIMIT_AS, (cap, hard))


def _call(fn: str, kwargs: dict, threads: int, memory_gb: float | None = None) -> dict:
    _set_threads(threads)
    if memory_gb:
        _limit_memory(memory_gb)
    module, name = fn.split(":")
    t0, c0 = time.time(), time.process_time()
    result = getattr(importlib.import_module(module), name)(**kwargs)
    # CPU time next to wall time: on a shared machine wall time measures the load as much as the code,
    # while CPU time is what the job would take on a core of its own.
    result["job_wall_seconds"] = round(time.time() - t0, 2)
    result["job_cpu_seconds"] = round(time.process_time() - c0, 2)
    return result


def _cache_path(cache_dir: Path, job: Job) -> Path:
    safe = "".join(c if c.isalnum() or c in "-_.=" else "_" for c in job.key)
    return cache_dir / f"{safe}.json"


def load_cached(cache_dir: Path, job: Job) -> dict | None:
    path = _cache_path(cache_dir, job)
    if not path.exists():
        return None
    try:
        entry = json.loads(path.read_text())
    except json.JSONDecodeError:
        return None
    return entry["result"] if entry.get("fingerprint") == job.fingerprint() else None


def _store(cache_dir: Path, job: Job, result: dict) -> None:
    path = _cache_path(cache_dir, job)
    tmp = path.with_suffix(".tmp")
    # The job's own arguments are stored with its result, so a later step (e.g. re-sampling a cell for
    # DFT) reads them instead of reconstructing them from the fingerprint.
    entry = {"fingerprint": job.fingerprint(), "key": job.key, "fn": job.fn, "kwargs": job.kwargs, "result": result}
    tmp.write_text(json.dumps(entry) + "\n")
    os.replace(tmp, path)


def run_jobs(
    jobs: list[Job],
    cache_dir: Path,
    workers: int = 2,
    threads: int = 1,
    log: Callable[[str], None] = lambda m: print(m, file=sys.stderr, flush=True),
) -> dict[str, dict]:
    """Run every job not already cached; return ``{key: result}`` (cached results marked ``resumed``)."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    keys = [j.key for j in jobs]
    if len(set(keys)) != len(keys):
        raise ValueError("job keys must be unique")
    results: dict[str, dict] = {}
    todo: list[Job] = []
    for job in jobs:
        cached = load_cached(cache_dir, job)
        if cached is not None:
            results[job.key] = {**cached, "resumed": True}
        else:
            todo.append(job)
    if results:
        log(f"[bench] {len(results)} job(s) already done (cache {cache_dir}), {len(todo)} to run")
    todo.sort(key=lambda j: -j.cost)
    t0 = time.time()

    def done(job: Job, result: dict, i: int) -> None:
        _store(cache_dir, job, result)
        results[job.key] = result
        log(f"[bench] {i}/{len(todo)} {job.key}: {result['job_wall_seconds']:.0f} s (elapsed {time.time() - t0:.0f} s)")

    failed: dict[str, str] = {}

    def fail(job: Job, exc: BaseException, i: int) -> None:  # a failed job must not cost the other jobs' results
        failed[job.key] = repr(exc)
        log(f"[bench] {i}/{len(todo)} {job.key}: FAILED {exc!r}")

    if todo:
        # Even one worker is a separate process: it gets the memory cap, and its thread settings stay out
        # of the caller's process.
        _run_pool(todo, max(1, workers), threads, done, fail)
    if failed:
        raise JobsFailed(failed)
    return results


def _run_pool(todo: list[Job], workers: int, threads: int, done, fail) -> None:
    ctx = mp.get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
        futures = {pool.submit(_call, j.fn, j.kwargs, threads, WORKER_MEMORY_GB): j for j in todo}
        for finished, fut in enumerate(as_completed(futures), 1):
            job = futures[fut]
            try:
                done(job, fut.result(), finished)
            except Exception as exc:
                fail(job, exc, finished)


class JobsFailed(RuntimeError):
    """Some jobs raised; every other job finished and is cached, so a rerun redoes only these."""

    def __init__(self, failed: dict[str, str]) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in failed.items()))
        self.failed = failed
