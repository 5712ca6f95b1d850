"""The worker's PostgreSQL operations. Each is one short transaction so that state is always visible
to the API and survives a crash of the worker.

Concurrency rules:
- A chunk is *claimed* by writing a fresh ``claim_token``; only the holder of the current token may
  report progress or commit results. A duplicate delivery of the same task finds the chunk claimed
  (fresh heartbeat) or done and does nothing.
- Committing a chunk and cancelling a job both lock the job row, so a chunk either lands before the
  cancel or is discarded after it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select, text, update
from sqlalchemy.dialects.postgresql import insert

from app.core.db import get_engine, session_scope
from app.core.generation import GenerationParams
from app.tables import TERMINAL_STATES, ChunkState, Job, JobChunk, JobState, Structure
from worker import screening


@dataclass(frozen=True)
class ClaimedChunk:
    job_id: uuid.UUID
    chunk_index: int
    start_index: int
    size: int
    seed: int
    token: uuid.UUID
    params: GenerationParams


def claim_chunk(
    job_id: uuid.UUID, chunk_index: int, worker: str, stale_after: float, max_attempts: int | None = None
) -> ClaimedChunk | None:
    """Claim the chunk if it is pending (or running with a stale heartbeat and fewer than
    ``max_attempts`` claims so far: the reaper fails it otherwise) and its job is active."""
    token = uuid.uuid4()
    with session_scope() as s:
        # Job row first (the lock order of every writer), then the chunk row in the UPDATE below.
        if _lock_job(s, job_id) is None:
            return None
        row = s.execute(
            text(
                """
                UPDATE job_chunks c
                   SET state = 'running', claim_token = :token, attempts = c.attempts + 1, worker = :worker,
                       heartbeat_at = now(), started_at = coalesce(c.started_at, now()), progress = 0,
                       error = NULL
                  FROM jobs j
                 WHERE c.job_id = :job_id AND c.chunk_index = :chunk_index AND j.id = c.job_id
                   AND j.state IN ('queued', 'running')
                   AND (c.state = 'pending'
                        OR (c.state = 'running' AND c.heartbeat_at < now() - make_interval(secs => :stale)
                            AND c.attempts < :max_attempts))
                RETURNING c.start_index, c.size, c.seed
                """
            ),
            {
                "token": token,
                "worker": worker,
                "job_id": job_id,
                "chunk_index": chunk_index,
                "stale": stale_after,
                "max_attempts": max_attempts if max_attempts is not None else 2**31 - 1,
            },
        ).one_or_none()
        if row is None:
            return None
        s.execute(
            update(Job)
            .where(Job.id == job_id, Job.state == JobState.queued)
            .values(state=JobState.running, started_at=func.now())
        )
        job = s.get(Job, job_id)
        assert job is not None
        return ClaimedChunk(
            job_id=job_id,
            chunk_index=chunk_index,
            start_index=row.start_index,
            size=row.size,
            seed=row.seed,
            token=token,
            params=GenerationParams.from_job(job),
        )


def record_model(job_id: uuid.UUID, checkpoint_sha256: str, steps: int) -> None:
    """Pin the checkpoint hash and the resolved step count on the job (first chunk wins)."""
    with session_scope() as s:
        s.execute(
            update(Job)
            .where(Job.id == job_id)
            .values(
                checkpoint_sha256=func.coalesce(Job.checkpoint_sha256, checkpoint_sha256),
                steps=func.coalesce(Job.steps, steps),
            )
        )


def heartbeat(job_id: uuid.UUID, chunk_index: int, token: uuid.UUID, progress: float | None = None) -> None:
    values: dict[str, Any] = {"heartbeat_at": func.now()}
    if progress is not None:
        values["progress"] = max(0.0, min(1.0, float(progress)))
    with get_engine().begin() as conn:
        conn.execute(
            update(JobChunk)
            .where(
                JobChunk.job_id == job_id, JobChunk.chunk_index == chunk_index, JobChunk.claim_token == token
            )
            .values(**values)
        )


def still_wanted(job_id: uuid.UUID, chunk_index: int, token: uuid.UUID) -> bool:
    """False once the job left the active states (cancel, failure) or another worker took the chunk."""
    with get_engine().connect() as conn:
        row = conn.execute(
            select(Job.state, JobChunk.claim_token)
            .join(JobChunk, JobChunk.job_id == Job.id)
            .where(Job.id == job_id, JobChunk.chunk_index == chunk_index)
        ).one_or_none()
    return row is not None and row.state in (JobState.queued, JobState.running) and row.claim_token == token


def _lock_job(s, job_id: uuid.UUID) -> Job | None:
    return s.scalar(select(Job).where(Job.id == job_id).with_for_update())


def _lock_owned_chunk(s, job_id: uuid.UUID, chunk_index: int, token: uuid.UUID) -> JobChunk | None:
    chunk = s.scalar(
        select(JobChunk)
        .where(JobChunk.job_id == job_id, JobChunk.chunk_index == chunk_index)
        .with_for_update()
    )
    if chunk is None or chunk.claim_token != token or chunk.state != ChunkState.running:
        return None
    return chunk


def commit_chunk(claim: ClaimedChunk, records: list[dict[str, Any]], sampling_seconds: float) -> str:
    """Store the chunk's structures and mark it done, atomically. Returns what happened."""
    with session_scope() as s:
        job = _lock_job(s, claim.job_id)
        if job is None:
            return "job-deleted"
        chunk = _lock_owned_chunk(s, claim.job_id, claim.chunk_index, claim.token)
        if chunk is None:
            return "claim-lost"
        if job.state in TERMINAL_STATES:
            # A screened job that already has its crystals ends succeeded: its late chunk is not needed.
            chunk.state = ChunkState.failed if job.state == JobState.failed else ChunkState.cancelled
            chunk.finished_at = datetime.now(UTC)
            return f"job-{job.state.value}"
        if records and job.screen is not None:
            screening.decide(s, job, records)
        if records:
            rows = [{"id": uuid.uuid4(), "job_id": claim.job_id, **r} for r in records]
            s.execute(
                insert(Structure).values(rows).on_conflict_do_nothing(constraint="uq_structures_job_sample")
            )
            if job.first_structure_at is None:
                job.first_structure_at = datetime.now(UTC)
        chunk.state = ChunkState.done
        chunk.progress = 1.0
        chunk.finished_at = datetime.now(UTC)
        chunk.sampling_seconds = sampling_seconds
        s.flush()
        _finalize_locked(s, job)
        return "committed"


