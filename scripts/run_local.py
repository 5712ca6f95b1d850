#!/usr/bin/env python
"""Run the whole service locally: PostgreSQL + Redis from wheels, migrations, one worker, the API.

    python scripts/run_local.py            # everything, in the foreground; Ctrl-C stops it all
    python scripts/run_local.py services   # only start PostgreSQL + Redis (they keep running)
    python scripts/run_local.py stop       # stop PostgreSQL + Redis started by this script
    python scripts/run_local.py migrate    # apply migrations

Data lives under DATA_DIR (default ./var) and survives restarts. If DATABASE_URL / REDIS_URL are set
in the environment, those external servers are used and no embedded server is started.

On its first start the runner creates an API key for this machine, writes it to DATA_DIR/api_key and
prints it (``curl -H "Authorization: Bearer $(cat var/api_key)" ...``). A worker or API process that
dies is restarted with a backoff (app/local_supervisor.py) instead of stopping the stack.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from app.core.config import get_settings  # noqa: E402
from app.local_services import EmbeddedPostgres, EmbeddedRedis  # noqa: E402
from app.local_supervisor import Supervised  # noqa: E402


def embedded_servers() -> tuple[EmbeddedPostgres | None, EmbeddedRedis | None]:
    settings = get_settings()
    pg = (
        None
        if "DATABASE_URL" in os.environ
        else EmbeddedPostgres(settings.data_dir / "postgres", settings.local_pg_port)
    )
    redis = (
        None
        if "REDIS_URL" in os.environ
        else EmbeddedRedis(settings.data_dir / "redis", settings.local_redis_port)
    )
    return pg, redis


def start_services() -> dict[str, str]:
    """Start what is embedded; return the env that points the worker/API at the servers."""
    settings = get_settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    pg, redis = embedded_servers()
    env = {}
    if pg is not None:
        pg.start()
        env["DATABASE_URL"] = pg.url
        print(f"PostgreSQL  {pg.url}  (data {pg.data_dir})", flush=True)
    if redis is not None:
        redis.start()
        env["REDIS_URL"] = redis.url
        print(f"Redis       {redis.url}  (data {redis.data_dir})", flush=True)
    return env


def stop_services() -> None:
    pg, redis = embedded_servers()
    for server in (redis, pg):
        if server is not None:
            server.stop()
            print(f"stopped {type(server).__name__}", flush=True)


def migrate(env: dict[str, str]) -> None:
    from app.core.migrate import upgrade

    upgrade(env.get("DATABASE_URL") or get_settings().database_url)
    print("migrations applied", flush=True)


def ensure_local_key(env: dict[str, str]) -> Path:
    """Create this machine's admin key on first start (or when the saved one no longer works)."""
    from sqlalchemy import create_engine
    from sqlalchemy.orm import Session

    from app.services.api_keys import create_key, is_valid

    path = get_settings().data_dir / "api_key"
    engine = create_engine(env.get("DATABASE_URL") or get_settings().database_url)
    try:
        with Session(engine) as session:
            saved = path.read_text().strip() if path.exists() else ""
            if saved and is_valid(session, saved):
                print(f"API key     in {path}", flush=True)
                return path
            key = create_key(session, "local", is_admin=True)
    finally:
        engine.dispose()
    path.write_text(key.secret + "\n")
    path.chmod(0o600)
    print(f"API key     {key.secret}  (admin; saved in {path})", flush=True)
    return path


def warn_if_no_model() -> None:
    settings = get_settings()
    if settings.model_checkpoint is not None:
        print(f"model       {settings.model_name} <- {settings.model_checkpoint}", flush=True)
        return
    try:
        from models.registry import list_models

        names = list_models()
    except Exception as exc:  # report, but still serve: health and read endpoints work without a model
        print(f"WARNING: cannot list models ({exc})", flush=True)
        return
    if names:
        print(f"models      {', '.join(names)}", flush=True)
    else:
        print(
            "WARNING: no model checkpoint is shipped under models/checkpoints/; jobs will be rejected.\n"
            "         Train one (python -m models.train --config models/configs/tiny.yaml --out-dir var/tiny)\n"
            "         and start with MODEL_CHECKPOINT=var/tiny/model.pt",
            flush=True,
        )


