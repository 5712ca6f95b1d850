"""A chunk that kills its worker every time is not redelivered forever: after MAX_CHUNK_ATTEMPTS
claims that each ended with a dead worker (stale heartbeat), the reaper marks it failed with the reason
and the job ends failed, stating the partial result it keeps."""

from __future__ import annotations

import uuid

from sqlalchemy import text

from app.core.config import get_settings
from app.core.db import get_engine, session_scope
from app.tables import ChunkState, Job, JobChunk, JobState
from worker import store
from worker.reaper import reap_once
from worker.tasks import run_chunk


def _die(job_id: uuid.UUID, chunk_index: int) -> None:
    """What a worker killed mid-chunk leaves behind: a running chunk whose heartbeat stopped."""
    with get_engine().begin() as conn:
        conn.execute(
            text(
                "UPDATE job_chunks SET heartbeat_at = now() - interval '1 hour' "
                "WHERE job_id = :j AND chunk_index = :c"
            ),
            {"j": job_id, "c": chunk_index},
        )


def _chunk(job_id: uuid.UUID, index: int) -> JobChunk:
    with session_scope() as s:
        return s.get(JobChunk, (job_id, index))


def _job(job_id: uuid.UUID) -> Job:
    with session_scope() as s:
        return s.get(Job, job_id)


def test_a_chunk_whose_worker_keeps_dying_fails_the_job_with_its_reason(job_factory):
    limit = get_settings().max_chunk_attempts
    assert limit == 3
    job = job_factory(num_samples=12, seed=7, steps=5)  # chunks 0, 1, 2
    assert run_chunk(str(job.id), 0) == "committed"  # one chunk is stored: a partial result
    for attempt in range(1, limit + 1):
        claim = store.claim_chunk(job.id, 1, f"doomed-{attempt}", stale_after=30, max_attempts=limit)
        assert claim is not None, attempt
        _die(job.id, 1)
        reap_once()
        chunk = _chunk(job.id, 1)
        if attempt < limit:
            assert chunk.state == ChunkState.pending and chunk.attempts == attempt  # re-enqueued
    chunk = _chunk(job.id, 1)
    assert chunk.state == ChunkState.failed and chunk.attempts == limit
    assert f"died {limit} times" in chunk.error and "doomed-3" in chunk.error
    failed = _job(job.id)
    assert failed.state == JobState.failed and failed.finished_at is not None
    assert failed.error.startswith("chunk 1:") and "4 of 12 structures were stored" in failed.error
    assert _chunk(job.id, 2).state == ChunkState.cancelled
    # Nothing runs it again: a redelivered message is skipped, the reaper leaves it alone.
    assert run_chunk(str(job.id), 1) == "skipped"
    reap_once()
    assert _chunk(job.id, 1).state == ChunkState.failed


def test_a_stale_chunk_at_the_limit_is_not_taken_over_by_a_redelivery(job_factory):
    job = job_factory(num_samples=4, seed=8, steps=5)
    for attempt in range(2):
        assert store.claim_chunk(job.id, 0, f"w{attempt}", stale_after=30, max_attempts=2) is not None
        _die(job.id, 0)
        if attempt == 0:
            with get_engine().begin() as conn:  # what the reaper would do between the two deaths
                conn.execute(
                    text("UPDATE job_chunks SET state = 'pending' WHERE job_id = :j"), {"j": job.id}
                )
    assert store.claim_chunk(job.id, 0, "w2", stale_after=30, max_attempts=2) is None
    assert store.fail_exhausted_chunks(stale_after=30, max_attempts=2) == [(job.id, 0)]
    assert _job(job.id).state == JobState.failed
