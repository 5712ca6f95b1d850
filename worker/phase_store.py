"""PostgreSQL operations of a chunk's second phase (relaxation and post-processing, issue 17)."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import func, select, update

from app.core.db import get_engine
from app.tables import Job, JobChunk


def job_options(job_id: uuid.UUID) -> tuple[bool, dict[str, Any] | None]:
    """(relax, screen spec) of the job; jobs from before migration 0005 are not relaxed."""
    with get_engine().connect() as conn:
        row = conn.execute(select(Job.relax, Job.screen).where(Job.id == job_id)).one_or_none()
    if row is None:
        return False, None
    return bool(row.relax), row.screen


def relax_progress(job_id: uuid.UUID, chunk_index: int, token: uuid.UUID, fraction: float) -> None:
    """Progress of the second phase (only while this worker holds the chunk); doubles as a heartbeat."""
    with get_engine().begin() as conn:
        conn.execute(
            update(JobChunk)
            .where(
                JobChunk.job_id == job_id, JobChunk.chunk_index == chunk_index, JobChunk.claim_token == token
            )
            .values(relax_progress=max(0.0, min(1.0, float(fraction))), heartbeat_at=func.now())
        )
