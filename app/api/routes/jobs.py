"""/v1/jobs: submit, poll, cancel, list structures, download archive."""

from __future__ import annotations

import logging
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, HTTPException, Query, Request, Response
from fastapi.responses import StreamingResponse
from sqlalchemy import func, select

from app.api.auth import CallerDep, require_caller
from app.api.deps import SessionDep, SettingsDep, TaskQueueDep
from app.api.resources import JobDep
from app.core import webhooks
from app.schemas.bounds import INT32_MAX
from app.schemas.envelope import Envelope, ok
from app.schemas.jobs import JobCreate, JobOut
from app.schemas.structure_query import StructureQuery
from app.schemas.structures import StructureSummary
from app.services import jobs as job_service
from app.services.archive import build_archive
from app.services.model_registry import available_models
from app.services.structures import apply_filters, order_by, properties_meta, summary
from app.tables import Job, JobState, Structure

log = logging.getLogger(__name__)
router = APIRouter(prefix="/v1/jobs", tags=["jobs"], dependencies=[Depends(require_caller)])


@router.post("", status_code=202, response_model=Envelope[JobOut], summary="Submit a generation job")
def submit_job(
    body: JobCreate,
    request: Request,
    response: Response,
    session: SessionDep,
    settings: SettingsDep,
    queue: TaskQueueDep,
    caller: CallerDep,
    idempotency_key: Annotated[
        str | None,
        Header(min_length=1, max_length=255, description="Retries with the same key return the same job."),
    ] = None,
) -> dict[str, Any]:
    model_name = body.model or settings.model_name
    try:
        models = available_models()
    except Exception as exc:  # models package broken or missing: say so (details in the log only)
        log.exception("cannot list model variants")
        raise HTTPException(503, detail="cannot list model variants on this server") from exc
    if not models:
        raise HTTPException(503, detail="no model checkpoint is installed on this server")
    if model_name not in models:
        raise HTTPException(422, detail=f"unknown model {model_name!r}; available: {', '.join(models)}")
    if caller.key_id is None:  # anonymous public read never reaches here (POST needs a key); be explicit
        raise HTTPException(401, detail="submitting a job needs an API key", headers={"WWW-Authenticate": "Bearer"})
    quota = job_service.Quota(
        key_id=caller.key_id,
        max_active_jobs=caller.max_active_jobs or settings.max_active_jobs_per_key,
        max_queued_samples=caller.max_queued_samples or settings.max_queued_samples_per_key,
    )
    try:
        job, created = job_service.create_job(
            session,
            body,
            model_name=model_name,
            chunk_size=settings.chunk_size,
            idempotency_key=idempotency_key,
            owner_key_id=caller.key_id,
            quota=quota,
            queue=queue.queue,
        )
    except job_service.IdempotencyConflict as exc:
        raise HTTPException(409, detail=str(exc)) from exc
    except job_service.QuotaExceeded as exc:
        if exc.permanent:
            raise HTTPException(422, detail=str(exc)) from exc
        raise HTTPException(
            429, detail=str(exc), headers={"Retry-After": str(settings.quota_retry_after)}
        ) from exc
    if created:
        try:
            job_service.admit_job(session, queue, job, settings.max_inflight_chunks_per_job)
        except Exception as exc:
            log.exception("broker unavailable; dropping job %s", job.id)
            job_service.delete_job(session, job.id)
            raise HTTPException(
                503,
                detail="job queue unavailable, nothing was submitted; retry later",
                headers={"Retry-After": str(settings.unavailable_retry_after)},
            ) from exc
    response.headers["Location"] = str(request.url_for("get_job", job_id=job.id))
    if not created:
        response.headers["Idempotent-Replayed"] = "true"
    out = job_service.job_out(session, job, just_created=created)
    return ok(out.model_dump(mode="json"), created=created)


