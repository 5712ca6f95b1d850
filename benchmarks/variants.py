"""Which model variants can be benchmarked, and why the others are skipped.

The five variants are fixed; a variant is benchmarked only if its shipped checkpoint
exists. A missing variant is not an error (descriptor variants ship later than structure-only): it is
reported as a skipped line so a table never silently lacks a row.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from models.hashing import sha256_file
from models.registry import CHECKPOINT_ROOT, DEFAULT_ORDER

# Benchmark order: the default (charge+DOS) first, then the two comparisons the paper's claims rest on (structure-only, dummy).
ALL_VARIANTS = ["charge_dos", "structure_only", "dummy", "charge", "dos"]
DEFAULT_VARIANT = "charge_dos"
assert set(ALL_VARIANTS) == set(DEFAULT_ORDER)


def canonical(name: str) -> str:
    """Accept ``structure-only``/``structure_only``/``default``; return the folder name."""
    v = name.strip().replace("-", "_")
    if v == "default":
        return DEFAULT_VARIANT
    if v not in ALL_VARIANTS:
        raise ValueError(f"unknown variant {name!r}; expected one of {', '.join(ALL_VARIANTS)} or default")
    return v


@dataclass
class VariantInfo:
    """A shipped variant as it was when the benchmark started (the snapshot is what jobs load)."""

    name: str
    checkpoint: Path  # the shipped file
    snapshot: Path  # a frozen copy, so a checkpoint rewritten by a running training cannot mix in
    sha256: str
    manifest: dict = field(default_factory=dict)

    @property
    def training_state(self) -> str:
        step, max_steps = self.manifest.get("step"), self.manifest.get("max_steps")
        if step is None or max_steps is None:
            return "unknown (no manifest)"
        done = "complete" if step >= max_steps else "PARTIAL"
        return f"{done}: step {step} of {max_steps}"

    def as_dict(self) -> dict:
        return {
            "variant": self.name,
            "checkpoint": str(self.checkpoint),
            "checkpoint_sha256": self.sha256,
            "manifest_sha256": self.manifest.get("files", {}).get("model.pt", {}).get("sha256"),
            "training_state": self.training_state,
            "train_step": self.manifest.get("step"),
            "max_steps": self.manifest.get("max_steps"),
            "epochs": self.manifest.get("epochs"),
            "train_hours": self.manifest.get("train_hours"),
            "param_count": self.manifest.get("param_count"),
        }


@dataclass
class Skipped:
    name: str
    reason: str

    def line(self) -> str:
        return f"- `{self.name}`: skipped — {self.reason}"


@dataclass
class VariantSelection:
    available: list[VariantInfo]
    skipped: list[Skipped]

    def skipped_lines(self) -> list[str]:
        return [s.line() for s in self.skipped]


def discover(
    requested: list[str] | None = None,
    root: Path = CHECKPOINT_ROOT,
    snapshot_dir: Path | None = None,
) -> VariantSelection:
    """Split ``requested`` (default: all five) into shipped variants and skipped ones with a reason.

    With ``snapshot_dir`` each shipped ``model.pt`` is copied there under its SHA-256, and jobs load
    the copy: a training run still writing the shipped file cannot change weights mid-benchmark.
    """
    names = [canonical(n) for n in requested] if requested else list(ALL_VARIANTS)
    names = list(dict.fromkeys(names))
    available: list[VariantInfo] = []
    skipped: list[Skipped] = []
    for name in names:
        ckpt = root / name / "model.pt"
        if not ckpt.exists():
            skipped.append(Skipped(name, f"no shipped checkpoint at {ckpt}"))
            continue
        if snapshot_dir is None:
            snapshot, sha = ckpt, sha256_file(ckpt)
        else:
            # Hash the copy, not the source: training replaces model.pt atomically, so the copy is
            # always one whole checkpoint, and its hash names exactly the weights the jobs will load.
            snapshot_dir.mkdir(parents=True, exist_ok=True)
            tmp = snapshot_dir / f"{name}.pt.tmp"
            shutil.copyfile(ckpt, tmp)
            sha = sha256_file(tmp)
            snapshot = snapshot_dir / f"{name}-{sha[:16]}.pt"
            tmp.replace(snapshot)
        manifest_path = root / name / "manifest.json"
        manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else {}
        available.append(VariantInfo(name, ckpt, snapshot, sha, manifest))
    return VariantSelection(available, skipped)
