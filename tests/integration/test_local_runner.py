"""`make run` (scripts/run_local.py): embedded PostgreSQL + Redis, migrations, a local API key, a
supervised worker and the API; a SIGKILLed worker master is restarted and its job completes; Ctrl-C
stops everything; the data under DATA_DIR survives a restart."""

from __future__ import annotations

import os
import re
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
        RELAX_MAX_STEPS="8",  # a few CHGNet FIRE steps per crystal (issue 17), as in the other service tests
        # Short recovery timings so the killed worker's chunk is re-run within seconds.
        HEARTBEAT_INTERVAL="0.5",
        STALE_AFTER="3",
        REAPER_INTERVAL="1",
    )
    return env


def _wait_output(log: Path, needle: str, proc: subprocess.Popen, timeout: float = 60) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = log.read_text(errors="replace")
        if needle in text:
            return text
        assert proc.poll() is None, f"run_local.py exited early:\n{text[-3000:]}"
        time.sleep(0.2)
    raise AssertionError(f"{needle!r} not in the runner output:\n{log.read_text()[-3000:]}")


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


def test_run_local_serves_jobs_survives_a_worker_kill_and_keeps_data(scratch, tiny_checkpoint):
    env = _env(scratch, tiny_checkpoint)
    url = f"http://127.0.0.1:{env['API_PORT']}"
    runner = [sys.executable, "scripts/run_local.py"]
    log = scratch / "runner.log"
    proc = subprocess.Popen(runner, cwd=REPO, env=env, stdout=open(log, "wb"), stderr=subprocess.STDOUT)
    try:
        _wait_ready(url, proc)
        key = (scratch / "var" / "api_key").read_text().strip()
        assert key in log.read_text()  # printed on first start
        assert httpx.get(f"{url}/v1/jobs").status_code == 401
        auth = {"Authorization": f"Bearer {key}"}
        body = {"num_samples": 8, "seed": 3, "target": {"band_gap": 1.0}, "steps": 200}
        r = httpx.post(f"{url}/v1/jobs", json=body, headers=auth)
        assert r.status_code == 202, r.text
        job_id = r.json()["data"]["id"]

        def job() -> dict:
            return httpx.get(f"{url}/v1/jobs/{job_id}", headers=auth).json()["data"]

        deadline = time.monotonic() + 120
        while job()["progress"] <= 0.05:
            assert time.monotonic() < deadline, job()
            time.sleep(0.1)
        # SIGKILL the Celery master mid-chunk: the runner must restart it, not stop the stack.
        assert re.search(r"DFT worker +pid \d+ +\(queue dft", log.read_text())  # make run starts it too
        assert re.search(r"webhooks +pid \d+ +\(queue ", log.read_text())  # and the webhook worker
        worker_pid = int(re.search(r"worker +pid (\d+)", log.read_text()).group(1))
        os.kill(worker_pid, signal.SIGKILL)
        _wait_output(log, f"worker (pid {worker_pid}) exited with code -9", proc)
        _wait_output(log, "worker restarted (pid", proc)
        deadline = time.monotonic() + 180
        while (state := job())["state"] != "succeeded":
            assert state["state"] in ("queued", "running") and time.monotonic() < deadline, state
            time.sleep(0.3)
        assert state["num_structures"] == 8
        assert httpx.get(f"{url}/healthz").status_code == 200  # the API was never down

        # The API process dies too: it comes back on the same port, and the data is all there.
        api_pid = int(re.search(r"API +http\S+ +\(docs at /docs; pid (\d+)\)", log.read_text()).group(1))
        os.kill(api_pid, signal.SIGKILL)
        _wait_output(log, f"API (pid {api_pid}) exited with code -9", proc)
        _wait_output(log, "API restarted (pid", proc)
        _wait_ready(url, proc)
        assert job()["num_structures"] == 8
    finally:
        proc.send_signal(signal.SIGINT)  # what Ctrl-C on `make run` does
        proc.wait(timeout=90)
    out = log.read_text()
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
            attempts = c.execute("SELECT attempts FROM job_chunks WHERE job_id = %s", (job_id,)).fetchone()
            count = c.execute("SELECT count(*) FROM structures WHERE job_id = %s", (job_id,)).fetchone()
            # The default stack migrates to head and its worker predicts properties (PREDICT_PROPERTIES=true).
            statuses = c.execute(
                "SELECT properties_status, band_gap_pred IS NOT NULL FROM structures WHERE job_id = %s",
                (job_id,),
            ).fetchall()
        assert state == ("succeeded",) and count == (8,)
        # Every crystal went through prediction (a pathological one may get 'failed', with its reason);
        # none was skipped as disabled or unavailable, and most got a band gap.
        assert {status for status, _ in statuses} <= {"computed", "partial", "failed"}, statuses
        assert sum(has_gap for _, has_gap in statuses) >= 6, statuses
        assert attempts[0] >= 2  # the killed worker's chunk was run again
    finally:
        subprocess.run([*runner, "stop"], cwd=REPO, env=env, check=True, capture_output=True, timeout=120)
    assert not port_open("127.0.0.1", int(env["LOCAL_PG_PORT"]))
