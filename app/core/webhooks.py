"""Webhooks (issue 18): which callback URLs are allowed, how a delivery is signed, and how delivery
tasks are put on the queue. Imported by the API and the worker; needs neither torch nor the worker.

Lifecycle: a job may carry ``callback_url``. When it ends (succeeded, failed, cancelled) the
``jobs_webhook_on_terminal`` trigger (migration 0006) inserts a ``webhook_deliveries`` row in the same
transaction, so each terminal transition has exactly one delivery whichever code path ended the job.
Whoever ended the job then calls :func:`dispatch` to send its task at once; the webhook worker's
sweeper (:func:`sweep`) sends what a crash or a broker outage left behind. The task
(worker/webhooks.py) claims the row before each attempt, so a duplicate message never sends again
after a success.

Signature scheme (what receivers verify; ``mattergen_e.client.verify_signature`` implements it):

    X-MatterGen-Timestamp: <unix seconds when this attempt was signed>
    X-MatterGen-Signature: sha256=<hex HMAC-SHA256(key=webhook secret, msg=b"<timestamp>." + raw body)>

The timestamp is part of the signed bytes, so a captured request cannot be replayed later with a fresh
timestamp; receivers reject timestamps older than a few minutes and de-duplicate on
``X-MatterGen-Delivery`` (an attempt that timed out on our side may have arrived).
"""

from __future__ import annotations

import fnmatch
import hashlib
import hmac
import ipaddress
import logging
import secrets
import uuid
from dataclasses import dataclass
from urllib.parse import urlsplit

from sqlalchemy import text
from sqlalchemy.orm import Session

from app.core.config import Settings, get_settings

log = logging.getLogger(__name__)

DELIVER_WEBHOOK_TASK = "worker.webhooks.deliver_webhook"
SECRET_PREFIX = "whsec_"
SIGNATURE_HEADER = "X-MatterGen-Signature"
TIMESTAMP_HEADER = "X-MatterGen-Timestamp"
EVENT_HEADER = "X-MatterGen-Event"
DELIVERY_HEADER = "X-MatterGen-Delivery"
MAX_URL_LENGTH = 2048


def new_secret() -> str:
    """A fresh signing secret: ``whsec_`` + 256 random bits, URL-safe."""
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def signature(secret: str, timestamp: int | str, body: bytes) -> str:
    """The hex HMAC-SHA256 of ``b"<timestamp>." + body`` under ``secret``."""
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def signed_headers(secret: str, timestamp: int, body: bytes, event: str, delivery_id: uuid.UUID | str) -> dict:
    return {
        "Content-Type": "application/json",
        "User-Agent": "mattergen-e-webhooks/1",
        EVENT_HEADER: event,
        DELIVERY_HEADER: str(delivery_id),
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: "sha256=" + signature(secret, timestamp, body),
    }


# --- allow-list ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class HostRules:
    names: tuple[str, ...]  # lower-case fnmatch patterns
    networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]

    @classmethod
    def parse(cls, setting: str) -> HostRules:
        names, networks = [], []
        for item in (part.strip() for part in setting.split(",")):
            if not item:
                continue
            try:
                networks.append(ipaddress.ip_network(item.strip("[]"), strict=False))
            except ValueError:
                names.append(item.lower().rstrip("."))
        return cls(tuple(names), tuple(networks))

    def allows(self, host: str) -> bool:
        host = host.lower().strip("[]").rstrip(".")
        try:
            ip = ipaddress.ip_address(host)
        except ValueError:
            ip = None
        if ip is not None:
            # An IP literal must fall into a listed network (or be listed verbatim as a name).
            return any(ip in net for net in self.networks) or host in self.names
        return any(fnmatch.fnmatchcase(host, pattern) for pattern in self.names)


def host_rules(settings: Settings | None = None) -> HostRules:
    return HostRules.parse((settings or get_settings()).webhook_allowed_hosts)


