"""Job lifecycle on the API side: create (idempotently), enqueue, describe, cancel."""

from __future__ import annotations

import hashlib
import json
import secrets
import uuid
from datetime import UTC, datetime

from sqlalchemy import case, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.chunking import plan_chunks
from app.core.generation import GenerationParams
from app.core.task_queue import TaskQueue
from app.schemas.jobs import SEED_MAX, JobCreate, JobOut, TimingsOut
from app.tables import TERMINAL_STATES, ChunkState, Job, JobChunk, JobState, Structure


class IdempotencyConflict(Exception):
    """The Idempotency-Key was already used for a different request body."""


class JobNotCancellable(Exception):
    def __init__(self, state: JobState):
        super().__init__(f"job is already {state.value}; only queued or running jobs can be cancelled")
        self.state = state


def request_fingerprint(req: JobCreate) -> str:
    canonical = json.dumps(req.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def create_job(
    session: Session, req: JobCreate, *, model_name: str, chunk_size: int, idempotency_key: str | None
) -> tuple[Job, bool]:
    """Insert the job and its chunk rows; returns (job, created). Commits."""
    fingerprint = request_fingerprint(req)
    if idempotency_key is not None:
        existing = session.scalar(select(Job).where(Job.idempotency_key == idempotency_key))
        if existing is not None:
            return _replay(existing, fingerprint), False

    seed = req.seed if req.seed is not None else secrets.randbelow(SEED_MAX + 1)
    plans = plan_chunks(req.num_samples, chunk_size, seed)
    job = Job(
        id=uuid.uuid4(),
        state=JobState.queued,
        **req.generation_params(model_name).job_columns(),
        num_samples=req.num_samples,
        seed=seed,
        chunk_size=chunk_size,
        num_chunks=len(plans),
        request=req.model_dump(mode="json"),
        idempotency_key=idempotency_key,
        request_fingerprint=fingerprint,
    )
    job.chunks = [
        JobChunk(
            chunk_index=p.chunk_index,
            start_index=p.start_index,
            size=p.size,
            seed=p.seed,
            state=ChunkState.pending,
            progress=0.0,
            attempts=0,
        )
        for p in plans
    ]
    session.add(job)
    try:
        session.commit()
    except IntegrityError:
        # Two retries raced on the same key: the loser returns the winner's job.
        session.rollback()
        existing = session.scalar(select(Job).where(Job.idempotency_key == idempotency_key))
        if existing is None:
            raise
        return _replay(existing, fingerprint), False
    return job, True


def _replay(existing: Job, fingerprint: str) -> Job:
    if existing.request_fingerprint != fingerprint:
        raise IdempotencyConflict(
            "this Idempotency-Key was already used for a different request body; use a new key"
        )
    return existing


def enqueue_job(queue: TaskQueue, job: Job) -> None:
    """One task per chunk."""
    for index in range(job.num_chunks):
        queue.enqueue_chunk(job.id, index)


def delete_job(session: Session, job_id: uuid.UUID) -> None:
    job = session.get(Job, job_id)
    if job is not None:
        session.delete(job)
        session.commit()


def cancel_job(session: Session, job: Job) -> Job:
    """Cooperative cancel: the state flips now; running chunks notice through should_stop."""
    locked = session.scalar(select(Job).where(Job.id == job.id).with_for_update())
    assert locked is not None
    if locked.state in TERMINAL_STATES:
        session.rollback()
        raise JobNotCancellable(locked.state)
    locked.state = JobState.cancelled
    locked.finished_at = datetime.now(UTC)
    session.execute(
        update(JobChunk)
        .where(JobChunk.job_id == job.id, JobChunk.state == ChunkState.pending)
        .values(state=ChunkState.cancelled)
    )
    session.commit()
    return locked


def _seconds(a: datetime | None, b: datetime | None) -> float | None:
    return None if a is None or b is None else round((b - a).total_seconds(), 3)


def job_out(session: Session, job: Job, base_url: str = "") -> JobOut:
    done_weight = case(
        (JobChunk.state == ChunkState.done, JobChunk.size), else_=JobChunk.size * JobChunk.progress
    )
    sampled, chunks_done = session.execute(
        select(
            func.coalesce(func.sum(done_weight), 0.0),
            func.count().filter(JobChunk.state == ChunkState.done),
        ).where(JobChunk.job_id == job.id)
    ).one()
    num_structures = (
        session.scalar(select(func.count()).select_from(Structure).where(Structure.job_id == job.id)) or 0
    )
    progress = 1.0 if job.state == JobState.succeeded else min(1.0, float(sampled) / job.num_samples)
    now = datetime.now(UTC)
    end = job.finished_at or (now if job.state == JobState.running else None)
    prefix = f"{base_url}/v1/jobs/{job.id}"
    return JobOut(
        id=job.id,
        state=job.state,
        progress=round(progress, 4),
        num_samples=job.num_samples,
        num_structures=num_structures,
        num_chunks=job.num_chunks,
        chunks_done=chunks_done,
        chunk_size=job.chunk_size,
        **JobOut.params_fields(GenerationParams.from_job(job)),
        seed=job.seed,
        checkpoint_sha256=job.checkpoint_sha256,
        timings=TimingsOut(
            created_at=job.created_at,
            started_at=job.started_at,
            first_structure_at=job.first_structure_at,
            finished_at=job.finished_at,
            queued_seconds=_seconds(job.created_at, job.started_at),
            running_seconds=_seconds(job.started_at, end),
            seconds_to_first_structure=_seconds(job.created_at, job.first_structure_at),
        ),
        error=job.error,
        links={
            "self": prefix,
            "structures": f"{prefix}/structures",
            "archive": f"{prefix}/archive",
            "cancel": f"{prefix}/cancel",
        },
    )
