"""`make run` (scripts/run_local.py): embedded PostgreSQL + Redis, migrations, a worker and the API;
Ctrl-C stops everything; the data under DATA_DIR survives a restart."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from app.local_services import free_port, port_open

REPO = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.integration]


def _env(tmp_path: Path, tiny_checkpoint: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env.update(
        DATA_DIR=str(tmp_path / "var"),
        LOCAL_PG_PORT=str(free_port()),
        LOCAL_REDIS_PORT=str(free_port()),
        API_PORT=str(free_port()),
        MODEL_CHECKPOINT=str(tiny_checkpoint),
        CELERY_QUEUE="sampling-runner-test",
        TORCH_THREADS="1",
    )
    return env


def _wait_ready(url: str, proc: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, "run_local.py exited early"
        try:
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise AssertionError("local stack never became ready")


@pytest.fixture()
def scratch() -> Iterator[Path]:
    """Own temp dir: pytest prunes numbered tmp dirs of concurrent sessions, servers included."""
    path = Path(tempfile.mkdtemp(prefix="mattergen-runner-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_run_local_serves_jobs_and_keeps_data_across_restarts(scratch, tiny_checkpoint):
    env = _env(scratch, tiny_checkpoint)
    url = f"http://127.0.0.1:{env['API_PORT']}"
    runner = [sys.executable, "scripts/run_local.py"]
    proc = subprocess.Popen(
        runner, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        _wait_ready(url, proc)
        r = httpx.post(f"{url}/v1/jobs", json={"num_samples": 2, "seed": 3, "target": {"band_gap": 1.0}})
        assert r.status_code == 202, r.text
        job_id = r.json()["data"]["id"]
        deadline = time.monotonic() + 120
        while httpx.get(f"{url}/v1/jobs/{job_id}").json()["data"]["state"] != "succeeded":
            assert time.monotonic() < deadline
            time.sleep(0.3)
    finally:
        proc.send_signal(signal.SIGINT)  # what Ctrl-C on `make run` does
        out, _ = proc.communicate(timeout=90)
    assert proc.returncode == 0, out
    assert "stopped EmbeddedPostgres" in out and "stopped EmbeddedRedis" in out
    for port in (env["API_PORT"], env["LOCAL_PG_PORT"], env["LOCAL_REDIS_PORT"]):
        assert not port_open("127.0.0.1", int(port)), port

    # Restart only the servers: the job and its structures are still there.
    subprocess.run([*runner, "services"], cwd=REPO, env=env, check=True, capture_output=True, timeout=120)
    try:
        import psycopg

        with psycopg.connect(
            host="127.0.0.1", port=int(env["LOCAL_PG_PORT"]), user="postgres", dbname="mattergen"
        ) as c:
            state = c.execute("SELECT state FROM jobs WHERE id = %s", (job_id,)).fetchone()
            count = c.execute("SELECT count(*) FROM structures WHERE job_id = %s", (job_id,)).fetchone()
            # The default stack migrates to head and its worker predicts properties (PREDICT_PROPERTIES=true).
            predicted = c.execute(
                "SELECT count(*) FROM structures WHERE job_id = %s AND band_gap_pred IS NOT NULL "
                "AND properties_status IN ('computed', 'partial')",
                (job_id,),
            ).fetchone()
        assert state == ("succeeded",) and count == (2,) and predicted == (2,)
    finally:
        subprocess.run([*runner, "stop"], cwd=REPO, env=env, check=True, capture_output=True, timeout=120)
    assert not port_open("127.0.0.1", int(env["LOCAL_PG_PORT"]))
