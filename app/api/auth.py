"""Who is calling: API-key authentication and what a caller may see.

Every /v1 route depends on :data:`CallerDep`. ``Authorization: Bearer <key>`` is looked up (by hash)
in the request's own database session, or in the process's short-lived key cache (a revocation takes
effect in every API process within ``KEY_CACHE_SECONDS``, 5 s; see app/services/key_cache.py); a
missing, unknown or revoked key is a 401. With the
``PUBLIC_READ`` setting, GET/HEAD requests without a key are served as an anonymous read-all caller.

Visibility: a key sees its own jobs and their structures; ``is_admin`` and ``read_all`` keys see all
(jobs submitted before keys existed have no owner, so only they see those). Only the owner or an
admin may change a job (cancel).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Annotated, TypeVar

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import Select, select

from app.api.deps import SessionDep, SettingsDep
from app.services.key_cache import lookup_active_key
from app.tables import Job, Structure

S = TypeVar("S", bound=Select)

bearer_scheme = HTTPBearer(
    auto_error=False,
    scheme_name="ApiKey",
    description="`Authorization: Bearer <key>`; create keys with `python -m app.keys create NAME`.",
)

READ_METHODS = frozenset({"GET", "HEAD"})


@dataclass(frozen=True)
class Caller:
    """The authenticated client of one request."""

    key_id: uuid.UUID | None  # None: anonymous (public read)
    name: str
    is_admin: bool = False
    read_all: bool = False
    max_active_jobs: int | None = None  # None: the service default
    max_queued_samples: int | None = None

    @property
    def sees_all(self) -> bool:
        return self.is_admin or self.read_all

    def may_see(self, owner_key_id: uuid.UUID | None) -> bool:
        return self.sees_all or (self.key_id is not None and owner_key_id == self.key_id)

    def may_modify(self, owner_key_id: uuid.UUID | None) -> bool:
        return self.is_admin or (self.key_id is not None and owner_key_id == self.key_id)

    def visible_jobs(self, stmt: S) -> S:
        """``stmt`` (a select involving ``jobs``) restricted to the jobs this caller may see."""
        return stmt if self.sees_all else stmt.where(Job.owner_key_id == self.key_id)

    def visible_structures(self, stmt: S) -> S:
        """``stmt`` (a select involving ``structures``) restricted to structures of visible jobs."""
        if self.sees_all:
            return stmt
        owned = select(Job.id).where(Job.owner_key_id == self.key_id)
        return stmt.where(Structure.job_id.in_(owned))


ANONYMOUS_READER = Caller(key_id=None, name="anonymous", read_all=True)


def _unauthorized(message: str) -> HTTPException:
    return HTTPException(401, detail=message, headers={"WWW-Authenticate": "Bearer"})


def require_caller(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
) -> Caller:
    if credentials is None:
        if settings.public_read and request.method in READ_METHODS:
            return ANONYMOUS_READER
        raise _unauthorized("missing API key: send 'Authorization: Bearer <key>'")
    key = lookup_active_key(session, credentials.credentials)
    if key is None:
        raise _unauthorized("invalid or revoked API key")
    return Caller(
        key_id=key.id,
        name=key.name,
        is_admin=key.is_admin,
        read_all=key.read_all,
        max_active_jobs=key.max_active_jobs,
        max_queued_samples=key.max_queued_samples,
    )


CallerDep = Annotated[Caller, Depends(require_caller)]
