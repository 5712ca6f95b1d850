"""Where long jobs keep their resume state: outside the work tree, which a new session lays anew, under
``$XDG_CACHE_HOME/mattergen-e`` (default ``~/.cache/mattergen-e``)."""

from __future__ import annotations

import os
from pathlib import Path


def cache_root() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "mattergen-e"


def full_bench_dir() -> Path:
    """The judged benchmark's job cache and checkpoint snapshots (``cache/``, ``snapshots/``)."""
    return cache_root() / "bench" / "full"
