"""/v1/jobs/{id}/deliveries: the webhook deliveries of a job (same visibility as the job itself)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends
from sqlalchemy import select

from app.api.auth import require_caller
from app.api.deps import SessionDep
from app.api.resources import JobDep
from app.schemas.envelope import Envelope, ok
from app.schemas.webhooks import DeliveryOut
from app.tables import WebhookDelivery

router = APIRouter(prefix="/v1/jobs", tags=["webhooks"], dependencies=[Depends(require_caller)])


@router.get(
    "/{job_id}/deliveries",
    response_model=Envelope[list[DeliveryOut]],
    summary="Webhook deliveries of a job: attempts, last status, next attempt, delivered_at",
    description="Empty until the job ends (or when it has no callback_url). Another key's job is a 404.",
)
def list_deliveries(job: JobDep, session: SessionDep) -> dict[str, Any]:
    rows = session.scalars(
        select(WebhookDelivery).where(WebhookDelivery.job_id == job.id).order_by(WebhookDelivery.created_at)
    ).all()
    data = [
        DeliveryOut(
            id=r.id,
            job_id=r.job_id,
            event=r.event,
            url=r.url,
            state=r.state,
            attempts=r.attempts,
            last_status_code=r.last_status_code,
            last_error=r.last_error,
            next_attempt_at=r.next_attempt_at,
            created_at=r.created_at,
            delivered_at=r.delivered_at,
            history=r.history or [],
        ).model_dump(mode="json")
        for r in rows
    ]
    return ok(data, callback_url=job.callback_url)
