"""Response model of a job's webhook deliveries (GET /v1/jobs/{id}/deliveries)."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, Field


class DeliveryAttempt(BaseModel):
    attempt: int = Field(description="1 for the first attempt.")
    at: datetime = Field(description="When the attempt finished (UTC).")
    status_code: int | None = Field(None, description="The receiver's HTTP status; null: no answer.")
    error: str | None = Field(None, description="Why the attempt did not count as delivered; null: 2xx.")
    seconds: float = Field(description="Wall time of the attempt, s.")


class DeliveryOut(BaseModel):
    id: uuid.UUID = Field(description="Sent as X-MatterGen-Delivery; the same on every attempt.")
    job_id: uuid.UUID
    event: str = Field(description="job.succeeded | job.failed | job.cancelled (X-MatterGen-Event).")
    url: str
    state: str = Field(
        description="pending (next attempt at next_attempt_at) | sending | delivered | failed (attempts used up)."
    )
    attempts: int
    last_status_code: int | None = None
    last_error: str | None = None
    next_attempt_at: datetime | None = None
    created_at: datetime
    delivered_at: datetime | None = None
    history: list[DeliveryAttempt] = Field(default_factory=list, description="Every attempt, oldest first.")