def _finalize_locked(s, job: Job) -> None:
    """With the job row locked: succeed the job once every chunk is done."""
    if job.state in TERMINAL_STATES:
        return
    if job.screen is not None:
        screening.finalize(s, job)
        return
    not_done = s.scalar(
        select(func.count()).where(JobChunk.job_id == job.id, JobChunk.state != ChunkState.done)
    )
    if not_done:
        return
    stored = s.scalar(select(func.count()).select_from(Structure).where(Structure.job_id == job.id))
    job.finished_at = datetime.now(UTC)
    if stored == job.num_samples:
        job.state = JobState.succeeded
    else:  # cannot happen while sample indices are planned correctly; make it loud if it does
        job.state = JobState.failed
        job.error = f"all chunks done but {stored} structures stored for num_samples={job.num_samples}"


def release_chunk(claim: ClaimedChunk, state: ChunkState, error: str | None = None) -> None:
    """Give up a claimed chunk: cancelled (job cancelled / claim lost) or failed (fails the job)."""
    with session_scope() as s:
        job = _lock_job(s, claim.job_id)
        chunk = _lock_owned_chunk(s, claim.job_id, claim.chunk_index, claim.token)
        if job is None or chunk is None:
            return
        chunk.state = state
        chunk.error = error
        chunk.finished_at = datetime.now(UTC)
        if state == ChunkState.failed and job.state not in TERMINAL_STATES:
            job.state = JobState.failed
            job.error = f"chunk {claim.chunk_index}: {error}"
            job.finished_at = datetime.now(UTC)
            s.execute(
                update(JobChunk)
                .where(JobChunk.job_id == job.id, JobChunk.state == ChunkState.pending)
                .values(state=ChunkState.cancelled)
            )


def unclaim_chunk(claim: ClaimedChunk) -> None:
    """Return a claimed chunk to pending (its task will be retried). The claim does not count as an
    attempt: its worker did not die, the database was unreachable (MAX_CHUNK_ATTEMPTS counts deaths)."""
    with session_scope() as s:
        s.execute(
            update(JobChunk)
            .where(
                JobChunk.job_id == claim.job_id,
                JobChunk.chunk_index == claim.chunk_index,
                JobChunk.claim_token == claim.token,
                JobChunk.state == ChunkState.running,
            )
            .values(
                state=ChunkState.pending,
                claim_token=None,
                progress=0.0,
                attempts=func.greatest(JobChunk.attempts - 1, 0),
            )
        )