@router.get("", response_model=Envelope[list[JobOut]], summary="List jobs, newest first")
def list_jobs(
    session: SessionDep,
    caller: CallerDep,
    state: JobState | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 20,
    offset: Annotated[int, Query(ge=0, le=INT32_MAX)] = 0,
) -> dict[str, Any]:
    query = caller.visible_jobs(select(Job))
    count = caller.visible_jobs(select(func.count()).select_from(Job))
    if state is not None:
        query, count = query.where(Job.state == state), count.where(Job.state == state)
    jobs = session.scalars(query.order_by(Job.created_at.desc()).limit(limit).offset(offset)).all()
    data = [job_service.job_out(session, j).model_dump(mode="json") for j in jobs]
    return ok(data, total=session.scalar(count), limit=limit, offset=offset)


@router.get("/{job_id}", response_model=Envelope[JobOut], summary="Job state, progress, counts, timings")
def get_job(job: JobDep, session: SessionDep) -> dict[str, Any]:
    return ok(job_service.job_out(session, job).model_dump(mode="json"))


@router.post("/{job_id}/cancel", response_model=Envelope[JobOut], summary="Cancel a queued or running job")
def cancel_job(job: JobDep, session: SessionDep, caller: CallerDep, queue: TaskQueueDep) -> dict[str, Any]:
    if not caller.may_modify(job.owner_key_id):
        raise HTTPException(403, detail="this API key may read this job but not cancel it (read-all scope)")
    try:
        job = job_service.cancel_job(session, job)
    except job_service.JobNotCancellable as exc:
        raise HTTPException(409, detail=str(exc)) from exc
    if job.callback_url is not None:
        # The cancel committed its webhook delivery (trigger); send it now. Best-effort: the cancel
        # stands either way and the webhook worker's sweeper sends what could not be sent here.
        try:
            webhooks.dispatch(session, queue.celery, job.id)
        except Exception:
            log.exception("could not send the webhook of cancelled job %s now", job.id)
    return ok(job_service.job_out(session, job).model_dump(mode="json"))


@router.get(
    "/{job_id}/structures",
    response_model=Envelope[list[StructureSummary]],
    response_model_exclude_unset=True,
    summary="Paginated structures of a job, with sparse fields and property-range filters",
    description="Predicted properties (band gap eV, formation energy eV/atom, energy above hull eV/atom "
    "from an unrelaxed CHGNet single point) and validity flags are computed by the worker when it stores "
    "each chunk. Range filters exclude structures whose value is null; `meta.predicted_properties` "
    "counts the job's structures by prediction status and says why values are null.",
)
def list_structures(
    job: JobDep,
    session: SessionDep,
    settings: SettingsDep,
    query: Annotated[StructureQuery, Query()],
) -> dict[str, Any]:
    limit, offset = query.limit, query.offset
    base = apply_filters(select(Structure).where(Structure.job_id == job.id), query)
    total = session.scalar(select(func.count()).select_from(base.subquery()))
    rows = session.scalars(base.order_by(*order_by(query)).limit(limit).offset(offset)).all()
    data = [StructureSummary(**summary(r, query.selected_fields)) for r in rows]
    next_offset = offset + limit if offset + limit < (total or 0) else None
    return {
        "data": data,
        "meta": {
            "total": total,
            "limit": limit,
            "offset": offset,
            "next_offset": next_offset,
            "predicted_properties": properties_meta(session, job.id, settings.predict_properties),
        },
        "errors": [],
    }


@router.get(
    "/{job_id}/archive",
    summary="Zip of all CIFs + one extxyz (per-atom bader_charge, dos) + manifest.json",
    response_class=StreamingResponse,
    responses={200: {"content": {"application/zip": {}}}},
)
def download_archive(job: JobDep, session: SessionDep) -> StreamingResponse:
    spool = build_archive(session, job)

    def chunks():
        try:
            while block := spool.read(1 << 16):
                yield block
        finally:
            spool.close()

    headers = {"Content-Disposition": f'attachment; filename="job-{job.id}.zip"'}
    return StreamingResponse(chunks(), media_type="application/zip", headers=headers)
