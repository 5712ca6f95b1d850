"""Run the project's GPAW path on one cell in a capped child process that can be cancelled.

The child is ``models.data.descriptors.one_crystal`` (PBE, LCAO, Bader on the all-electron density,
atomic DOS, band gap), started exactly like the corpus labelling runner starts it: own process group,
address-space cap, dies with its parent, one BLAS thread. Unlike the runner, the parent polls: every
``poll`` seconds it asks ``keep_going()`` (heartbeat + cancel check) and enforces the wall-time cap,
killing the whole process group when either says stop.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from models.data.descriptors.runner import REPO_ROOT, _child_setup, _error_line
from models.data.descriptors.settings import DFTSettings


@dataclass
class DftOutcome:
    ok: bool
    seconds: float
    record: dict[str, Any] | None = None
    reason: str | None = None  # timeout | memory | error | cancelled
    message: str | None = None


def _kill(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()


def run_dft(
    cif: str,
    settings: DFTSettings,
    max_seconds: float,
    memory_gb: float,
    keep_going: Callable[[], bool],
    poll: float = 1.0,
) -> DftOutcome:
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    env["PYTHONPATH"] = str(REPO_ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    job = json.dumps({"material_id": "verification", "cif": cif, "settings": settings.model_dump()})
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="verify-") as tmp:
        out, txt, err_path = Path(tmp) / "out.json", Path(tmp) / "gpaw.txt", Path(tmp) / "stderr.txt"
        with open(err_path, "wb") as err, open(Path(tmp) / "in.json", "w+b") as stdin:
            stdin.write(job.encode())
            stdin.seek(0)
            proc = subprocess.Popen(
                [sys.executable, "-m", "models.data.descriptors.one_crystal", "--out", str(out), "--txt", str(txt)],
                stdin=stdin,
                stdout=subprocess.DEVNULL,
                stderr=err,
                cwd=REPO_ROOT,
                env=env,
                start_new_session=True,
                preexec_fn=lambda: _child_setup(int(memory_gb * 2**30)),
            )
            reason = None
            while proc.poll() is None:
                time.sleep(poll)
                if time.monotonic() - started > max_seconds:
                    reason = "timeout"
                elif not keep_going():
                    reason = "cancelled"
                if reason is not None:
                    _kill(proc)
                    break
        seconds = time.monotonic() - started
        if reason == "timeout":
            return DftOutcome(False, seconds, reason=reason, message=f"GPAW killed after the {max_seconds:.0f} s cap")
        if reason == "cancelled":
            return DftOutcome(False, seconds, reason=reason, message="cancelled while GPAW was running")
        if proc.returncode == 0 and out.exists():
            return DftOutcome(True, seconds, record=json.loads(out.read_text()))
        stderr = err_path.read_text(errors="replace")
        memory = "MemoryError" in stderr or "Cannot allocate" in stderr
        return DftOutcome(
            False,
            seconds,
            reason="memory" if memory else "error",
            message=_error_line(stderr) or f"GPAW child exited with code {proc.returncode}",
        )
