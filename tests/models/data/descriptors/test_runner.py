"""The batch runner on the cheapest real corpus crystals with tiny settings: resume, timeout, kill."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("gpaw", reason="the DFT extra (gpaw, gpaw-data) is not installed")

from models.data.descriptors.runner import REPO_ROOT, run  # noqa: E402
from models.data.descriptors.settings import DFTSettings  # noqa: E402
from models.data.descriptors.store import iter_failures, latest_results, load_dft_descriptors  # noqa: E402

TINY = DFTSettings(basis="dzp", kpt_length=3.0, h=0.3)


@pytest.mark.dft
def test_resume_skips_done_and_failed(tmp_path):
    first = run(limit=1, max_seconds=120, settings=TINY, results_dir=tmp_path)
    assert len(first) == 1 and first[0].ok, first[0].message
    done_id = first[0].material_id
    # second call: must not redo the finished crystal; a 1 s cap makes the next one time out
    second = run(limit=1, max_seconds=1, settings=TINY, results_dir=tmp_path)
    assert second[0].material_id != done_id and not second[0].ok and second[0].reason == "timeout"
    third = run(limit=1, max_seconds=1, settings=TINY, results_dir=tmp_path)
    assert third[0].material_id not in {done_id, second[0].material_id}
    assert set(latest_results(tmp_path)) == {done_id}
    assert {f["material_id"] for f in iter_failures(tmp_path)} == {second[0].material_id, third[0].material_id}
    d = load_dft_descriptors(tmp_path)[done_id]
    assert d.dos.shape == (len(d.species), 64)


def _children(pid: int) -> list[int]:
    out = []
    for p in Path("/proc").iterdir():
        if p.name.isdigit():
            try:
                if int((p / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    out.append(int(p.name))
            except (OSError, IndexError, ValueError):
                pass
    return out


def _start_runner_with_child(tmp_path):
    """Start the real runner CLI on one tiny crystal and wait until its DFT child exists."""
    cmd = [sys.executable, "-m", "models.data.descriptors", "run", "--limit", "1", "--max-seconds", "120",
           "--kpt-length", "3", "--h", "0.3", "--results-dir", str(tmp_path)]
    proc = subprocess.Popen(cmd, cwd=REPO_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    child = None
    for _ in range(300):
        kids = _children(proc.pid)
        if kids:
            child = kids[0]
            break
        time.sleep(0.05)
    assert child is not None, "runner never started its DFT child"
    return proc, child


@pytest.mark.dft
def test_killed_runner_takes_its_child_down_and_restarts(tmp_path):
    proc, child = _start_runner_with_child(tmp_path)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    for _ in range(100):
        if not Path(f"/proc/{child}").exists() or "Z" in Path(f"/proc/{child}/stat").read_text().split()[2]:
            break
        time.sleep(0.05)
    else:
        pytest.fail("DFT child survived the runner")
    assert latest_results(tmp_path) == {}
    # restart: the interrupted crystal is still to do and gets done
    again = run(limit=1, max_seconds=120, settings=TINY, results_dir=tmp_path)
    assert again[0].ok and set(latest_results(tmp_path)) == {again[0].material_id}


@pytest.mark.dft
def test_sigterm_stops_runner_and_child_at_once(tmp_path):
    proc, child = _start_runner_with_child(tmp_path)
    t0 = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=10) == 128 + signal.SIGTERM
    assert time.monotonic() - t0 < 10
    time.sleep(0.3)
    assert not Path(f"/proc/{child}").exists() or "Z" in Path(f"/proc/{child}/stat").read_text().split()[2]


def test_status_counts(tmp_path):
    from models.data.descriptors.runner import status
    from models.data.descriptors.store import ResultWriter

    w = ResultWriter(tmp_path)
    w.add_result({"material_id": "mp-22862", "species": ["Na", "Cl"], "charges": [0.86, -0.86],
                  "dos": [[0.0] * 64] * 2, "band_gap": 4.9, "is_metal": False, "energy_ev": -6.0, "seconds": 20.0,
                  "charge_residual": 1e-9, "mp_band_gap": 5.1451})
    w.add_failure({"material_id": "mp-1", "reason": "timeout", "seconds": 600})
    st = status(tmp_path)
    assert st["done"] == 1 and st["failed"] == 1 and st["failure_reasons"] == {"timeout": 1}
    assert st["elements_covered"] == 2 and st["median_seconds"] == 20.0
    assert st["gap_vs_mp_n_like_for_like"] == 1
    assert st["gap_vs_mp_mae_ev_like_for_like"] == pytest.approx(0.2451)
