"""Shared fixtures for the service tests: real PostgreSQL + Redis (from wheels) on free ports in a
temp dir, a tiny trained model, a real Celery worker process and a real uvicorn server.

Everything expensive is session-scoped and created only when a test asks for it, so model tests
never start a database.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
TINY_CONFIG = REPO / "models" / "configs" / "tiny.yaml"
MODEL_CACHE = Path(os.environ.get("MATTERGEN_TEST_CACHE", REPO / ".cache" / "service-tests"))

# Short timings so crash recovery and cancellation are observable within seconds.
FAST_SETTINGS = {
    "CHUNK_SIZE": "4",
    "HEARTBEAT_INTERVAL": "0.5",
    "STALE_AFTER": "3",
    "REAPER_INTERVAL": "1",
    "PROGRESS_INTERVAL": "0.1",
    "CANCEL_POLL_INTERVAL": "0.1",
    "READINESS_TIMEOUT": "1.0",
    "TORCH_THREADS": "1",
    "CELERY_QUEUE": "sampling-test",
    # Relaxation and DFT verification (issue 17) kept small: a few FIRE steps, a tiny GPAW grid.
    "RELAX_MAX_STEPS": "8",
    "DFT_QUEUE": "dft-test",
    "DFT_SETTINGS": '{"kpt_length": 3.0, "h": 0.3}',
    "DFT_MAX_SECONDS": "240",
    # Webhooks (issue 18): the receivers are loopback http.servers; quick retries and sweeps.
    "WEBHOOK_QUEUE": "webhooks-test",
    "WEBHOOK_BACKOFF_BASE": "0.5",
    "WEBHOOK_MAX_ATTEMPTS": "4",
    "WEBHOOK_TIMEOUT": "5",
    "WEBHOOK_SWEEP_INTERVAL": "1",
}


def _clear_settings_caches() -> None:
    from app.core.config import get_settings
    from app.core.db import reset_engine
    from app.core.task_queue import get_task_queue
    from app.services.model_registry import available_models

    get_settings.cache_clear()
    available_models.cache_clear()
    get_task_queue.cache_clear()  # rebuilt on next use from the settings now in force
    reset_engine()


@pytest.fixture(scope="session")
def tiny_checkpoint() -> Path:
    """Train models/configs/tiny.yaml once; cached across sessions, keyed by the hash of the config and
    of the model code (a change to the network or checkpoint format invalidates the cache)."""
    h = hashlib.sha256(TINY_CONFIG.read_bytes())
    sources = [REPO / "models" / "train.py", REPO / "models" / "sample.py"]
    sources += sorted((REPO / "models" / "diffusion").glob("*.py")) + sorted(
        (REPO / "models" / "network").glob("*.py")
    )
    for path in sources:
        if path.exists():
            h.update(path.read_bytes())
    digest = h.hexdigest()[:16]
    out_dir = MODEL_CACHE / f"tiny-{digest}"
    model = out_dir / "model.pt"
    if not model.exists():
        env = {**os.environ, "OMP_NUM_THREADS": "1"}
        code = (
            "import torch; torch.set_num_threads(1)\n"
            "from models.train import train\n"
            f"train({str(TINY_CONFIG)!r}, {str(out_dir)!r})\n"
        )
        subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, check=True, capture_output=True)
    assert model.exists()
    return model


@dataclass
class Services:
    database_url: str
    redis_url: str
    root: Path
    env: dict[str, str] = field(default_factory=dict)


@pytest.fixture(scope="session")
def services() -> Iterator[Services]:
    """Embedded PostgreSQL + Redis, migrated, with this process's settings pointed at them.

    The data lives in our own temp dir, not pytest's tmp_path: pytest prunes old numbered tmp dirs
    of *other* concurrent sessions, which would delete a running server's data under it.
    """
    from app.core.migrate import upgrade
    from app.local_services import EmbeddedPostgres, EmbeddedRedis, free_port

    root = Path(tempfile.mkdtemp(prefix="mattergen-services-"))
    pg = EmbeddedPostgres(root / "postgres", free_port()).start()
    redis = EmbeddedRedis(root / "redis", free_port()).start()
    env = {"DATABASE_URL": pg.url, "REDIS_URL": redis.url, "DATA_DIR": str(root), **FAST_SETTINGS}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    # Jobs submitted through the in-process app go to a queue no worker subprocess consumes, so unit
    # tests never feed work to the integration tests' worker (subprocesses get env["CELERY_QUEUE"]).
    os.environ["CELERY_QUEUE"] = "sampling-inprocess"
    _clear_settings_caches()
    upgrade(pg.url)
    try:
        yield Services(pg.url, redis.url, root, env)
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        _clear_settings_caches()
        redis.stop(save=False)
        pg.stop(mode="immediate")
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def model_env(services: Services, tiny_checkpoint: Path) -> dict[str, str]:
    env = {**services.env, "MODEL_CHECKPOINT": str(tiny_checkpoint), "MODEL_NAME": "default"}
    os.environ.update({"MODEL_CHECKPOINT": str(tiny_checkpoint), "MODEL_NAME": "default"})
    _clear_settings_caches()
    return env


class WorkerProcess:
    """A real `celery worker` subprocess (own process group, so SIGKILL takes its pool child too)."""

    def __init__(
        self,
        env: dict[str, str],
        log_dir: Path,
        queue: str | None = None,
        name: str = "test",
        app: str = "worker.celery_app:celery_app",
        pool: str = "prefork",
        concurrency: int = 1,
    ):
        self.env = {**os.environ, **env, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
        self.app, self.pool, self.concurrency = app, pool, concurrency
        self.log_dir = log_dir
        self.queue = queue or self.env["CELERY_QUEUE"]
        self.name = name
        self.proc: subprocess.Popen | None = None
        self.starts = 0

    def start(self, timeout: float = 60.0) -> WorkerProcess:
        self.starts += 1
        log = self.log_dir / f"{self.name}-worker-{self.starts}.log"
        self.log = log
        cmd = [
            sys.executable,
            "-m",
            "celery",
            "-A",
            self.app,
            "worker",
            "-Q",
            self.queue,
            "--concurrency",
            str(self.concurrency),
            "--pool",
            self.pool,
            "--loglevel",
            "INFO",
            "-n",
            f"{self.name}{self.starts}@%h",
            "--without-gossip",
            "--without-mingle",
        ]
        self.proc = subprocess.Popen(
            cmd,
            cwd=REPO,
            env=self.env,
            stdout=open(log, "wb"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = log.read_text(errors="replace")
            if " ready." in text:
                return self
            if self.proc.poll() is not None:
                raise RuntimeError(f"worker exited with {self.proc.returncode}:\n{text[-3000:]}")
            time.sleep(0.2)
        raise RuntimeError(f"worker not ready within {timeout} s:\n{log.read_text()[-3000:]}")

    def kill(self) -> None:
        """SIGKILL the whole worker (main process and pool child): nothing gets to clean up."""
        assert self.proc is not None
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)


@pytest.fixture(scope="session")
def worker(services: Services, model_env: dict[str, str]) -> Iterator[WorkerProcess]:
    log_dir = services.root / "worker-logs"
    log_dir.mkdir()
    proc = WorkerProcess(model_env, log_dir).start()
    try:
        yield proc
    finally:
        proc.stop()


@pytest.fixture(scope="session")
def dft_worker(services: Services, model_env: dict[str, str]) -> Iterator[WorkerProcess]:
    """The DFT verification worker (queue DFT_QUEUE, concurrency 1, no sampling model), as `make run`
    starts it."""
    log_dir = services.root / "dft-worker-logs"
    log_dir.mkdir()
    env = {**model_env, "PRELOAD_MODEL": "false", "OPENBLAS_NUM_THREADS": "1"}
    proc = WorkerProcess(env, log_dir, queue=model_env["DFT_QUEUE"], name="dft").start()
    try:
        yield proc
    finally:
        proc.stop()


@pytest.fixture(scope="session")
def webhook_worker(services: Services, model_env: dict[str, str]) -> Iterator[WorkerProcess]:
    """The webhook worker (queue WEBHOOK_QUEUE, the delivery task only, no model), as `make run` starts it."""
    log_dir = services.root / "webhook-worker-logs"
    log_dir.mkdir()
    proc = WorkerProcess(
        model_env,
        log_dir,
        queue=model_env["WEBHOOK_QUEUE"],
        name="webhook",
        app="worker.webhook_app:celery_app",
        pool="threads",
        concurrency=4,
    ).start()
    try:
        yield proc
    finally:
        proc.stop()


@contextmanager
def uvicorn_api(env: dict[str, str], log: Path) -> Iterator[str]:
    """A real uvicorn process serving app.main:app on a free port with ``env``; yields its URL once
    /healthz answers, and stops the process group afterwards."""
    import httpx

    from app.local_services import free_port

    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "app.main:app", "--host", "127.0.0.1", "--port", str(port)],
        cwd=REPO,
        env=env,
        stdout=open(log, "wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"API did not start:\n{log.read_text()[-3000:]}")
            time.sleep(0.2)
        yield url
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=20)


@pytest.fixture(scope="session")
def api_url(services: Services, model_env: dict[str, str]) -> Iterator[str]:
    """A real uvicorn process serving app.main:app on a free port."""
    with uvicorn_api({**os.environ, **model_env}, services.root / "api.log") as url:
        yield url


@dataclass(frozen=True)
class KeyForTests:
    id: object  # uuid.UUID
    secret: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.secret}"}


def make_key(name: str, **options) -> KeyForTests:
    """A real API key in the test database (quotas high unless given: in-process jobs never finish)."""
    from app.core.db import get_sessionmaker
    from app.services.api_keys import create_key

    options.setdefault("max_active_jobs", 1_000_000)
    options.setdefault("max_queued_samples", 1_000_000_000)
    with get_sessionmaker()() as session:
        key = create_key(session, name, **options)
    return KeyForTests(key.id, key.secret)


@pytest.fixture(scope="session")
def api_key(services: Services) -> KeyForTests:
    """The key the `client` and `http` fixtures send (an ordinary key: it sees only its own jobs)."""
    return make_key("tests")


@pytest.fixture(scope="session")
def http(api_url: str, api_key: KeyForTests):
    import httpx

    with httpx.Client(base_url=api_url, timeout=30, headers=api_key.headers) as client:
        yield client


@pytest.fixture()
def client(model_env: dict[str, str], api_key: KeyForTests):
    """In-process TestClient against the real database (for validation and DB-backed unit tests),
    sending the `api_key` fixture's key."""
    from fastapi.testclient import TestClient

    from app.main import app

    with TestClient(app, headers=api_key.headers) as c:
        yield c


