"""The webhook delivery task: POST a finished job's document to its callback URL, signed, with retries.

Runs on the WEBHOOK_QUEUE, served by the webhook worker (``celery -A worker.webhook_app:celery_app
worker -Q webhooks``), which loads no model. See app/core/webhooks.py for the lifecycle and the
signature scheme.

Each attempt first *claims* the delivery row (state pending and due, or a 'sending' claim gone stale
because its worker died). Only the claim holder records the outcome. A duplicate message therefore
does nothing once the delivery succeeded, failed for good or is being attempted elsewhere. Attempts
are counted at the claim, so a worker that dies mid-attempt still uses one up.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx
from celery.signals import worker_process_init, worker_ready, worker_shutdown
from sqlalchemy import select, text

from app.core import webhooks
from app.core.config import get_settings
from app.core.db import reset_engine, session_scope
from app.core.task_queue import get_task_queue
from app.services.jobs import job_out
from app.tables import ApiKey, Job, WebhookDelivery
from worker.periodic import PeriodicThread
from worker.retry import RETRY_WHILE_DB_DOWN
from worker.webhook_app import celery_app

log = logging.getLogger(__name__)

MAX_REDIRECTS = 3
# 307/308 keep the method and body; 301/302/303 would turn the POST into a GET, which is not a delivery.
BODY_PRESERVING_REDIRECTS = frozenset({307, 308})
CLOCK_TOLERANCE_S = 2.0  # a countdown message may fire this much before next_attempt_at (clock skew)
_sweeper: PeriodicThread | None = None


def _claim(delivery_id: uuid.UUID, token: uuid.UUID) -> Any:
    with session_scope() as s:
        return s.execute(
            text(
                """
                UPDATE webhook_deliveries
                   SET state = 'sending', claim_token = :token, claimed_at = now(), attempts = attempts + 1
                 WHERE id = :id
                   AND ((state = 'pending' AND next_attempt_at <= now() + make_interval(secs => :tol))
                        OR (state = 'sending' AND claimed_at < now() - make_interval(secs => :stale)))
                RETURNING job_id, event, url, attempts
                """
            ),
            {"id": delivery_id, "token": token, "tol": CLOCK_TOLERANCE_S, "stale": webhooks.stale_claim_seconds()},
        ).one_or_none()


def _document(job_id: uuid.UUID, event: str, delivery_id: uuid.UUID) -> tuple[bytes | None, str | None]:
    """(raw body, signing secret): the envelope GET /v1/jobs/{id} returns, with the event in ``meta``."""
    with session_scope() as s:
        job = s.get(Job, job_id)
        if job is None:
            return None, None
        secret = None
        if job.owner_key_id is not None:
            secret = s.scalar(select(ApiKey.webhook_secret).where(ApiKey.id == job.owner_key_id))
        data = job_out(s, job).model_dump(mode="json")
    envelope = {"data": data, "meta": {"event": event, "delivery_id": str(delivery_id)}, "errors": []}
    return json.dumps(envelope, separators=(",", ":")).encode(), secret


def _post(url: str, body: bytes, headers: dict, timeout: float) -> tuple[int | None, str | None]:
    """One attempt: (status code, error). Redirects are followed by hand, and only 307/308 to hosts the
    allow-list accepts: httpx's own following would go anywhere the receiver points."""
    rules = webhooks.host_rules()
    # WEBHOOK_TIMEOUT bounds the whole attempt, redirects included: each hop gets what is left of it.
    deadline = time.monotonic() + timeout
    # trust_env=False: no proxy or netrc from the environment; the connection goes to the allowed host itself.
    with httpx.Client(follow_redirects=False, trust_env=False) as http:
        for _ in range(MAX_REDIRECTS + 1):
            left = deadline - time.monotonic()
            if left <= 0:
                raise httpx.TimeoutException("attempt deadline passed while following redirects")
            response = http.post(url, content=body, headers=headers, timeout=left)
            if not response.is_redirect:
                if response.is_success:
                    return response.status_code, None
                return response.status_code, f"receiver answered HTTP {response.status_code}"
            target = urljoin(url, response.headers.get("location", ""))
            if response.status_code not in BODY_PRESERVING_REDIRECTS:
                return response.status_code, f"redirect {response.status_code} not followed (only 307/308 keep the POST)"
            host = urlsplit(target).hostname or ""
            if urlsplit(target).scheme not in ("http", "https") or not rules.allows(host):
                return response.status_code, f"redirect to {host!r} not followed: not in WEBHOOK_ALLOWED_HOSTS"
            url = target
    return None, f"more than {MAX_REDIRECTS} redirects"


