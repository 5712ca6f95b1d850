"""/v1/jobs: submit, poll, cancel, list structures, download archive."""

from __future__ import annotations

import logging
from typing import Annotated, Any

from fastapi import APIRouter, Header, HTTPException, Query, Request, Response
from fastapi.responses import StreamingResponse
from sqlalchemy import func, select

from app.api.deps import JobDep, SessionDep, SettingsDep
from app.api.query import reject_unknown_query_params
from app.schemas.envelope import Envelope, ok
from app.schemas.jobs import JobCreate, JobOut
from app.schemas.structures import StructureSummary
from app.services import jobs as job_service
from app.services.model_registry import available_models
from app.services.structures import (
    SUMMARY_FIELDS,
    StructureFilters,
    build_archive,
    properties_meta,
    summary,
)
from app.tables import Job, JobState, Structure

log = logging.getLogger(__name__)
router = APIRouter(prefix="/v1/jobs", tags=["jobs"])

STRUCTURE_QUERY = {
    "limit",
    "offset",
    "fields",
    "band_gap_min",
    "band_gap_max",
    "formation_energy_min",
    "formation_energy_max",
    "e_above_hull_min",
    "e_above_hull_max",
    "structurally_valid",
    "smact_valid",
    "valid",
    "n_sites_min",
    "n_sites_max",
    "space_group",
    "elements",
    "formula",
}


@router.post("", status_code=202, response_model=Envelope[JobOut], summary="Submit a generation job")
def submit_job(
    body: JobCreate,
    request: Request,
    response: Response,
    session: SessionDep,
    settings: SettingsDep,
    idempotency_key: Annotated[
        str | None,
        Header(min_length=1, max_length=255, description="Retries with the same key return the same job."),
    ] = None,
) -> dict[str, Any]:
    model_name = body.model or settings.model_name
    try:
        models = available_models()
    except Exception as exc:  # models package broken or missing: say so instead of a bare 500
        raise HTTPException(503, detail=f"cannot list model variants: {type(exc).__name__}: {exc}") from exc
    if not models:
        raise HTTPException(503, detail="no model checkpoint is installed on this server")
    if model_name not in models:
        raise HTTPException(422, detail=f"unknown model {model_name!r}; available: {', '.join(models)}")
    try:
        job, created = job_service.create_job(
            session,
            body,
            model_name=model_name,
            chunk_size=settings.chunk_size,
            idempotency_key=idempotency_key,
        )
    except job_service.IdempotencyConflict as exc:
        raise HTTPException(409, detail=str(exc)) from exc
    if created:
        try:
            job_service.enqueue_job(job, settings.celery_queue)
        except Exception as exc:
            log.exception("broker unavailable; dropping job %s", job.id)
            job_service.delete_job(session, job.id)
            raise HTTPException(503, detail=f"job queue unavailable, nothing was submitted: {exc}") from exc
    response.headers["Location"] = str(request.url_for("get_job", job_id=job.id))
    if not created:
        response.headers["Idempotent-Replayed"] = "true"
    return ok(job_service.job_out(session, job).model_dump(mode="json"), created=created)


