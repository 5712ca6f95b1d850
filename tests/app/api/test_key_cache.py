"""The per-process API key cache: how long a revocation made elsewhere takes to apply (at most the
TTL), and that a revocation in this process applies at once."""

from __future__ import annotations

import uuid

from sqlalchemy import text

from app.core.db import get_sessionmaker
from app.services.api_keys import revoke_keys
from app.services.key_cache import ActiveKey, KeyCache, key_cache, lookup_active_key
from tests.conftest import make_key


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _key(name: str = "k") -> ActiveKey:
    return ActiveKey(uuid.uuid4(), name, False, False, None, None)


def test_entries_expire_after_the_ttl_and_the_least_recently_used_go_first():
    clock = Clock()
    cache = KeyCache(ttl=5.0, size=2, clock=clock)
    a, b, c = _key("a"), _key("b"), _key("c")
    cache.put("a", a)
    clock.now += 4.9
    assert cache.get("a") is a
    clock.now += 0.1
    assert cache.get("a") is None and len(cache) == 0
    cache.put("a", a), cache.put("b", b)
    cache.get("a")  # b is now the least recently used
    cache.put("c", c)
    assert cache.get("b") is None and cache.get("a") is a and cache.get("c") is c
    off = KeyCache(ttl=0, size=10, clock=clock)
    off.put("a", a)
    assert off.get("a") is None


def test_a_revocation_elsewhere_applies_within_the_ttl(services):
    clock = Clock()
    cache = KeyCache(ttl=5.0, size=16, clock=clock)
    key = make_key(f"cached-{uuid.uuid4().hex[:6]}")
    with get_sessionmaker()() as s:
        assert lookup_active_key(s, key.secret, cache).id == key.id
    with get_sessionmaker()() as s:  # as another process would: plain SQL, no ORM event here
        s.execute(text("UPDATE api_keys SET revoked_at = now() WHERE id = :i"), {"i": key.id})
        s.commit()
    with get_sessionmaker()() as s:
        clock.now += 4.0
        assert lookup_active_key(s, key.secret, cache).id == key.id  # still inside the window
        clock.now += 1.0
        assert lookup_active_key(s, key.secret, cache) is None  # window over: read again, revoked
        clock.now += 100.0
        assert lookup_active_key(s, key.secret, cache) is None  # and a revoked key is never cached
    assert len(cache) == 0


def test_a_revocation_in_this_process_applies_at_once_and_unknown_keys_are_not_cached(services):
    key = make_key(f"cached-{uuid.uuid4().hex[:6]}")
    with get_sessionmaker()() as s:
        assert lookup_active_key(s, key.secret).id == key.id
        assert lookup_active_key(s, key.secret + "x") is None
        n = len(key_cache)
        assert lookup_active_key(s, "mge_unknown") is None and len(key_cache) == n
        revoke_keys(s, str(key.id))
        assert len(key_cache) == 0
        assert lookup_active_key(s, key.secret) is None
