"""A throwaway copy of the whole service for the API load benchmark: embedded PostgreSQL and Redis on
free ports in a temp dir, migrations, an API key, one Celery worker (the shipped default model) and the
API under uvicorn, as `make run` starts them. Also accounts the CPU time all of it used."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psutil

from app.local_services import EmbeddedPostgres, EmbeddedRedis, free_port
from benchmarks.provenance import REPO


@dataclass
class Stack:
    root: Path
    url: str
    key: str
    pg: EmbeddedPostgres
    redis: EmbeddedRedis
    procs: dict[str, subprocess.Popen] = field(default_factory=dict)

    def cpu_seconds(self) -> dict[str, float]:
        """CPU seconds (user + system, reaped children included) of each part of the stack so far."""
        roots = {name: p.pid for name, p in self.procs.items()}
        roots["postgres"] = self.pg._postmaster_pid() or 0
        try:
            roots["redis"] = int(self.redis.pidfile.read_text().strip())
        except (OSError, ValueError):
            pass
        return {name: _tree_cpu(pid) for name, pid in roots.items()}

    def cancel_active_jobs(self) -> int:
        """Cancel every queued or running job as POST .../cancel does; returns how many. Between levels,
        so each starts from an empty queue rather than the backlog the last left (clients submit far
        faster than one worker samples, and a key's quota count grows with its active jobs)."""
        from sqlalchemy import create_engine, text

        engine = create_engine(self.pg.url)
        try:
            with engine.begin() as conn:
                n = conn.execute(text(
                    "UPDATE jobs SET state = 'cancelled', finished_at = now() WHERE state IN ('queued', 'running')"
                )).rowcount
                conn.execute(text("UPDATE job_chunks SET state = 'cancelled' WHERE state = 'pending'"))
        finally:
            engine.dispose()
        return n

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.procs.values():
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
        self.redis.stop(save=False)
        self.pg.stop(mode="immediate")
        shutil.rmtree(self.root, ignore_errors=True)


def _tree_cpu(pid: int) -> float:
    try:
        root = psutil.Process(pid)
        t = root.cpu_times()
        total = t.user + t.system + t.children_user + t.children_system
        for child in root.children(recursive=True):
            try:
                c = child.cpu_times()
                total += c.user + c.system
            except psutil.Error:
                pass
        return total
    except psutil.Error:
        return 0.0


def _wait(url: str, proc: subprocess.Popen, log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/readyz", timeout=5).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if proc.poll() is not None:
            break
        time.sleep(0.5)
    raise RuntimeError(f"stack not ready within {timeout:.0f} s:\n{log.read_text()[-3000:]}")


def start_stack(env_overrides: dict[str, str] | None = None, ready_timeout: float = 240, api_workers: int = 1) -> Stack:
    from sqlalchemy import create_engine
    from sqlalchemy.orm import Session

    from app.core.migrate import upgrade
    from app.services.api_keys import create_key

    root = Path(tempfile.mkdtemp(prefix="mattergen-apibench-"))
    pg = EmbeddedPostgres(root / "postgres", free_port()).start()
    redis = EmbeddedRedis(root / "redis", free_port()).start()
    upgrade(pg.url)
    engine = create_engine(pg.url)
    with Session(engine) as s:
        # Quotas out of the way: the benchmark measures the API, not the quota answer.
        key = create_key(s, "benchmark", max_active_jobs=2**31 - 1, max_queued_samples=2**31 - 1)
    engine.dispose()
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": pg.url,
        "REDIS_URL": redis.url,
        "DATA_DIR": str(root),
        "CELERY_QUEUE": "sampling-bench",
        "OMP_NUM_THREADS": "1",
        **(env_overrides or {}),
    }
    stack = Stack(root, f"http://127.0.0.1:{port}", key.secret, pg, redis)
    worker_cmd = [sys.executable, "-m", "celery", "-A", "worker.celery_app:celery_app", "worker", "-Q",
                  env["CELERY_QUEUE"], "--concurrency", "1", "--pool", "prefork", "--loglevel", "INFO",
                  "-n", "bench@%h", "--without-gossip", "--without-mingle"]
    api_cmd = [sys.executable, "-m", "uvicorn", "app.main:app", "--host", "127.0.0.1", "--port", str(port),
               "--no-access-log"] + (["--workers", str(api_workers)] if api_workers > 1 else [])
    for name, cmd in (("worker", worker_cmd), ("api", api_cmd)):
        log = root / f"{name}.log"
        stack.procs[name] = subprocess.Popen(
            cmd, cwd=REPO, env=env, stdout=open(log, "wb"), stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        _wait(stack.url, stack.procs["api"], root / "api.log", ready_timeout)
    except BaseException:
        stack.stop()
        raise
    return stack
