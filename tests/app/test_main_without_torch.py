"""The API process needs neither torch nor the worker package: it starts, lists the shipped model
variants and validates requests with torch (and ``worker``) unimportable."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

SCRIPT = textwrap.dedent(
    """
    import importlib.abc
    import sys

    BLOCKED = ("torch", "worker")

    class Block(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in BLOCKED:
                raise ImportError(f"{name} is blocked in this test")
            return None

    sys.meta_path.insert(0, Block())

    from fastapi.testclient import TestClient

    from app.api.auth import Caller, require_caller
    from app.main import create_app
    from models.registry import list_models

    app = create_app()
    with TestClient(app) as client:
        assert client.get("/healthz").status_code == 200
        assert client.get("/v1/models").status_code == 401  # no key; checked before any database use
        # No database here: stand in for the key lookup (auth has its own tests).
        app.dependency_overrides[require_caller] = lambda: Caller(key_id=None, name="t", read_all=True)
        r = client.get("/v1/models")
        assert r.status_code == 200, r.text
        names = [m["name"] for m in r.json()["data"]]
        assert names == list_models() and "default" in names, names
        openapi = client.get("/openapi.json")
        assert openapi.status_code == 200
    leaked = sorted(m for m in sys.modules if m.split(".")[0] in BLOCKED)
    assert not leaked, leaked
    print("ok", ",".join(names))
    """
)


def test_api_starts_and_lists_models_without_torch(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO), "HOME": str(tmp_path)}
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.startswith("ok default,")
