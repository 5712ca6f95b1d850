"""The sampling task: one Celery task samples one chunk of one job and commits it to PostgreSQL.

Only (job id, chunk index) arrives through Redis; every parameter is read from the job row, and the
structures go straight to PostgreSQL. See worker/store.py for the claim/commit rules that make the
task safe to run twice.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
import time
import traceback
import uuid
from typing import Any

from celery.signals import worker_process_init, worker_ready, worker_shutdown
from sqlalchemy.exc import OperationalError

from app.core import webhooks
from app.core.config import get_settings
from app.core.db import reset_engine, session_scope
from app.core.scheduling import schedule_chunks
from app.core.task_queue import SAMPLE_CHUNK_TASK, get_task_queue
from app.tables import ChunkState
from worker import model_cache, phase_store, store
from worker.celery_app import celery_app
from worker.periodic import PeriodicThread
from worker.postprocess import postprocess
from worker.records import structure_record
from worker.retry import RETRY_WHILE_DB_DOWN

log = logging.getLogger(__name__)

_reaper = None


class Throttled:
    """Rate-limits a DB round trip called from the sampling loop."""

    def __init__(self, interval: float):
        self.interval = interval
        self.last = float("-inf")

    def due(self) -> bool:
        now = time.monotonic()
        if now - self.last >= self.interval:
            self.last = now
            return True
        return False


def _worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def run_chunk(job_id: str, chunk_index: int) -> str:
    """Claim, sample, commit. Returns a short outcome string (also the task result, for logs)."""
    settings = get_settings()
    jid = uuid.UUID(job_id)
    claim = store.claim_chunk(
        jid, chunk_index, _worker_name(), settings.stale_after, settings.max_chunk_attempts
    )
    if claim is None:
        return "skipped"
    # Keeps the chunk's heartbeat fresh while sampling runs (even inside long torch calls).
    beat = PeriodicThread(
        "chunk-heartbeat",
        settings.heartbeat_interval,
        lambda: store.heartbeat(claim.job_id, claim.chunk_index, claim.token),
    )
    beat.start()
    try:
        outcome = _sample_and_commit(claim, settings)
    except OperationalError:
        # Database trouble is not the job's fault: hand the chunk back and let Celery retry the task.
        log.exception("chunk %s/%d: database error; will retry", job_id, chunk_index)
        with contextlib.suppress(Exception):
            store.unclaim_chunk(claim)
        raise
    except Exception as exc:
        log.exception("chunk %s/%d failed", job_id, chunk_index)
        detail = "".join(traceback.format_exception_only(type(exc), exc)).strip()
        store.release_chunk(claim, ChunkState.failed, error=detail[:2000])
        return "failed"
    finally:
        beat.stop()
    if outcome == "committed":
        _schedule_next(jid, settings.max_inflight_chunks_per_job)
    return outcome


def _schedule_next(job_id: uuid.UUID, limit: int) -> None:
    """Enqueue the job's next chunk now that one finished. Best-effort: the chunk is committed; if the
    broker or database is unreachable the reaper tops the job up later."""
    try:
        with session_scope() as s:
            schedule_chunks(s, get_task_queue(), job_id, limit)
    except Exception:
        log.exception("could not enqueue the next chunk of job %s; the reaper will", job_id)


def _sample_and_commit(claim: store.ClaimedChunk, settings: Any) -> str:
    from models.sample import GenerationCancelled, generate

    params = claim.params
    model = model_cache.get_model(params.model_name)
    steps = params.steps or model.default_steps
    store.record_model(claim.job_id, model.checkpoint_sha256, steps)

    progress_gate = Throttled(settings.progress_interval)
    cancel_gate = Throttled(settings.cancel_poll_interval)
    wanted = True

    # Both callbacks are best-effort: a database blip must not abort a chunk that is sampling fine
    # (the commit at the end is what has to succeed).
    def progress(fraction: float) -> None:
        if progress_gate.due():
            try:
                store.heartbeat(claim.job_id, claim.chunk_index, claim.token, fraction)
            except OperationalError:
                log.warning("progress write failed; continuing")

    def should_stop() -> bool:
        nonlocal wanted
        if wanted and cancel_gate.due():
            try:
                wanted = store.still_wanted(claim.job_id, claim.chunk_index, claim.token)
            except OperationalError:
                log.warning("cancel check failed; continuing")
        return not wanted

    started = time.perf_counter()
    try:
        crystals = generate(
            model,
            claim.size,
            seed=claim.seed,
            **params.sample_kwargs(steps),
            # One batch per chunk: the model derives per-batch seeds from the batch layout, so sampling
            # the chunk as a single batch makes results depend only on values stored with the job.
            batch_size=claim.size,
            progress=progress,
            should_stop=should_stop,
        )
    except GenerationCancelled:
        # A partial chunk is dropped: stored chunks are always whole, which keeps sample indices
        # aligned with the deterministic chunk seeds.
        store.release_chunk(claim, ChunkState.cancelled)
        return "cancelled"
    sampling_seconds = time.perf_counter() - started

    if len(crystals) != claim.size:
        raise RuntimeError(f"model returned {len(crystals)} structures for a chunk of {claim.size}")
    # Second phase, in the worker so every structure lands complete in one transaction: relaxation,
    # symmetry, predicted properties (of the relaxed crystal), descriptor predictor, screen checks.
    # postprocess never raises for a crystal: what cannot be computed becomes nulls and a reason.
    relax, screen = phase_store.job_options(claim.job_id)
    relax_gate = Throttled(settings.progress_interval)

    def relax_progress(fraction: float) -> None:
        if relax_gate.due() or fraction >= 1.0:
            try:
                phase_store.relax_progress(claim.job_id, claim.chunk_index, claim.token, fraction)
            except OperationalError:
                log.warning("progress write failed; continuing")

    properties, phase_seconds = postprocess(crystals, relax=relax, screen=screen, progress=relax_progress)
    property_seconds = sum(phase_seconds.values())
    records = [
        structure_record(
            crystal,
            sample_index=claim.start_index + i,
            chunk_index=claim.chunk_index,
            seed=claim.seed,
            model_name=model.name,
            checkpoint_sha256=model.checkpoint_sha256,
            guidance_scale=params.guidance_scale,
            steps=steps,
            properties=props,
        )
        for i, (crystal, props) in enumerate(zip(crystals, properties, strict=True))
    ]
    outcome = store.commit_chunk(claim, records, sampling_seconds)
    log.info(
        "chunk %s/%d: %s (%d structures, %.2f s sampling, %.2f s post-processing: %s)",
        claim.job_id,
        claim.chunk_index,
        outcome,
        len(records),
        sampling_seconds,
        property_seconds,
        ", ".join(f"{k} {v:.2f} s" for k, v in phase_seconds.items()),
    )
    return outcome


@celery_app.task(
    name=SAMPLE_CHUNK_TASK,
    acks_late=True,
    reject_on_worker_lost=True,
    # PostgreSQL unreachable: the task would be acked without having claimed its chunk, leaving a
    # pending chunk nobody will run. Re-publish it with backoff instead (a chunk that *was* claimed is
    # recovered by the heartbeat reaper).
    **RETRY_WHILE_DB_DOWN,
    retry_jitter=True,
)
def sample_chunk(job_id: str, chunk_index: int) -> str:
    try:
        return run_chunk(job_id, chunk_index)
    finally:
        # If this chunk ended the job, its webhook delivery (created by a trigger) goes out now.
        webhooks.kick(job_id)


@worker_process_init.connect
def _init_process(**_: Any) -> None:
    """Pool child start: fresh DB connections (never share sockets across fork), bounded torch threads,
    and warm the model cache (then the property predictor) in the background so the first chunk does
    not pay for loading."""
    reset_engine()
    # CHGNet/ASE/GPAW children: one BLAS thread per process (the launchers set it too, for libraries
    # loaded before the fork); set here, in the process entry point, never in library code.
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    settings = get_settings()
    if settings.torch_threads:
        import torch

        torch.set_num_threads(settings.torch_threads)
    if settings.preload_model:
        threading.Thread(target=_preload, name="model-preload", daemon=True).start()


def _preload() -> None:
    try:
        model_cache.get_model()
    except Exception:
        log.exception("model preload failed; the first task will retry loading")
    if get_settings().predict_properties:
        from worker.properties import get_evaluator

        get_evaluator()  # never raises; logs when the evaluation package is unavailable
    if get_settings().predict_descriptors:
        try:
            from models.data.descriptors.predictor.predict import load_model

            load_model()
        except Exception:
            log.exception("descriptor predictor preload failed; structures get null predicted descriptors")


@worker_ready.connect
def _start_reaper(**_: Any) -> None:
    global _reaper
    from worker.reaper import start_reaper

    _reaper = start_reaper(get_settings().reaper_interval)


@worker_shutdown.connect
def _stop_reaper(**_: Any) -> None:
    if _reaper is not None:
        _reaper.stop()
