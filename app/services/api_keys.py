"""API keys: generate, store hashed, look up, list, revoke.

A key is ``mge_`` + 43 URL-safe characters (256 random bits). Only its SHA-256 is stored, with the
first characters (``prefix``) so an operator can recognise a key in ``python -m app.keys list``.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.core.webhooks import new_secret as new_webhook_secret
from app.tables import ApiKey

KEY_PREFIX = "mge_"
PREFIX_CHARS = 12  # "mge_" + 8 random characters shown by `list`
MAX_KEY_LENGTH = 256  # anything longer is not one of ours; refuse it before hashing


@dataclass(frozen=True)
class NewKey:
    """A freshly created key: ``secret`` is shown once and never stored; ``webhook_secret`` signs the
    key's webhooks (stored: the server needs it to sign)."""

    id: uuid.UUID
    name: str
    secret: str
    webhook_secret: str = ""


def hash_key(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def create_key(
    session: Session,
    name: str,
    *,
    is_admin: bool = False,
    read_all: bool = False,
    max_active_jobs: int | None = None,
    max_queued_samples: int | None = None,
) -> NewKey:
    """Insert a key and commit; the returned secret is the only copy."""
    if not name.strip() or len(name) > 128:
        raise ValueError("a key name must be 1-128 characters")
    for label, value in (("max_active_jobs", max_active_jobs), ("max_queued_samples", max_queued_samples)):
        if value is not None and not 1 <= value <= 2**31 - 1:
            raise ValueError(f"{label} must be between 1 and 2147483647")
    secret = KEY_PREFIX + secrets.token_urlsafe(32)
    row = ApiKey(
        id=uuid.uuid4(),
        name=name.strip(),
        key_hash=hash_key(secret),
        prefix=secret[:PREFIX_CHARS],
        webhook_secret=new_webhook_secret(),
        is_admin=is_admin,
        read_all=read_all,
        max_active_jobs=max_active_jobs,
        max_queued_samples=max_queued_samples,
    )
    session.add(row)
    session.commit()
    return NewKey(row.id, row.name, secret, row.webhook_secret)


def find_active_key(session: Session, secret: str) -> ApiKey | None:
    """The unrevoked key with this secret, or None."""
    if not secret or len(secret) > MAX_KEY_LENGTH:
        return None
    return session.scalar(
        select(ApiKey).where(ApiKey.key_hash == hash_key(secret), ApiKey.revoked_at.is_(None))
    )


def is_valid(session: Session, secret: str) -> bool:
    return find_active_key(session, secret) is not None


def list_keys(session: Session) -> list[ApiKey]:
    return list(session.scalars(select(ApiKey).order_by(ApiKey.created_at, ApiKey.name)))


def revoke_keys(session: Session, ident: str) -> list[ApiKey]:
    """Revoke the key with this id, or every unrevoked key with this name or prefix. Commits."""
    query = select(ApiKey).where(ApiKey.revoked_at.is_(None))
    try:
        query = query.where(ApiKey.id == uuid.UUID(ident))
    except ValueError:
        query = query.where((ApiKey.name == ident) | (ApiKey.prefix == ident))
    rows = list(session.scalars(query))
    now = datetime.now(UTC)
    for row in rows:
        row.revoked_at = now
    session.commit()
    return rows


def rotate_webhook_secret(session: Session, ident: str) -> tuple[ApiKey, str]:
    """Give the one unrevoked key with this id, name or prefix a new webhook secret; commits and returns
    (key, new secret). Deliveries signed from now on use the new secret, retries included. Raises
    LookupError when no key or more than one key matches."""
    query = select(ApiKey).where(ApiKey.revoked_at.is_(None))
    try:
        query = query.where(ApiKey.id == uuid.UUID(ident))
    except ValueError:
        query = query.where((ApiKey.name == ident) | (ApiKey.prefix == ident))
    rows = list(session.scalars(query.with_for_update()))
    if len(rows) != 1:
        session.rollback()
        what = "no active key" if not rows else f"{len(rows)} active keys (give the id)"
        raise LookupError(f"{what} match {ident!r}")
    row = rows[0]
    row.webhook_secret = new_webhook_secret()
    session.commit()
    return row, row.webhook_secret
