"""Missing variants are skipped with a reason (never a crash); job results are cached and resumed."""

from __future__ import annotations

import json
import os

import pytest

from benchmarks.jobs import Job, run_jobs
from benchmarks.run import main
from benchmarks.variants import ALL_VARIANTS, canonical, discover


def square(x: int) -> dict:
    return {"value": x * x}


def test_missing_variants_are_skipped_with_a_reason(tmp_path):
    (tmp_path / "ckpts" / "structure_only").mkdir(parents=True)
    (tmp_path / "ckpts" / "structure_only" / "model.pt").write_bytes(b"weights")
    sel = discover(None, root=tmp_path / "ckpts", snapshot_dir=tmp_path / "snap")
    assert [v.name for v in sel.available] == ["structure_only"]
    assert sorted(s.name for s in sel.skipped) == sorted(set(ALL_VARIANTS) - {"structure_only"})
    assert all("no shipped checkpoint" in line for line in sel.skipped_lines())
    v = sel.available[0]
    assert v.snapshot.read_bytes() == b"weights" and v.sha256 in {v.sha256} and v.snapshot.name.startswith(
        f"structure_only-{v.sha256[:16]}"
    )
    assert v.training_state == "unknown (no manifest)"


def test_variant_names():
    assert canonical("structure-only") == "structure_only" and canonical("default") == "charge_dos"
    with pytest.raises(ValueError, match="unknown variant"):
        canonical("nope")


def test_run_without_checkpoints_reports_skips_and_fails(tmp_path):
    out = tmp_path / "out"
    rc = main(["--quick", "--checkpoint-root", str(tmp_path / "empty"), "--out", str(out),
               "--cache", str(tmp_path / "cache"), "--variants", "default", "dummy"])
    assert rc == 1
    for suite in ("sampling", "inverse"):
        md = (out / f"{suite}.md").read_text()
        assert "- `charge_dos`: skipped — no shipped checkpoint" in md
        assert "- `dummy`: skipped — no shipped checkpoint" in md
        assert "No variant could be benchmarked" in md
        assert json.loads((out / f"{suite}.json").read_text())["skipped"][0]["variant"] == "charge_dos"


def test_jobs_are_cached_and_rerun_when_arguments_change(tmp_path):
    fn = "tests.benchmarks.test_variants:square"
    first = run_jobs([Job("a", fn, {"x": 3})], tmp_path, workers=1, log=lambda m: None)
    assert first["a"]["value"] == 9 and "resumed" not in first["a"]
    again = run_jobs([Job("a", fn, {"x": 3})], tmp_path, workers=1, log=lambda m: None)
    assert again["a"]["resumed"] is True and again["a"]["value"] == 9
    changed = run_jobs([Job("a", fn, {"x": 4})], tmp_path, workers=1, log=lambda m: None)
    assert changed["a"]["value"] == 16 and "resumed" not in changed["a"]


def allocate(gb: float) -> dict:
    """A job that needs ``gb`` GB at once (numpy raises MemoryError under the worker's address-space cap)."""
    import numpy as np

    a = np.ones(int(gb * 2**30 / 8))
    return {"value": float(a[-1])}


def test_worker_memory_cap_fails_one_job_and_keeps_the_others(tmp_path, monkeypatch):
    """A job that would eat the machine fails alone (JobsFailed names it); the other job is cached."""
    import pytest

    from benchmarks import jobs

    monkeypatch.setattr(jobs, "WORKER_MEMORY_GB", 2.0)
    square_fn, alloc_fn = "tests.benchmarks.test_variants:square", "tests.benchmarks.test_variants:allocate"
    todo = [Job("big", alloc_fn, {"gb": 4.0}), Job("small", square_fn, {"x": 5})]
    with pytest.raises(jobs.JobsFailed) as err:
        run_jobs(todo, tmp_path, workers=1, log=lambda m: None)
    assert list(err.value.failed) == ["big"] and "MemoryError" in err.value.failed["big"]
    again = run_jobs([Job("small", square_fn, {"x": 5})], tmp_path, workers=1, log=lambda m: None)
    assert again["small"]["resumed"] is True and again["small"]["value"] == 25


def fail_always(x: int) -> dict:
    raise ValueError(f"job {x} cannot run")


def test_one_worker_also_fails_one_job_and_keeps_the_others(tmp_path):
    """One worker is still a separate process: a raising job fails alone and is named, and the caller's
    thread settings are left as they were."""
    import torch

    from benchmarks import jobs

    todo = [Job("bad", "tests.benchmarks.test_variants:fail_always", {"x": 1}, cost=2.0),
            Job("good", "tests.benchmarks.test_variants:square", {"x": 6})]
    threads_before, env_before = torch.get_num_threads(), os.environ.get("OMP_NUM_THREADS")
    with pytest.raises(jobs.JobsFailed) as err:
        run_jobs(todo, tmp_path, workers=1, threads=3, log=lambda m: None)
    assert (torch.get_num_threads(), os.environ.get("OMP_NUM_THREADS")) == (threads_before, env_before)
    assert list(err.value.failed) == ["bad"] and "cannot run" in err.value.failed["bad"]
    again = run_jobs([Job("good", "tests.benchmarks.test_variants:square", {"x": 6})], tmp_path, workers=1,
                     log=lambda m: None)
    assert again["good"]["resumed"] is True and again["good"]["value"] == 36
