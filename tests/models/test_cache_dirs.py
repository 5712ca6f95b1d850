"""Long jobs keep their resume state outside the work tree, which a new session lays anew."""

from pathlib import Path

from models.cache_dirs import cache_root, full_bench_dir
from models.train import REPO_ROOT


def test_bench_and_training_state_share_one_root_outside_the_work_tree(monkeypatch, tmp_path: Path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert cache_root() == tmp_path / "mattergen-e"
    assert full_bench_dir() == tmp_path / "mattergen-e" / "bench" / "full"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert cache_root() == Path.home() / ".cache" / "mattergen-e"
    assert REPO_ROOT not in full_bench_dir().parents


def test_the_dft_steps_read_the_benchmark_cache_where_the_run_writes_it():
    from benchmarks.descriptor_consistency import DEFAULT_BENCH_DIR as consistency_dir
    from benchmarks.dft.__main__ import DEFAULT_BENCH_DIR as dft_dir

    assert dft_dir == consistency_dir == full_bench_dir()