@router.get("", response_model=Envelope[list[JobOut]], summary="List jobs, newest first")
def list_jobs(
    session: SessionDep,
    state: JobState | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 20,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> dict[str, Any]:
    query = select(Job)
    count = select(func.count()).select_from(Job)
    if state is not None:
        query, count = query.where(Job.state == state), count.where(Job.state == state)
    jobs = session.scalars(query.order_by(Job.created_at.desc()).limit(limit).offset(offset)).all()
    data = [job_service.job_out(session, j).model_dump(mode="json") for j in jobs]
    return ok(data, total=session.scalar(count), limit=limit, offset=offset)


@router.get("/{job_id}", response_model=Envelope[JobOut], summary="Job state, progress, counts, timings")
def get_job(job: JobDep, session: SessionDep) -> dict[str, Any]:
    return ok(job_service.job_out(session, job).model_dump(mode="json"))


@router.post("/{job_id}/cancel", response_model=Envelope[JobOut], summary="Cancel a queued or running job")
def cancel_job(job: JobDep, session: SessionDep) -> dict[str, Any]:
    try:
        job = job_service.cancel_job(session, job)
    except job_service.JobNotCancellable as exc:
        raise HTTPException(409, detail=str(exc)) from exc
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
    request: Request,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
    fields: Annotated[
        str | None, Query(description=f"Comma-separated subset of: {', '.join(SUMMARY_FIELDS)}")
    ] = None,
    band_gap_min: Annotated[
        float | None, Query(description="Predicted band gap ≥, eV", allow_inf_nan=False)
    ] = None,
    band_gap_max: Annotated[
        float | None, Query(description="Predicted band gap ≤, eV", allow_inf_nan=False)
    ] = None,
    formation_energy_min: Annotated[
        float | None, Query(description="Predicted E_form ≥, eV/atom", allow_inf_nan=False)
    ] = None,
    formation_energy_max: Annotated[
        float | None, Query(description="Predicted E_form ≤, eV/atom", allow_inf_nan=False)
    ] = None,
    e_above_hull_min: Annotated[
        float | None,
        Query(description="Predicted energy above hull ≥, eV/atom (unrelaxed CHGNet)", allow_inf_nan=False),
    ] = None,
    e_above_hull_max: Annotated[
        float | None,
        Query(description="Predicted energy above hull ≤, eV/atom (unrelaxed CHGNet)", allow_inf_nan=False),
    ] = None,
    structurally_valid: Annotated[
        bool | None, Query(description="Distances ≥ 0.5 Å and volume ≥ 0.1 Å³ (true/false)")
    ] = None,
    smact_valid: Annotated[
        bool | None, Query(description="SMACT charge-neutral, electronegativity-balanced (true/false)")
    ] = None,
    valid: Annotated[
        bool | None,
        Query(description="true: both validity checks pass; false: at least one is known to fail"),
    ] = None,
    n_sites_min: Annotated[int | None, Query(ge=1)] = None,
    n_sites_max: Annotated[int | None, Query(ge=1)] = None,
    space_group: Annotated[int | None, Query(ge=1, le=230)] = None,
    elements: Annotated[
        str | None, Query(description="Comma-separated elements that must all be present")
    ] = None,
    formula: Annotated[str | None, Query(description="Reduced formula, e.g. NaCl")] = None,
) -> dict[str, Any]:
    reject_unknown_query_params(request, STRUCTURE_QUERY)
    selected = SUMMARY_FIELDS
    if fields:
        selected = tuple(f.strip() for f in fields.split(",") if f.strip())
        unknown = sorted(set(selected) - set(SUMMARY_FIELDS))
        if unknown:
            raise HTTPException(
                400, detail=f"unknown field(s) {unknown}; allowed: {', '.join(SUMMARY_FIELDS)}"
            )
    for name, lo, hi in (
        ("band_gap", band_gap_min, band_gap_max),
        ("formation_energy", formation_energy_min, formation_energy_max),
        ("e_above_hull", e_above_hull_min, e_above_hull_max),
        ("n_sites", n_sites_min, n_sites_max),
    ):
        if lo is not None and hi is not None and lo > hi:
            raise HTTPException(400, detail=f"{name}_min ({lo}) is greater than {name}_max ({hi})")
    element_list = [e.strip() for e in elements.split(",") if e.strip()] if elements else None
    if element_list:
        from pymatgen.core.periodic_table import Element

        bad = [e for e in element_list if not Element.is_valid_symbol(e)]
        if bad:
            raise HTTPException(400, detail=f"unknown element symbol(s) {bad}")
    filters = StructureFilters(
        band_gap_min=band_gap_min,
        band_gap_max=band_gap_max,
        formation_energy_min=formation_energy_min,
        formation_energy_max=formation_energy_max,
        n_sites_min=n_sites_min,
        n_sites_max=n_sites_max,
        space_group=space_group,
        elements=element_list,
        formula=formula,
        e_above_hull_min=e_above_hull_min,
        e_above_hull_max=e_above_hull_max,
        structurally_valid=structurally_valid,
        smact_valid=smact_valid,
        valid=valid,
    )
    base = filters.apply(select(Structure).where(Structure.job_id == job.id))
    total = session.scalar(select(func.count()).select_from(base.subquery()))
    rows = session.scalars(base.order_by(Structure.sample_index).limit(limit).offset(offset)).all()
    data = [StructureSummary(**summary(r, selected)) for r in rows]
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
