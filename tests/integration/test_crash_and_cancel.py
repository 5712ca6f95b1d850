"""A SIGKILLed worker loses only its chunk in flight, which is re-run; cancel is cooperative."""

from __future__ import annotations

import time
import uuid

import pytest
from sqlalchemy import create_engine, text

from tests.integration.helpers import all_structures, submit, wait_for, wait_terminal

pytestmark = [pytest.mark.integration]


@pytest.fixture(scope="module")
def db(services):
    engine = create_engine(services.database_url)
    yield engine
    engine.dispose()


def chunk_rows(db, job_id: str) -> list[dict]:
    with db.connect() as conn:
        rows = (
            conn.execute(
                text(
                    "SELECT chunk_index, state, attempts, progress FROM job_chunks WHERE job_id = :j ORDER BY chunk_index"
                ),
                {"j": uuid.UUID(job_id)},
            )
            .mappings()
            .all()
        )
    return [dict(r) for r in rows]


def stored_indices(db, job_id: str) -> list[int]:
    with db.connect() as conn:
        return list(
            conn.execute(
                text("SELECT sample_index FROM structures WHERE job_id = :j ORDER BY sample_index"),
                {"j": uuid.UUID(job_id)},
            ).scalars()
        )


def test_sigkill_worker_mid_job_then_restart(http, worker, db):
    # 3 chunks of 4 samples; 150 denoising steps make each chunk take a few seconds.
    body = {"target": {"band_gap": 3.0}, "num_samples": 12, "seed": 5, "steps": 150}
    job = submit(http, body)
    jid = job["id"]

    def mid_second_chunk(j: dict) -> bool:
        return j["chunks_done"] >= 1 and j["progress"] > j["chunks_done"] * 4 / 12 + 0.03

    wait_for(http, jid, mid_second_chunk, timeout=120, interval=0.05)
    worker.kill()
    before = stored_indices(db, jid)
    chunks = chunk_rows(db, jid)
    running = [c for c in chunks if c["state"] == "running"]
    assert len(running) == 1, chunks  # the chunk in flight died with the worker
    assert len(before) % 4 == 0 and 4 <= len(before) < 12

    worker.start()
    final = wait_terminal(http, jid, timeout=180)
    assert final["state"] == "succeeded", final
    assert final["num_structures"] == 12
    indices = stored_indices(db, jid)
    assert indices == list(range(12)), indices  # nothing lost, nothing duplicated
    assert set(before) <= set(indices)
    rerun = [c for c in chunk_rows(db, jid) if c["chunk_index"] == running[0]["chunk_index"]][0]
    assert rerun["state"] == "done" and rerun["attempts"] >= 2

    # The re-run chunk sampled exactly what an uninterrupted run samples (seed is per chunk).
    again = submit(http, body)
    assert wait_terminal(http, again["id"], timeout=180)["state"] == "succeeded"
    a, b = all_structures(http, jid), all_structures(http, again["id"])
    assert [(s["formula"], s["charges"]) for s in a] == [(s["formula"], s["charges"]) for s in b]


def test_cancel_running_job_keeps_stored_chunks(http, worker, db):
    job = submit(http, {"target": {"band_gap": 1.5}, "num_samples": 40, "seed": 9, "steps": 150})
    jid = job["id"]
    wait_for(
        http,
        jid,
        lambda j: j["chunks_done"] >= 1 and j["progress"] > j["chunks_done"] * 4 / 40 + 0.01,
        timeout=120,
        interval=0.05,
    )
    r = http.post(f"/v1/jobs/{jid}/cancel")
    assert r.status_code == 200, r.text
    assert r.json()["data"]["state"] == "cancelled"
    stored_at_cancel = r.json()["data"]["num_structures"]
    assert stored_at_cancel >= 4

    # The chunk in flight notices within a poll interval and is dropped, not committed.
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        states = {c["state"] for c in chunk_rows(db, jid)}
        if "running" not in states and "pending" not in states:
            break
        time.sleep(0.1)
    assert states <= {"done", "cancelled"}, chunk_rows(db, jid)
    time.sleep(1.0)
    final = http.get(f"/v1/jobs/{jid}").json()["data"]
    assert final["state"] == "cancelled"
    assert final["num_structures"] == stored_at_cancel < 40
    assert stored_indices(db, jid) == list(range(stored_at_cancel))
    assert final["timings"]["finished_at"] is not None

    again = http.post(f"/v1/jobs/{jid}/cancel")
    assert again.status_code == 409 and "already cancelled" in again.json()["errors"][0]["message"]
    # The worker is free again: a new job completes.
    small = submit(http, {"num_samples": 1, "seed": 1})
    assert wait_terminal(http, small["id"])["state"] == "succeeded"
