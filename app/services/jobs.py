"""Job lifecycle on the API side: create (idempotently), enqueue, describe, cancel."""

from __future__ import annotations

import hashlib
import json
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import case, func, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.chunking import plan_chunks
from app.core.generation import GenerationParams
from app.core.scheduling import ACTIVE_JOB_STATES as ACTIVE_STATES
from app.core.scheduling import schedule_chunks
from app.core.task_queue import TaskQueue
from app.schemas.jobs import SEED_MAX, JobCreate, JobOut, TimingsOut
from app.services.job_progress import job_progress, stored_target
from app.tables import TERMINAL_STATES, ApiKey, ChunkState, Job, JobChunk, JobState, Structure


class IdempotencyConflict(Exception):
    """The Idempotency-Key was already used for a different request body."""


class QuotaExceeded(Exception):
    """The key's quota does not allow this job now (429); ``permanent`` when it never will (422)."""

    def __init__(self, message: str, permanent: bool = False):
        super().__init__(message)
        self.permanent = permanent


@dataclass(frozen=True)
class Quota:
    """Per-key limits on what may be waiting or running at once."""

    key_id: uuid.UUID
    max_active_jobs: int
    max_queued_samples: int


class JobNotCancellable(Exception):
    def __init__(self, state: JobState):
        super().__init__(f"job is already {state.value}; only queued or running jobs can be cancelled")
        self.state = state


def request_fingerprint(req: JobCreate) -> str:
    canonical = json.dumps(req.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def _by_key(owner_key_id: uuid.UUID | None, idempotency_key: str):
    return select(Job).where(Job.owner_key_id == owner_key_id, Job.idempotency_key == idempotency_key)


def check_quota(session: Session, quota: Quota, num_samples: int) -> None:
    """Raises QuotaExceeded when the key already has too many active jobs or queued samples.

    Locks the key's row until the caller's transaction ends, so concurrent submissions of one key
    are counted one after another and cannot overshoot together.
    """
    if num_samples > quota.max_queued_samples:
        raise QuotaExceeded(
            f"num_samples={num_samples} exceeds this API key's limit of {quota.max_queued_samples} queued "
            "samples; split the request",
            permanent=True,
        )
    session.execute(select(ApiKey.id).where(ApiKey.id == quota.key_id).with_for_update())
    waiting = JobChunk.state.in_((ChunkState.pending, ChunkState.running))
    active, queued = session.execute(
        select(func.count(func.distinct(Job.id)), func.coalesce(func.sum(JobChunk.size).filter(waiting), 0))
        .select_from(Job)
        .join(JobChunk, JobChunk.job_id == Job.id)
        .where(Job.owner_key_id == quota.key_id, Job.state.in_(ACTIVE_STATES))
    ).one()
    if active >= quota.max_active_jobs:
        raise QuotaExceeded(
            f"this API key already has {active} queued or running jobs (limit {quota.max_active_jobs}); "
            "retry when one has finished"
        )
    if queued + num_samples > quota.max_queued_samples:
        raise QuotaExceeded(
            f"this API key has {queued} samples waiting or running; {num_samples} more would exceed its "
            f"limit of {quota.max_queued_samples}; retry later"
        )


def create_job(
    session: Session,
    req: JobCreate,
    *,
    model_name: str,
    chunk_size: int,
    idempotency_key: str | None,
    owner_key_id: uuid.UUID | None = None,
    quota: Quota | None = None,
    queue: str | None = None,
) -> tuple[Job, bool]:
    """Insert the job and its chunk rows; returns (job, created). Commits.

    A retry with the same Idempotency-Key (of the same owner) returns the stored job before any quota
    is checked: the job was already accepted.
    """
    fingerprint = request_fingerprint(req)
    if idempotency_key is not None:
        existing = session.scalar(_by_key(owner_key_id, idempotency_key))
        if existing is not None:
            return _replay(existing, fingerprint), False
    if quota is not None:
        try:
            check_quota(session, quota, req.samples_to_generate)
        except QuotaExceeded:
            session.rollback()
            raise

    seed = req.seed if req.seed is not None else secrets.randbelow(SEED_MAX + 1)
    plans = plan_chunks(req.samples_to_generate, chunk_size, seed)
    job = Job(
        id=uuid.uuid4(),
        state=JobState.queued,
        **req.generation_params(model_name).job_columns(),
        **req.job_columns(),
        num_samples=req.num_samples,
        seed=seed,
        chunk_size=chunk_size,
        num_chunks=len(plans),
        request=req.model_dump(mode="json"),
        idempotency_key=idempotency_key,
        request_fingerprint=fingerprint,
        owner_key_id=owner_key_id,
        queue=queue,
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
        existing = None if idempotency_key is None else session.scalar(_by_key(owner_key_id, idempotency_key))
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


def admit_job(session: Session, queue: TaskQueue, job: Job, inflight_limit: int) -> None:
    """Put the job's first chunks on the queue (the worker enqueues the rest as chunks finish; see
    app/core/scheduling.py). Commits; raises if the broker is unreachable."""
    try:
        # This transaction only records that tasks were sent; if PostgreSQL crashed and lost it, the reaper
        # would send them again (a harmless duplicate). So it need not wait for the WAL flush (~4 ms).
        session.execute(text("SET LOCAL synchronous_commit = off"))
        schedule_chunks(session, queue, job.id, inflight_limit)
        session.commit()
    except Exception:
        session.rollback()
        raise


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


def job_out(session: Session, job: Job, base_url: str = "", *, just_created: bool = False) -> JobOut:
    """The API view of a job. ``just_created``: nothing can have been sampled yet, skip the counts."""
    if just_created:
        sampled, relaxed, chunks_done, num_structures, passed = 0.0, 0.0, 0, 0, 0
    else:
        done_weight = case(
            (JobChunk.state == ChunkState.done, JobChunk.size), else_=JobChunk.size * JobChunk.progress
        )
        # One round trip: chunk aggregates and the structure count together.
        structures = (
            select(func.count()).select_from(Structure).where(Structure.job_id == job.id).scalar_subquery()
        )
        relax_weight = case(
            (JobChunk.state == ChunkState.done, JobChunk.size),
            else_=JobChunk.size * func.coalesce(JobChunk.relax_progress, 0.0),
        )
        passed_q = (
            select(func.count())
            .select_from(Structure)
            .where(Structure.job_id == job.id, Structure.screen_passed.is_(True))
            .scalar_subquery()
        )
        sampled, relaxed, chunks_done, num_structures, passed = session.execute(
            select(
                func.coalesce(func.sum(done_weight), 0.0),
                func.coalesce(func.sum(relax_weight), 0.0),
                func.count().filter(JobChunk.state == ChunkState.done),
                structures,
                passed_q,
            ).where(JobChunk.job_id == job.id)
        ).one()
        num_structures, passed = num_structures or 0, passed or 0
    phases, progress, screen = job_progress(job, float(sampled), float(relaxed), num_structures, passed)
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
        **{**JobOut.params_fields(GenerationParams.from_job(job)), "target": stored_target(job)},
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
        relax=job.relax,
        phases=phases,
        screen=screen,
        callback_url=job.callback_url,
        links={
            "self": prefix,
            "structures": f"{prefix}/structures",
            "archive": f"{prefix}/archive",
            "cancel": f"{prefix}/cancel",
            "deliveries": f"{prefix}/deliveries",
        },
    )