def _record(delivery_id: uuid.UUID, token: uuid.UUID, attempts: int, status: int | None, error: str | None,
            seconds: float) -> float | None:
    """Store one attempt's outcome (if our claim still holds). Returns the retry delay, or None when the
    delivery is finished (delivered, or out of attempts)."""
    settings = get_settings()
    now = datetime.now(UTC)
    entry = {"attempt": attempts, "at": now.isoformat(), "status_code": status, "error": error,
             "seconds": round(seconds, 3)}
    delay: float | None = None
    with session_scope() as s:
        row = s.scalar(
            select(WebhookDelivery)
            .where(WebhookDelivery.id == delivery_id, WebhookDelivery.claim_token == token)
            .with_for_update()
        )
        if row is None or row.state != "sending":
            return None
        row.history = [*(row.history or []), entry]
        row.last_status_code = status
        row.last_error = error
        row.claim_token = None
        if error is None:
            row.state, row.delivered_at, row.next_attempt_at = "delivered", now, None
        elif attempts >= settings.webhook_max_attempts:
            row.state, row.next_attempt_at = "failed", None
        else:
            delay = webhooks.backoff_seconds(attempts, settings)
            row.state = "pending"
            row.next_attempt_at = now + timedelta(seconds=delay)
            row.enqueued_at = now  # the countdown message below; the sweeper re-sends it if it is lost
    return delay


def _give_up(delivery_id: uuid.UUID, token: uuid.UUID, attempts: int, reason: str) -> None:
    """A delivery that can never succeed (job deleted, no signing secret, host no longer allowed)."""
    settings = get_settings()
    with session_scope() as s:
        s.execute(
            text(
                "UPDATE webhook_deliveries SET state = 'failed', last_error = :e, claim_token = NULL, "
                "next_attempt_at = NULL, history = coalesce(history, '[]'::jsonb) || CAST(:h AS jsonb) "
                "WHERE id = :id AND claim_token = :t"
            ),
            {"e": reason, "id": delivery_id, "t": token, "h": json.dumps([{
                "attempt": attempts, "at": datetime.now(UTC).isoformat(), "status_code": None,
                "error": reason, "seconds": 0.0}])},
        )
    log.warning("webhook %s failed for good (%s; max attempts %d)", delivery_id, reason, settings.webhook_max_attempts)


def deliver(delivery_id: str) -> str:
    """One attempt at one delivery; schedules the next attempt itself. Returns the outcome (for logs)."""
    did = uuid.UUID(delivery_id)
    token = uuid.uuid4()
    claim = _claim(did, token)
    if claim is None:
        return "skipped"  # delivered, given up, not yet due, or being attempted by another task
    body, secret = _document(claim.job_id, claim.event, did)
    if body is None:
        _give_up(did, token, claim.attempts, "the job no longer exists")
        return "failed"
    if not secret:
        _give_up(did, token, claim.attempts, "the job's API key has no webhook secret (deleted key)")
        return "failed"
    try:
        webhooks.check_callback_url(claim.url)
    except ValueError as exc:  # the allow-list changed since the job was accepted
        _give_up(did, token, claim.attempts, str(exc))
        return "failed"
    settings = get_settings()
    headers = webhooks.signed_headers(secret, int(time.time()), body, claim.event, did)
    started = time.perf_counter()
    try:
        status, error = _post(claim.url, body, headers, settings.webhook_timeout)
    except httpx.TimeoutException:
        status, error = None, f"no answer within WEBHOOK_TIMEOUT={settings.webhook_timeout:g} s"
    except httpx.HTTPError as exc:
        status, error = None, f"{type(exc).__name__}: {exc}"[:500]
    delay = _record(did, token, claim.attempts, status, error, time.perf_counter() - started)
    if delay is not None:
        try:
            webhooks.send_task(get_task_queue().celery, did, countdown=delay)
        except Exception:
            log.exception("could not schedule the next attempt of webhook %s; the sweeper will", did)
    outcome = "delivered" if error is None else ("retrying" if delay is not None else "failed")
    log.info("webhook %s (%s) attempt %d: %s %s", did, claim.event, claim.attempts, outcome, error or status)
    return outcome


@celery_app.task(
    name=webhooks.DELIVER_WEBHOOK_TASK,
    acks_late=True,
    reject_on_worker_lost=True,
    # PostgreSQL unreachable before the claim: re-publish with backoff (a claimed attempt whose record
    # failed is picked up again by the sweeper once its claim is stale).
    **RETRY_WHILE_DB_DOWN,
    retry_jitter=True,
)
def deliver_webhook(delivery_id: str) -> str:
    return deliver(delivery_id)


def sweep_once() -> int:
    """Send the tasks of deliveries nobody is going to run (see app/core/webhooks.py: dispatch)."""
    with session_scope() as s:
        return len(webhooks.dispatch(s, get_task_queue().celery))


@worker_process_init.connect
def _init_process(**_: Any) -> None:
    reset_engine()  # never share database sockets across fork


@worker_ready.connect
def _start_sweeper(**_: Any) -> None:
    global _sweeper
    _sweeper = PeriodicThread("webhook-sweeper", get_settings().webhook_sweep_interval, sweep_once, immediate=True)
    _sweeper.start()


@worker_shutdown.connect
def _stop_sweeper(**_: Any) -> None:
    if _sweeper is not None:
        _sweeper.stop()
