"""DFT verifications on the API side: request (idempotently), describe, cancel. The work is done by
the `dft` queue's worker (worker/dft_tasks.py); the API only writes rows and sends ids."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.core.config import Settings
from app.core.task_queue import TaskQueue
from app.schemas.verification import VerificationOut
from app.tables import DftCrystal, Structure, Verification

ACTIVE = ("queued", "running")
REUSABLE = ("queued", "running", "succeeded")  # a plain POST returns these instead of starting another
STALE_AFTER_SECONDS = 120.0  # the worker heartbeats every second while GPAW runs (worker/dft_store.py)


class NotCancellable(Exception):
    pass


def _abandoned(v: Verification) -> bool:
    """Running, but its worker has not written a heartbeat for STALE_AFTER_SECONDS (it died)."""
    beat = v.heartbeat_at
    return v.state == "running" and beat is not None and (datetime.now(UTC) - beat).total_seconds() > STALE_AFTER_SECONDS


def latest(session: Session, structure_id: uuid.UUID) -> Verification | None:
    return session.scalar(
        select(Verification)
        .where(Verification.structure_id == structure_id)
        .order_by(Verification.created_at.desc(), Verification.id)
        .limit(1)
    )


def request(
    session: Session, queue: TaskQueue, settings: Settings, structure: Structure, owner: uuid.UUID | None, force: bool
) -> tuple[Verification, bool]:
    """(verification, created). One per structure unless ``force``: the latest queued, running or
    succeeded one is returned as it is (a queued one is sent again); a failed or cancelled one is
    retried by a new row. Commits; raises if the broker is unreachable (nothing is kept then)."""
    # The structure row lock serialises concurrent requests for the same crystal.
    session.scalar(select(Structure.id).where(Structure.id == structure.id).with_for_update())
    existing = latest(session, structure.id)
    if existing is not None and existing.state in REUSABLE and not force:
        session.rollback()
        if existing.state == "queued" or _abandoned(existing):
            # Send again: covers a send lost after the row committed, or a worker that died mid-run;
            # a duplicate is skipped by the claim.
            queue.enqueue_verification(existing.id)
        return existing, False
    verification = Verification(
        id=uuid.uuid4(),
        structure_id=structure.id,
        owner_key_id=owner,
        state="queued",
        forced=force and existing is not None,
        settings=dict(settings.dft_settings),
        max_seconds=settings.dft_max_seconds,
    )
    session.add(verification)
    session.commit()  # before the send: the worker must find the row when the message arrives
    try:
        queue.enqueue_verification(verification.id)
    except Exception:
        session.delete(verification)  # nothing is kept when the queue is unreachable
        session.commit()
        raise
    return verification, True


def cancel(session: Session, verification: Verification) -> Verification:
    locked = session.scalar(select(Verification).where(Verification.id == verification.id).with_for_update())
    assert locked is not None
    if locked.state not in ACTIVE:
        session.rollback()
        raise NotCancellable(f"verification is already {locked.state}; only queued or running ones can be cancelled")
    locked.state = "cancelled"
    locked.failure_reason = "cancelled"
    locked.error = "cancelled by request"
    locked.finished_at = datetime.now(UTC)
    session.commit()
    return locked


def describe(session: Session, v: Verification, structure: Structure) -> VerificationOut:
    crystal_id = session.scalar(select(DftCrystal.id).where(DftCrystal.verification_id == v.id))
    base = f"/v1/structures/{structure.id}"
    return VerificationOut(
        id=v.id,
        structure_id=v.structure_id,
        state=v.state,
        forced=v.forced,
        failure_reason=v.failure_reason,
        error=v.error,
        max_seconds=v.max_seconds,
        wall_seconds=v.wall_seconds,
        settings=v.settings,
        created_at=v.created_at,
        started_at=v.started_at,
        finished_at=v.finished_at,
        dft=v.result,
        generated={"charges": structure.charges, "dos": structure.dos, "cell": "generated"},
        predicted={
            "charges": structure.pred_charges_relaxed,
            "dos": structure.pred_dos_relaxed,
            "band_gap": structure.band_gap_pred,
            "cell": "relaxed",
        },
        comparison=v.comparison,
        dft_crystal_id=crystal_id,
        links={"self": f"{base}/verification", "cancel": f"{base}/verification/cancel", "structure": base},
    )
