"""A short-lived per-process cache of valid API keys, so a request need not query ``api_keys``.

A valid key is remembered for ``KEY_CACHE_SECONDS`` after it was read from the database. Revocation
therefore takes effect in every API process within that time; in the process that revokes (any change
of ``ApiKey.revoked_at`` through the ORM) the cache is emptied at once. Unknown and revoked keys are
never cached, so a new key works at once and guessed keys cannot fill the cache.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import event, select
from sqlalchemy.orm import Session

from app.services.api_keys import MAX_KEY_LENGTH, hash_key
from app.tables import ApiKey

KEY_CACHE_SECONDS = 5.0  # the longest a key revoked elsewhere keeps working in this process
KEY_CACHE_SIZE = 1024  # keys remembered per process; the least recently used go first


@dataclass(frozen=True)
class ActiveKey:
    """What a request needs to know about its key: a plain snapshot, safe to share between requests
    (an ORM row belongs to one session)."""

    id: uuid.UUID
    name: str
    is_admin: bool
    read_all: bool
    max_active_jobs: int | None
    max_queued_samples: int | None

    @classmethod
    def of(cls, row: ApiKey) -> ActiveKey:
        return cls(row.id, row.name, row.is_admin, row.read_all, row.max_active_jobs, row.max_queued_samples)


class KeyCache:
    """Valid keys by hash, each for ``ttl`` seconds after it was read; ``ttl <= 0`` caches nothing."""

    def __init__(self, ttl: float, size: int, clock: Callable[[], float] = time.monotonic):
        self.ttl, self.size, self.clock = ttl, size, clock
        self._entries: OrderedDict[str, tuple[float, ActiveKey]] = OrderedDict()
        self._lock = threading.Lock()  # sync routes run in several threads

    def get(self, digest: str) -> ActiveKey | None:
        with self._lock:
            entry = self._entries.get(digest)
            if entry is None:
                return None
            if entry[0] <= self.clock():
                del self._entries[digest]
                return None
            self._entries.move_to_end(digest)
            return entry[1]

    def put(self, digest: str, key: ActiveKey) -> None:
        if self.ttl <= 0:
            return
        with self._lock:
            self._entries[digest] = (self.clock() + self.ttl, key)
            self._entries.move_to_end(digest)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)


key_cache = KeyCache(KEY_CACHE_SECONDS, KEY_CACHE_SIZE)


@event.listens_for(ApiKey.revoked_at, "set")
def _revoked_here(target: ApiKey, value, oldvalue, initiator) -> None:
    key_cache.clear()  # a revocation made by this process applies here at once, not after the TTL


def lookup_active_key(session: Session, secret: str, cache: KeyCache = key_cache) -> ActiveKey | None:
    """The unrevoked key with this secret (from ``cache`` when it was read less than ``cache.ttl``
    seconds ago), or None."""
    if not secret or len(secret) > MAX_KEY_LENGTH:
        return None
    digest = hash_key(secret)
    hit = cache.get(digest)
    if hit is not None:
        return hit
    row = session.scalar(select(ApiKey).where(ApiKey.key_hash == digest, ApiKey.revoked_at.is_(None)))
    if row is None:
        return None
    key = ActiveKey.of(row)
    cache.put(digest, key)
    return key
