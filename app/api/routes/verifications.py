"""/v1/structures/{id}/verify and /verification: DFT verification on demand (the `dft` queue)."""

from __future__ import annotations

import logging
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Response
from sqlalchemy import select

from app.api.auth import CallerDep, require_caller
from app.api.deps import SessionDep, SettingsDep, TaskQueueDep
from app.api.resources import StructureDep
from app.schemas.envelope import Envelope, ok
from app.schemas.verification import VerificationOut
from app.services import verifications as service
from app.tables import Job

log = logging.getLogger(__name__)
router = APIRouter(prefix="/v1/structures", tags=["verification"], dependencies=[Depends(require_caller)])


def _owner(session: SessionDep, structure: StructureDep):
    return session.scalar(select(Job.owner_key_id).where(Job.id == structure.job_id))


@router.post(
    "/{structure_id}/verify",
    status_code=202,
    response_model=Envelope[VerificationOut],
    summary="Verify a structure with DFT (GPAW: gap, Bader charges, atomic DOS); idempotent unless force",
    description="Queues the GPAW path on the relaxed cell in the `dft` queue (its own worker, one at a time, "
    "capped at DFT_MAX_SECONDS). Returns the latest queued, running or succeeded verification of the "
    "structure (200) instead of starting another, unless `force=true`; a failed or cancelled one is retried.",
)
def verify(
    structure: StructureDep,
    session: SessionDep,
    settings: SettingsDep,
    queue: TaskQueueDep,
    caller: CallerDep,
    response: Response,
    force: Annotated[bool, Query(description="Run again even if a verification exists.")] = False,
) -> dict[str, Any]:
    if caller.key_id is None or not caller.may_modify(_owner(session, structure)):
        raise HTTPException(403, detail="this API key may read this structure but not start a DFT verification")
    try:
        v, created = service.request(session, queue, settings, structure, caller.key_id, force)
    except Exception as exc:
        log.exception("broker unavailable; verification of %s not queued", structure.id)
        raise HTTPException(
            503,
            detail="DFT queue unavailable, nothing was queued; retry later",
            headers={"Retry-After": str(settings.unavailable_retry_after)},
        ) from exc
    if not created:
        response.status_code = 200
    return ok(service.describe(session, v, structure).model_dump(mode="json"), created=created)


@router.get(
    "/{structure_id}/verification",
    response_model=Envelope[VerificationOut],
    summary="The latest DFT verification: DFT gap, charges, DOS next to the generated and predicted ones",
)
def get_verification(structure: StructureDep, session: SessionDep) -> dict[str, Any]:
    v = service.latest(session, structure.id)
    if v is None:
        raise HTTPException(404, detail=f"structure {structure.id} has no verification; POST .../verify starts one")
    return ok(service.describe(session, v, structure).model_dump(mode="json"))


@router.post(
    "/{structure_id}/verification/cancel",
    response_model=Envelope[VerificationOut],
    summary="Cancel the latest verification if it is queued or running (GPAW is killed)",
)
def cancel_verification(structure: StructureDep, session: SessionDep, caller: CallerDep) -> dict[str, Any]:
    if not caller.may_modify(_owner(session, structure)):
        raise HTTPException(403, detail="this API key may read this structure but not cancel its verification")
    v = service.latest(session, structure.id)
    if v is None:
        raise HTTPException(404, detail=f"structure {structure.id} has no verification")
    try:
        v = service.cancel(session, v)
    except service.NotCancellable as exc:
        raise HTTPException(409, detail=str(exc)) from exc
    return ok(service.describe(session, v, structure).model_dump(mode="json"))
