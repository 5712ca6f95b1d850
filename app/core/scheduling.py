"""Fair scheduling: which chunks of a job are on the queue.

A job's chunks are not all enqueued at submission. At most ``limit`` (MAX_INFLIGHT_CHUNKS_PER_JOB)
chunks of a job are enqueued-or-running at a time; when one finishes, the worker enqueues the next.
Jobs of different keys therefore interleave on a first-in-first-out queue: a small job waits behind
at most ``limit`` chunks of a 10,000-sample job, not behind all of them.

Crash safety: a task is sent *before* the transaction that records ``enqueued_at`` commits, so a crash
in between leaves at worst a duplicate message, which ``claim_chunk`` ignores; it never leaves a chunk
marked as enqueued without a message. A send that fails rolls the mark back, and the reaper
(:func:`jobs_needing_chunks`) tops such jobs up later. Chunks stay idempotent as before.

Lock order everywhere is job row, then chunk rows (claim, commit, cancel, scheduling), so these
transactions cannot deadlock one another.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy import and_, func, or_, select, text, true
from sqlalchemy.orm import Session

from app.core.task_queue import TaskQueue
from app.tables import ChunkState, Job, JobChunk, JobState

ACTIVE_JOB_STATES = (JobState.queued, JobState.running)


def _in_flight(session: Session, job_id: uuid.UUID) -> int:
    return (
        session.scalar(
            select(func.count()).where(
                JobChunk.job_id == job_id,
                JobChunk.state.in_((ChunkState.pending, ChunkState.running)),
                JobChunk.enqueued_at.is_not(None),
            )
        )
        or 0
    )


def schedule_chunks(session: Session, queue: TaskQueue, job_id: uuid.UUID, limit: int) -> list[int]:
    """Enqueue the job's next unscheduled chunks until ``limit`` are in flight; returns their indices.

    Locks the job row (serialising concurrent finishers of the same job); the caller commits.
    """
    job = session.scalar(select(Job).where(Job.id == job_id).with_for_update())
    if job is None or job.state not in ACTIVE_JOB_STATES:
        return []
    free = limit - _in_flight(session, job_id)
    if free <= 0:
        return []
    chunks = session.scalars(
        select(JobChunk)
        .where(
            JobChunk.job_id == job_id,
            JobChunk.state == ChunkState.pending,
            JobChunk.enqueued_at.is_(None),
        )
        .order_by(JobChunk.chunk_index)
        .limit(free)
    ).all()
    # Mark (and so lock the chunk rows) before sending: a worker that receives the task at once then
    # waits for this transaction instead of locking the chunk first and deadlocking on the job row.
    now = datetime.now(UTC)
    for chunk in chunks:
        chunk.enqueued_at = now
    session.flush()
    for chunk in chunks:
        queue.enqueue_chunk(job_id, chunk.chunk_index, job.queue)
    return [c.chunk_index for c in chunks]


def of_queue(queue_name: str | None):
    """Jobs routed to ``queue_name`` (and jobs from before queues were recorded); None: all jobs."""
    if queue_name is None:
        return true()
    return or_(Job.queue == queue_name, Job.queue.is_(None))


def jobs_needing_chunks(session: Session, limit: int, queue_name: str | None = None) -> list[uuid.UUID]:
    """Active jobs (of ``queue_name``) that were admitted (some chunk was enqueued once) and have fewer
    than ``limit`` chunks in flight while unscheduled chunks remain: a finisher's send failed."""
    pending_unscheduled = and_(JobChunk.state == ChunkState.pending, JobChunk.enqueued_at.is_(None))
    in_flight = and_(
        JobChunk.state.in_((ChunkState.pending, ChunkState.running)), JobChunk.enqueued_at.is_not(None)
    )
    rows = session.execute(
        select(JobChunk.job_id)
        .join(Job, Job.id == JobChunk.job_id)
        .where(Job.state.in_(ACTIVE_JOB_STATES), of_queue(queue_name))
        .group_by(JobChunk.job_id)
        .having(
            and_(
                func.count().filter(pending_unscheduled) > 0,
                func.count().filter(JobChunk.enqueued_at.is_not(None)) > 0,
                func.count().filter(in_flight) < limit,
            )
        )
    ).all()
    return [r.job_id for r in rows]


def resend_lost(
    session: Session, queue: TaskQueue, older_than: float, queue_name: str | None = None
) -> list[tuple[uuid.UUID, int]]:
    """Send again pending chunks enqueued more than ``older_than`` seconds ago (their message was lost,
    e.g. a broker that lost its data). A duplicate of a message still queued is harmless."""
    rows = session.execute(
        text(
            """
            SELECT c.job_id, c.chunk_index, j.queue FROM job_chunks c JOIN jobs j ON j.id = c.job_id
             WHERE j.state IN ('queued', 'running') AND c.state = 'pending'
               AND c.enqueued_at < now() - make_interval(secs => :age)
               AND (CAST(:q AS text) IS NULL OR j.queue = :q OR j.queue IS NULL)
             FOR UPDATE OF c SKIP LOCKED
            """
        ),
        {"age": older_than, "q": queue_name},
    ).all()
    for job_id, chunk_index, job_queue in rows:
        queue.enqueue_chunk(job_id, chunk_index, job_queue)
        session.execute(
            text("UPDATE job_chunks SET enqueued_at = now() WHERE job_id = :j AND chunk_index = :c"),
            {"j": job_id, "c": chunk_index},
        )
    return [(r.job_id, r.chunk_index) for r in rows]