def check_callback_url(url: str, settings: Settings | None = None) -> str:
    """``url`` if it is an http(s) URL whose host WEBHOOK_ALLOWED_HOSTS allows; ValueError (a 422 at
    submission) saying what is wrong otherwise."""
    if len(url) > MAX_URL_LENGTH:
        raise ValueError(f"callback_url is longer than {MAX_URL_LENGTH} characters")
    if any(c.isspace() or ord(c) < 32 for c in url):
        raise ValueError("callback_url must not contain whitespace or control characters")
    try:
        parts = urlsplit(url)
        port = parts.port  # raises for a non-numeric or out-of-range port
    except ValueError as exc:
        raise ValueError(f"callback_url is not a valid URL ({exc})") from None
    if parts.scheme.lower() not in ("http", "https"):
        raise ValueError("callback_url must be an http:// or https:// URL")
    host = parts.hostname
    if not host:
        raise ValueError("callback_url has no host")
    if parts.username is not None or parts.password is not None:
        raise ValueError(
            "callback_url must not contain credentials (they would be stored and shown with the job); "
            "receivers authenticate deliveries by their X-MatterGen-Signature"
        )
    if port == 0:
        raise ValueError("callback_url has port 0")
    if not host_rules(settings).allows(host):
        raise ValueError(
            f"callback_url host {host!r} is not allowed by the server setting WEBHOOK_ALLOWED_HOSTS "
            "(the operator's list of webhook receivers; by default only loopback hosts)"
        )
    return url


# --- queueing ------------------------------------------------------------------------------------


def backoff_seconds(attempts_made: int, settings: Settings | None = None) -> float:
    """Wait before the next attempt after ``attempts_made`` failed ones: base, 2 x base, 4 x base, ..."""
    s = settings or get_settings()
    return float(min(s.webhook_backoff_base * 2 ** max(attempts_made - 1, 0), s.webhook_backoff_max))


def stale_claim_seconds(settings: Settings | None = None) -> float:
    """A 'sending' claim older than this belongs to a worker that died mid-attempt (an attempt takes at
    most a few timeouts: the request and up to MAX_REDIRECTS redirects)."""
    s = settings or get_settings()
    return 4 * s.webhook_timeout + 30.0


def lost_after_seconds(settings: Settings | None = None) -> float:
    """A due delivery whose task was sent longer ago than this and has not run is sent again."""
    s = settings or get_settings()
    return max(60.0, 3 * s.webhook_sweep_interval)


def send_task(celery, delivery_id: uuid.UUID | str, countdown: float | None = None) -> None:
    """Only the delivery id travels through Redis; the task reads the rest from PostgreSQL."""
    celery.send_task(
        DELIVER_WEBHOOK_TASK,
        args=[str(delivery_id)],
        queue=get_settings().webhook_queue,
        countdown=countdown,
    )


def dispatch(session: Session, celery, job_id: uuid.UUID | None = None) -> list[uuid.UUID]:
    """Send the tasks of deliveries that need one: never sent (a job just ended), or lost (their
    message or their worker died). ``job_id``: only that job's (right after it ended). Commits.

    Rows are marked before the send, under a row lock (SKIP LOCKED: concurrent dispatchers take
    different rows). A crash between send and commit leaves a duplicate message at worst, which the
    task's claim ignores; a failed send rolls the mark back so the sweeper tries again.
    """
    lost = lost_after_seconds()
    try:
        rows = session.execute(
            text(
                """
                SELECT id FROM webhook_deliveries
                 WHERE (CAST(:job AS uuid) IS NULL OR job_id = :job)
                   AND ((state = 'pending'
                         AND (enqueued_at IS NULL
                              OR (next_attempt_at < now() - make_interval(secs => :lost)
                                  AND enqueued_at < now() - make_interval(secs => :lost))))
                        OR (state = 'sending' AND claimed_at < now() - make_interval(secs => :stale)
                            AND (enqueued_at IS NULL OR enqueued_at < now() - make_interval(secs => :lost))))
                 ORDER BY created_at
                 LIMIT 200
                 FOR UPDATE SKIP LOCKED
                """
            ),
            {"job": job_id, "lost": lost, "stale": stale_claim_seconds()},
        ).all()
        ids = [r.id for r in rows]
        if ids:
            session.execute(
                text("UPDATE webhook_deliveries SET enqueued_at = now() WHERE id = ANY(:ids)"), {"ids": ids}
            )
            session.flush()
            for delivery_id in ids:
                send_task(celery, delivery_id)
        session.commit()
        return ids
    except Exception:
        session.rollback()
        raise


def kick(job_id: uuid.UUID | str) -> None:
    """Best-effort :func:`dispatch` of one job's new delivery, right after the job ended (the worker
    calls it after each chunk; the API after a cancel). A failure is logged: the sweeper sends it later."""
    from app.core.db import session_scope
    from app.core.task_queue import get_task_queue

    try:
        with session_scope() as s:
            dispatch(s, get_task_queue().celery, uuid.UUID(str(job_id)))
    except Exception:
        log.exception("could not send the webhook of job %s now; the webhook worker's sweeper will", job_id)
