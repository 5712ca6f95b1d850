"""`python -m app.keys`: create prints a working key once, list never shows secrets, revoke stops it."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from app.services.key_cache import KEY_CACHE_SECONDS, key_cache
from tests.conftest import REPO


def _keys(*args: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "app.keys", *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=120
    )


def test_create_list_revoke(client, services, monkeypatch):
    env = {**os.environ, "DATABASE_URL": services.database_url}
    created = _keys("create", "cli-test", "--read-all", "--max-active-jobs", "3", env=env)
    assert created.returncode == 0, created.stderr
    secret = created.stdout.strip()
    assert secret.startswith("mge_") and len(secret) > 40 and "\n" not in secret
    auth = {"Authorization": f"Bearer {secret}"}
    assert client.get("/v1/jobs", headers=auth).status_code == 200

    listed = _keys("list", env=env)
    assert listed.returncode == 0 and "cli-test" in listed.stdout and "read-all" in listed.stdout
    assert secret not in listed.stdout and secret[:12] in listed.stdout

    revoked = _keys("revoke", "cli-test", env=env)
    assert revoked.returncode == 0 and "revoked" in revoked.stdout
    # The CLI is another process: this API process may serve the key from its cache for at most
    # KEY_CACHE_SECONDS more. Move the cache's clock past that instead of sleeping.
    monkeypatch.setattr(key_cache, "clock", lambda: time.monotonic() + KEY_CACHE_SECONDS)
    assert client.get("/v1/jobs", headers=auth).status_code == 401
    assert _keys("revoke", "cli-test", env=env).returncode == 1  # nothing left to revoke
    assert _keys("create", "x", "--max-active-jobs", "0", env=env).returncode == 2