@pytest.fixture()
def job_factory(model_env: dict[str, str], api_key: KeyForTests):
    """Create jobs straight in the database (no broker), owned by the `api_key` key, for tests that
    drive chunks in-process.

    Sampling in this process runs with one torch thread (restored afterwards): two threads on two
    shared cores oversubscribe and were 30x slower.
    """
    import torch

    from app.core.config import get_settings
    from app.core.db import get_sessionmaker
    from app.schemas.jobs import JobCreate
    from app.services.jobs import create_job

    def make(chunk_size: int = 4, idempotency_key: str | None = None, owner=api_key.id, **body):
        body.setdefault("num_samples", 4)
        body.setdefault("seed", 1)
        with get_sessionmaker()() as session:
            job, _ = create_job(
                session,
                JobCreate(**body),
                model_name=get_settings().model_name,
                chunk_size=chunk_size,
                idempotency_key=idempotency_key,
                owner_key_id=owner,
                # This process' queue, which no worker subprocess consumes or reaps.
                queue=get_settings().celery_queue,
            )
            return job

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield make
    finally:
        torch.set_num_threads(threads)


REAL_SERVICE_FIXTURES = {
    "services", "model_env", "client", "job_factory", "worker", "dft_worker", "webhook_worker", "api_url", "http",
    "api_key",
}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests that start real PostgreSQL/Redis/worker processes carry the `integration` marker, so
    `pytest -m "not integration"` runs only the pure unit tests."""
    for item in items:
        if REAL_SERVICE_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.integration)


def pytest_configure(config: pytest.Config) -> None:
    # starlette's TestClient warns that it will move to httpx2; irrelevant to what we test.
    config.addinivalue_line("filterwarnings", "ignore:Using `httpx` with `starlette.testclient`")
    # spglib (via pymatgen) announces an API change on every call.
    config.addinivalue_line("filterwarnings", "ignore:Set OLD_ERROR_HANDLING:DeprecationWarning")