def requeue_stale_chunks(
    stale_after: float, max_attempts: int | None = None, queue_name: str | None = None
) -> list[tuple[uuid.UUID, int, str | None]]:
    """Reset running chunks whose heartbeat stopped (worker died) to pending; returns them for
    re-sending. Row locks make concurrent reapers (one per worker) reset each chunk only once.
    A chunk already claimed ``max_attempts`` times is left for :func:`fail_exhausted_chunks`."""
    limit = max_attempts if max_attempts is not None else 2**31 - 1
    with session_scope() as s:
        rows = s.execute(
            text(
                """
                UPDATE job_chunks c
                   SET state = 'pending', claim_token = NULL, heartbeat_at = now(), progress = 0,
                       enqueued_at = now()
                  FROM jobs j
                 WHERE j.id = c.job_id AND j.state IN ('queued', 'running')
                   AND c.state = 'running' AND c.heartbeat_at < now() - make_interval(secs => :stale)
                   AND c.attempts < :max_attempts
                   AND (CAST(:q AS text) IS NULL OR j.queue = :q OR j.queue IS NULL)
                RETURNING c.job_id, c.chunk_index, j.queue
                """
            ),
            {"stale": stale_after, "max_attempts": limit, "q": queue_name},
        ).all()
        # Chunks left 'running' by a dead worker of a job that has since ended: close them.
        s.execute(
            text(
                """
                UPDATE job_chunks c SET state = 'cancelled', finished_at = now()
                  FROM jobs j
                 WHERE j.id = c.job_id AND j.state IN ('succeeded', 'failed', 'cancelled')
                   AND c.state IN ('running', 'pending')
                   AND (c.heartbeat_at IS NULL OR c.heartbeat_at < now() - make_interval(secs => :stale))
                """
            ),
            {"stale": stale_after},
        )
    return [(r.job_id, r.chunk_index, r.queue) for r in rows]


def fail_exhausted_chunks(
    stale_after: float, max_attempts: int, queue_name: str | None = None
) -> list[tuple[uuid.UUID, int]]:
    """Chunks whose worker died ``max_attempts`` times while sampling them (stale heartbeat, that many
    claims) are marked failed with the reason, and their job ends ``failed``: the structures already
    stored stay available and the error says how many there are. Without this, a chunk that kills its
    worker every time would be redelivered forever."""
    stale = {"stale": stale_after, "max_attempts": max_attempts, "q": queue_name}
    failed = []
    with session_scope() as s:
        candidates = s.execute(
            text(
                """
                SELECT c.job_id, c.chunk_index FROM job_chunks c JOIN jobs j ON j.id = c.job_id
                 WHERE j.state IN ('queued', 'running') AND c.state = 'running'
                   AND c.heartbeat_at < now() - make_interval(secs => :stale) AND c.attempts >= :max_attempts
                   AND (CAST(:q AS text) IS NULL OR j.queue = :q OR j.queue IS NULL)
                """
            ),
            stale,
        ).all()
        for job_id, chunk_index in candidates:
            # Job row first, then the chunk: the same lock order as commit_chunk, so no deadlock.
            job = _lock_job(s, job_id)
            if job is None or job.state in TERMINAL_STATES:
                continue
            hit = s.execute(
                text(
                    """
                    UPDATE job_chunks SET state = 'failed', claim_token = NULL, finished_at = now(),
                           error = 'the worker process died ' || attempts || ' times while sampling this '
                                   || 'chunk (last: ' || coalesce(worker, '?') || '); given up after '
                                   || 'MAX_CHUNK_ATTEMPTS=' || :max_attempts
                     WHERE job_id = :j AND chunk_index = :c AND state = 'running' AND attempts >= :max_attempts
                       AND heartbeat_at < now() - make_interval(secs => :stale)
                    RETURNING error
                    """
                ),
                {**stale, "j": job_id, "c": chunk_index},
            ).one_or_none()
            if hit is None:
                continue
            stored = s.scalar(select(func.count()).select_from(Structure).where(Structure.job_id == job.id))
            job.state = JobState.failed
            job.error = (
                f"chunk {chunk_index}: {hit.error}. Partial result: {stored} of {job.num_samples} "
                "structures were stored and stay available."
            )
            job.finished_at = datetime.now(UTC)
            s.execute(
                update(JobChunk)
                .where(JobChunk.job_id == job.id, JobChunk.state == ChunkState.pending)
                .values(state=ChunkState.cancelled)
            )
            failed.append((job_id, chunk_index))
    return failed
