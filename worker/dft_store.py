"""PostgreSQL operations of DFT verifications (the `dft` queue's worker). Each is one short transaction.

A verification is claimed by writing a fresh ``claim_token`` (queued, or running with a stale
heartbeat: its worker died); only the holder may finish it. A cancel flips the state to
``cancelled``; the running task notices at its next poll and kills GPAW.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select, text, update

from app.core.db import get_engine, session_scope
from app.tables import DftCrystal, Job, Structure, Verification

STALE_SECONDS = 120.0  # a running verification without heartbeat this long was abandoned by a dead worker


@dataclass(frozen=True)
class ClaimedVerification:
    id: uuid.UUID
    token: uuid.UUID
    overrides: dict[str, Any]
    max_seconds: float
    structure: dict[str, Any]  # the cell DFT runs on (relaxed when there is one)
    basis: str  # "relaxed" | "generated"
    row: dict[str, Any]  # the structure's generated / predicted descriptors, gap, target, provenance


def claim(verification_id: uuid.UUID, worker: str) -> ClaimedVerification | None:
    token = uuid.uuid4()
    with session_scope() as s:
        hit = s.execute(
            text(
                """
                UPDATE verifications SET state = 'running', claim_token = :token, worker = :worker,
                       started_at = now(), heartbeat_at = now()
                 WHERE id = :id AND (state = 'queued'
                       OR (state = 'running' AND heartbeat_at < now() - make_interval(secs => :stale)))
                RETURNING structure_id, settings, max_seconds
                """
            ),
            {"token": token, "worker": worker, "id": verification_id, "stale": STALE_SECONDS},
        ).one_or_none()
        if hit is None:
            return None
        row, job = s.execute(
            select(Structure, Job).join(Job, Job.id == Structure.job_id).where(Structure.id == hit.structure_id)
        ).one()
        return ClaimedVerification(
            id=verification_id,
            token=token,
            overrides=dict(hit.settings or {}),
            max_seconds=float(hit.max_seconds),
            structure=row.relaxed_structure or row.structure,
            basis="relaxed" if row.relaxed_structure else "generated",
            row={
                "structure_id": str(row.id),
                "charges": row.charges,
                "dos": row.dos,
                "pred_charges_relaxed": row.pred_charges_relaxed,
                "pred_dos_relaxed": row.pred_dos_relaxed,
                "band_gap_pred": row.band_gap_pred,
                "target_band_gap": job.target_band_gap,
                "provenance": {
                    "job_id": str(job.id),
                    "sample_index": row.sample_index,
                    "model": row.model_name,
                    "checkpoint_sha256": row.checkpoint_sha256,
                    "relaxation": {
                        "status": row.relax_status,
                        "steps": row.relax_steps,
                        "converged": row.relax_converged,
                        "energy_per_atom": row.relaxed_energy_per_atom,
                    },
                },
            },
        )


def still_wanted(claim_: ClaimedVerification) -> bool:
    """Heartbeat; False once the verification was cancelled or claimed by someone else."""
    with get_engine().begin() as conn:
        hit = conn.execute(
            update(Verification)
            .where(
                Verification.id == claim_.id,
                Verification.claim_token == claim_.token,
                Verification.state == "running",
            )
            .values(heartbeat_at=func.now())
            .returning(Verification.id)
        ).one_or_none()
    return hit is not None


def record_settings(claim_: ClaimedVerification, settings: dict[str, Any]) -> None:
    """The full DFTSettings the run uses (the API stored only the deployment's overrides)."""
    with get_engine().begin() as conn:
        conn.execute(update(Verification).where(Verification.id == claim_.id).values(settings=settings))


def finish(
    claim_: ClaimedVerification,
    *,
    wall_seconds: float,
    result: dict[str, Any] | None = None,
    comparison: dict[str, Any] | None = None,
    crystal: dict[str, Any] | None = None,
    reason: str | None = None,
    error: str | None = None,
) -> str:
    """Store the outcome if this worker still holds the verification; returns the final state."""
    with session_scope() as s:
        v = s.scalar(select(Verification).where(Verification.id == claim_.id).with_for_update())
        if v is None or v.claim_token != claim_.token or v.state != "running":
            return "lost" if v is None else v.state
        v.state = "succeeded" if reason is None else "failed"
        v.finished_at = datetime.now(UTC)
        v.wall_seconds = round(wall_seconds, 2)
        v.result, v.comparison = result, comparison
        v.failure_reason, v.error = reason, None if error is None else error[:4000]
        if crystal is not None:
            s.add(DftCrystal(verification_id=v.id, structure_id=v.structure_id, **crystal))
        return v.state
