"""The DFT verification task (queue DFT_QUEUE, its own worker with concurrency 1).

Only the verification id travels through Redis. The task claims the row, runs the GPAW path on the
structure's relaxed cell (the generated one if it was not relaxed) in a capped, cancellable child
process, compares the result with the generated and predicted descriptors, and stores it together
with a DFT-labelled crystal (``dft_crystals``) carrying its provenance. Every failure ends the
verification ``failed`` with a reason (timeout, memory, error, site-order) and the message.
"""

from __future__ import annotations

import logging
import os
import socket
import time
import traceback
import uuid
import warnings

from pymatgen.core import Structure
from sqlalchemy.exc import OperationalError

from app.core.config import get_settings
from app.core.task_queue import VERIFY_TASK
from worker import dft_store
from worker.celery_app import celery_app
from worker.retry import RETRY_WHILE_DB_DOWN

log = logging.getLogger(__name__)


def run_verification(verification_id: str) -> str:
    from models.data.descriptors.settings import DFTSettings
    from worker.dft_compare import compare, site_permutation, to_stored_order
    from worker.dft_run import run_dft

    settings = get_settings()
    claim = dft_store.claim(uuid.UUID(verification_id), f"{socket.gethostname()}:{os.getpid()}")
    if claim is None:
        return "skipped"
    started = time.monotonic()
    try:
        dft_settings = DFTSettings(**claim.overrides)
        dft_store.record_settings(claim, dft_settings.model_dump())
        structure = Structure.from_dict(claim.structure)
        structure = Structure(structure.lattice, structure.species, structure.frac_coords)  # no site properties
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            cif = structure.to(fmt="cif")
        perm = site_permutation(structure, cif)
        if perm is None:
            return dft_store.finish(
                claim, wall_seconds=time.monotonic() - started, reason="site-order",
                error="the CIF round trip does not map the sites back one to one",
            )
        outcome = run_dft(
            cif, dft_settings, claim.max_seconds, settings.dft_memory_gb, lambda: _keep_going(claim)
        )
        if not outcome.ok:
            log.warning("verification %s: %s: %s", verification_id, outcome.reason, outcome.message)
            return dft_store.finish(
                claim, wall_seconds=outcome.seconds, reason=outcome.reason, error=outcome.message
            )
        record = to_stored_order(outcome.record or {}, perm)
        comparison = {**compare(record, claim.row), "structure_basis": claim.basis}
        crystal = {
            "formula": structure.composition.reduced_formula,
            "n_sites": len(structure),
            "structure": structure.as_dict(),
            "charges": record["charges"],
            "dos": record["dos"],
            "band_gap": float(record["band_gap"]),
            "energy_per_atom": float(record["energy_per_atom_ev"]),
            "settings": dft_settings.model_dump(),
            "provenance": {
                **claim.row["provenance"],
                "structure_id": claim.row["structure_id"],
                "verification_id": str(claim.id),
                "cell": claim.basis,
                "code": record.get("code"),
                "method": "GPAW LCAO PBE; Bader net charges of the all-electron density; LCAO atomic DOS",
            },
        }
        state = dft_store.finish(
            claim, wall_seconds=time.monotonic() - started, result=record, comparison=comparison, crystal=crystal
        )
        log.info("verification %s: %s (DFT gap %.2f eV)", verification_id, state, record["band_gap"])
        return state
    except OperationalError:
        raise  # the database is away: Celery retries; a stale claim is taken over after STALE_SECONDS
    except Exception as exc:
        log.exception("verification %s failed", verification_id)
        detail = "".join(traceback.format_exception_only(type(exc), exc)).strip()
        return dft_store.finish(claim, wall_seconds=time.monotonic() - started, reason="error", error=detail)


def _keep_going(claim: dft_store.ClaimedVerification) -> bool:
    try:
        return dft_store.still_wanted(claim)
    except OperationalError:
        return True  # a database blip does not cancel a DFT run


@celery_app.task(
    name=VERIFY_TASK,
    acks_late=True,
    reject_on_worker_lost=True,
    **RETRY_WHILE_DB_DOWN,
)
def verify_structure(verification_id: str) -> str:
    return run_verification(verification_id)
