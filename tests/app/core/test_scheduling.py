"""Fair scheduling against the real database and Redis: a submission enqueues only the first chunk(s),
a finished chunk enqueues the next one at the back of the queue (so later jobs interleave), the reaper
tops up a job whose next send was lost, and re-running a chunk stays harmless."""

from __future__ import annotations

import base64
import json
import uuid

import pytest
import redis
from sqlalchemy import select

from app.core.config import get_settings
from app.core.db import get_sessionmaker
from app.core.scheduling import jobs_needing_chunks, schedule_chunks
from app.core.task_queue import get_task_queue
from app.tables import JobChunk
from worker.reaper import top_up
from worker.tasks import run_chunk


@pytest.fixture()
def queue_reader(services):
    r = redis.Redis.from_url(services.redis_url)
    name = get_settings().celery_queue

    def messages(job_ids: set[str]) -> list[tuple[str, int]]:
        """(job id, chunk index) of the queued tasks of these jobs, oldest first."""
        out = []
        for raw in reversed(r.lrange(name, 0, -1)):  # kombu LPUSHes: the oldest is last
            body = json.loads(base64.b64decode(json.loads(raw)["body"]))
            job_id, chunk_index = body[0]
            if job_id in job_ids:
                out.append((job_id, chunk_index))
        return out

    yield messages
    r.close()


def _enqueued(job_id: str) -> list[int]:
    with get_sessionmaker()() as s:
        return list(
            s.scalars(
                select(JobChunk.chunk_index)
                .where(JobChunk.job_id == uuid.UUID(job_id), JobChunk.enqueued_at.is_not(None))
                .order_by(JobChunk.chunk_index)
            )
        )


def test_a_small_job_is_queued_before_the_rest_of_a_big_one(client, queue_reader):
    assert get_settings().max_inflight_chunks_per_job == 1
    big = client.post("/v1/jobs", json={"num_samples": 40, "seed": 1, "steps": 5}).json()["data"]
    small = client.post("/v1/jobs", json={"num_samples": 1, "seed": 2, "steps": 5}).json()["data"]
    assert big["num_chunks"] == 10
    assert _enqueued(big["id"]) == [0] and _enqueued(small["id"]) == [0]
    ids = {big["id"], small["id"]}
    assert queue_reader(ids) == [(big["id"], 0), (small["id"], 0)]

    # The worker finishes big's chunk 0: big's chunk 1 goes to the back, behind the small job.
    assert run_chunk(big["id"], 0) == "committed"
    assert _enqueued(big["id"]) == [0, 1]
    assert queue_reader(ids) == [(big["id"], 0), (small["id"], 0), (big["id"], 1)]
    # Running a chunk twice (a duplicate message) changes nothing and enqueues nothing more.
    assert run_chunk(big["id"], 0) == "skipped"
    assert len(queue_reader(ids)) == 3


def test_the_reaper_tops_up_a_job_whose_next_send_was_lost(client, queue_reader):
    limit = get_settings().max_inflight_chunks_per_job
    job = client.post("/v1/jobs", json={"num_samples": 12, "seed": 3, "steps": 5}).json()["data"]
    jid = uuid.UUID(job["id"])
    with get_sessionmaker()() as s:
        assert jid not in jobs_needing_chunks(s, limit)  # chunk 0 is in flight
    # Chunk 0 finishes but the worker dies before enqueueing chunk 1 (simulated: no schedule call).
    from worker import store

    claim = store.claim_chunk(jid, 0, "w", stale_after=30)
    assert store.commit_chunk(claim, [], 0.1) == "committed"
    assert _enqueued(job["id"]) == [0]
    with get_sessionmaker()() as s:
        assert jid in jobs_needing_chunks(s, limit)
    assert top_up(limit) >= 1
    assert _enqueued(job["id"]) == [0, 1]
    assert queue_reader({job["id"]})[-1] == (job["id"], 1)
    with get_sessionmaker()() as s:
        assert jid not in jobs_needing_chunks(s, limit)


def test_a_failed_send_leaves_the_chunk_unscheduled(client, job_factory):
    from app.core.task_queue import TaskQueue, make_celery
    from app.local_services import free_port

    job = job_factory(num_samples=8)
    dead = TaskQueue(make_celery(f"redis://127.0.0.1:{free_port()}/0"), "nowhere")
    dead.celery.conf.broker_connection_max_retries = 0
    dead.celery.conf.broker_transport_options = {"max_retries": 0}
    with get_sessionmaker()() as s, pytest.raises(Exception):  # noqa: B017 - kombu's error type varies
        schedule_chunks(s, dead, job.id, 2)
        s.commit()
    assert _enqueued(str(job.id)) == []
    with get_sessionmaker()() as s:
        assert schedule_chunks(s, get_task_queue(), job.id, 2) == [0, 1]
        s.commit()
    assert _enqueued(str(job.id)) == [0, 1]
