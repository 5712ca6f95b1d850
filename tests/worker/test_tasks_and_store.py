"""The chunk task's claim/commit rules, run in-process against the real database and the tiny model
(the same `run_chunk` a Celery worker runs; only the Celery transport is skipped)."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import func, select, text, update
from sqlalchemy.exc import OperationalError

from app.core.db import get_engine, session_scope
from app.tables import ChunkState, Job, JobChunk, JobState, Structure
from worker import store
from worker.tasks import run_chunk, sample_chunk


def _structures(job_id: uuid.UUID) -> list[int]:
    with session_scope() as s:
        return list(
            s.scalars(
                select(Structure.sample_index)
                .where(Structure.job_id == job_id)
                .order_by(Structure.sample_index)
            )
        )


def _job(job_id: uuid.UUID) -> Job:
    with session_scope() as s:
        job = s.get(Job, job_id)
        assert job is not None
        return job


def _chunk(job_id: uuid.UUID, index: int) -> JobChunk:
    with session_scope() as s:
        chunk = s.get(JobChunk, (job_id, index))
        assert chunk is not None
        return chunk


def test_run_chunk_commits_and_finalizes_and_is_idempotent(job_factory):
    job = job_factory(num_samples=6, seed=4, target={"band_gap": 2.0}, steps=10)
    assert run_chunk(str(job.id), 1) == "committed"
    assert _structures(job.id) == [4, 5]  # the last chunk holds samples 4..5
    assert _job(job.id).state == JobState.running
    assert run_chunk(str(job.id), 0) == "committed"
    done = _job(job.id)
    assert done.state == JobState.succeeded and done.finished_at is not None and done.first_structure_at
    assert done.checkpoint_sha256 and done.steps == 10
    # A redelivered task for a finished chunk changes nothing.
    assert run_chunk(str(job.id), 0) == "skipped"
    assert _structures(job.id) == list(range(6))
    chunk = _chunk(job.id, 0)
    assert chunk.attempts == 1 and chunk.sampling_seconds and chunk.sampling_seconds > 0


def test_fresh_claim_blocks_duplicate_and_stale_claim_is_taken_over(job_factory):
    job = job_factory(num_samples=4, seed=2, steps=10)
    first = store.claim_chunk(job.id, 0, "w1", stale_after=30)
    assert first is not None
    assert store.claim_chunk(job.id, 0, "w2", stale_after=30) is None  # heartbeat is fresh
    with get_engine().begin() as conn:
        conn.execute(
            text("UPDATE job_chunks SET heartbeat_at = now() - interval '1 hour' WHERE job_id = :j"),
            {"j": job.id},
        )
    # The dead worker's chunk is re-run by run_chunk (new claim token) ...
    assert run_chunk(str(job.id), 0) == "committed"
    assert _chunk(job.id, 0).attempts == 2
    # ... and the original holder, if it was only slow, can no longer commit over it.
    assert store.commit_chunk(first, [], 1.0) == "claim-lost"
    assert _structures(job.id) == [0, 1, 2, 3]
    assert _job(job.id).state == JobState.succeeded


def test_cancelled_job_is_not_claimed(job_factory, client):
    job = job_factory(num_samples=8, seed=3)
    assert client.post(f"/v1/jobs/{job.id}/cancel").status_code == 200
    assert store.claim_chunk(job.id, 0, "w", stale_after=30) is None
    assert run_chunk(str(job.id), 1) == "skipped"
    assert {c.state for c in (_chunk(job.id, 0), _chunk(job.id, 1))} == {ChunkState.cancelled}


def test_commit_after_cancel_is_discarded(job_factory):
    job = job_factory(num_samples=4, seed=3)
    claim = store.claim_chunk(job.id, 0, "w", stale_after=30)
    assert claim is not None and store.still_wanted(job.id, 0, claim.token)
    with session_scope() as s:
        s.execute(update(Job).where(Job.id == job.id).values(state=JobState.cancelled))
    assert not store.still_wanted(job.id, 0, claim.token)
    assert store.commit_chunk(claim, [], 0.1) == "job-cancelled"
    assert _chunk(job.id, 0).state == ChunkState.cancelled


def test_model_error_fails_the_job_with_its_message(job_factory):
    # Two required elements cannot fit in one-atom cells: the model refuses, the job says why.
    job = job_factory(num_samples=2, seed=1, num_atoms={"min": 1, "max": 1}, required_elements=["Na", "Cl"])
    assert run_chunk(str(job.id), 0) == "failed"
    failed = _job(job.id)
    assert failed.state == JobState.failed
    assert "required elements cannot fit" in failed.error and failed.error.startswith("chunk 0:")
    assert _chunk(job.id, 0).state == ChunkState.failed


def test_reaper_requeues_only_stale_chunks(job_factory, services):
    import redis

    from app.core.config import get_settings
    from worker.reaper import reap_once

    job = job_factory(num_samples=8, seed=6)
    assert store.claim_chunk(job.id, 0, "dead", stale_after=30) is not None
    assert store.claim_chunk(job.id, 1, "alive", stale_after=30) is not None
    with get_engine().begin() as conn:
        conn.execute(
            text(
                "UPDATE job_chunks SET heartbeat_at = now() - interval '1 minute' WHERE job_id = :j AND chunk_index = 0"
            ),
            {"j": job.id},
        )
    queue = get_settings().celery_queue
    r = redis.Redis.from_url(services.redis_url)
    before = r.llen(queue)
    assert reap_once() >= 1
    assert r.llen(queue) >= before + 1
    assert _chunk(job.id, 0).state == ChunkState.pending and _chunk(job.id, 0).claim_token is None
    assert _chunk(job.id, 1).state == ChunkState.running
    with session_scope() as s:
        assert (
            s.scalar(
                select(func.count())
                .select_from(JobChunk)
                .where(JobChunk.job_id == job.id, JobChunk.state == ChunkState.pending)
            )
            == 1
        )


def test_database_error_hands_the_chunk_back_instead_of_failing_the_job(job_factory, monkeypatch):
    job = job_factory(num_samples=2, seed=12, steps=5)

    def lost_connection(*args, **kwargs):
        raise OperationalError("COMMIT", {}, Exception("server closed the connection unexpectedly"))

    monkeypatch.setattr(store, "commit_chunk", lost_connection)
    with pytest.raises(OperationalError):
        run_chunk(str(job.id), 0)
    chunk = _chunk(job.id, 0)
    assert chunk.state == ChunkState.pending and chunk.claim_token is None
    assert chunk.attempts == 0  # a database blip is not a worker death (MAX_CHUNK_ATTEMPTS)
    assert _job(job.id).state == JobState.running and _job(job.id).error is None
    # Celery re-publishes the task on exactly this error.
    assert OperationalError in sample_chunk.autoretry_for
    monkeypatch.undo()
    assert run_chunk(str(job.id), 0) == "committed"
    assert _job(job.id).state == JobState.succeeded


def _formulas(job_id: uuid.UUID) -> list[str]:
    with session_scope() as s:
        return list(
            s.scalars(select(Structure.formula).where(Structure.job_id == job_id).order_by(Structure.sample_index))
        )


def test_charge_balance_option_reaches_the_sampler_and_old_jobs_sample_without_it(job_factory):
    body = {"num_samples": 16, "seed": 9, "steps": 10, "relax": False, "chunk_size": 16}
    closed = job_factory(**body)
    unclosed = job_factory(charge_balance=False, **body)
    old = job_factory(charge_balance=False, **body)
    with get_engine().begin() as conn:  # a job created before migration 0007 has no value
        conn.execute(text("UPDATE jobs SET charge_balance = NULL WHERE id = :j"), {"j": old.id})
    assert (_job(closed.id).charge_balance, _job(unclosed.id).charge_balance) == (True, False)
    for job in (closed, unclosed, old):
        assert run_chunk(str(job.id), 0) == "committed"
    assert _formulas(old.id) == _formulas(unclosed.id) != _formulas(closed.id)