def run_all(args: argparse.Namespace) -> int:
    settings = get_settings()
    env = {**os.environ, **start_services()}
    migrate(env)
    ensure_local_key(env)
    warn_if_no_model()
    logs = settings.data_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    py = sys.executable
    worker_cmd = [
        py,
        "-m",
        "celery",
        "-A",
        "worker.celery_app:celery_app",
        "worker",
        "-Q",
        settings.celery_queue,
        "--concurrency",
        str(args.concurrency),
        "--pool",
        "prefork",
        "--loglevel",
        "INFO",
        "-n",
        "local@%h",
    ]
    # DFT verifications (POST /v1/structures/{id}/verify): their own queue and worker, one at a time,
    # without the sampling model (each GPAW run is its own capped child process).
    dft_cmd = [*worker_cmd[:7], settings.dft_queue, "--concurrency", "1", "--pool", "prefork",
               "--loglevel", "INFO", "-n", "dft@%h"]
    dft_env = {**env, "PRELOAD_MODEL": "false", "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    # Webhook deliveries (jobs with a callback_url): the delivery task only, no model, a few threads.
    hook_cmd = [py, "-m", "celery", "-A", "worker.webhook_app:celery_app", "worker", "-Q", settings.webhook_queue,
                "--pool", "threads", "--concurrency", "4", "--loglevel", "INFO", "-n", "webhooks@%h"]
    api_cmd = [
        py,
        "-m",
        "uvicorn",
        "app.main:app",
        "--host",
        settings.api_host,
        "--port",
        str(settings.api_port),
    ]
    def say(message: str) -> None:
        print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)

    procs = [
        Supervised("worker", worker_cmd, REPO, env, log_path=logs / "worker.log", say=say),
        Supervised("API", api_cmd, REPO, env, say=say),
        Supervised("DFT worker", dft_cmd, REPO, dft_env, log_path=logs / "dft_worker.log", say=say),
        Supervised("webhook worker", hook_cmd, REPO, env, log_path=logs / "webhook_worker.log", say=say),
    ]
    for p in procs:
        p.start()
    print(f"worker      pid {procs[0].pid}  (log {logs / 'worker.log'})", flush=True)
    print(f"DFT worker  pid {procs[2].pid}  (queue {settings.dft_queue}, log {logs / 'dft_worker.log'})", flush=True)
    print(
        f"webhooks    pid {procs[3].pid}  (queue {settings.webhook_queue}, log {logs / 'webhook_worker.log'})",
        flush=True,
    )
    print(
        f"API         http://{settings.api_host}:{settings.api_port}  (docs at /docs; pid {procs[1].pid})",
        flush=True,
    )

    stopping = False

    def _stop(*_):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    try:
        while not stopping:
            for p in procs:
                p.check()
            time.sleep(0.5)
    finally:
        for p in procs:
            p.stop()
        if not args.keep_services:
            stop_services()
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("command", nargs="?", default="run", choices=["run", "services", "stop", "migrate"])
    parser.add_argument("--concurrency", type=int, default=1, help="worker processes (default 1)")
    parser.add_argument("--keep-services", action="store_true", help="leave PostgreSQL/Redis running on exit")
    args = parser.parse_args()
    if args.command == "services":
        env = start_services()
        migrate(env)
        return 0
    if args.command == "stop":
        stop_services()
        return 0
    if args.command == "migrate":
        migrate({k: v for k, v in os.environ.items() if k == "DATABASE_URL"})
        return 0
    return run_all(args)


if __name__ == "__main__":
    raise SystemExit(main())
