"""Screened jobs: which crystals pass, and when the job stops.

A screened job asks for ``num_samples`` crystals that pass its screen and may generate up to
``max_generated``; its chunks are planned for the whole budget and scheduled one after another (fair
scheduling), and the job ends as soon as enough crystals passed (``screen_stopped = "count"``; the
chunks not yet run are cancelled) or the budget is spent (``"budget"``). Every generated crystal is
stored, with ``screen_passed`` and the outcome of each check in ``screen_checks``.

Checks (of the relaxed crystal when there is one; an unknown value fails its check):
- ``valid``: structurally valid and SMACT valid;
- ``e_above_hull``: predicted energy above the reference hull ≤ ``e_above_hull_max``;
- ``within_target``: predicted band gap / formation energy inside the target ranges the API derived
  (a range target as given; a point target ± the success tolerances, 0.5 eV and 0.2 eV/atom);
- ``novel``: no StructureMatcher match among the known crystals (corpus + MPTS-52);
- ``unique``: no match among the job's crystals that passed before it (decided at commit, with the job
  row locked, so two chunks cannot both keep the same crystal).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from pymatgen.core import Structure
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from app.tables import ChunkState, Job, JobChunk, JobState
from app.tables import Structure as StructureRow


def _in(value: float | None, bounds: list[float] | None) -> bool | None:
    if bounds is None:
        return True
    if value is None:
        return None
    return bounds[0] <= value <= bounds[1]


def checks(cols: dict[str, Any], structure: Structure, screen: dict[str, Any]) -> dict[str, Any]:
    """Outcome of every check that needs no other crystal of the job (None: unknown)."""
    out: dict[str, Any] = {}
    if screen.get("valid"):
        a, b = cols.get("structurally_valid"), cols.get("smact_valid")
        out["valid"] = None if a is None or b is None else bool(a and b)
    if screen.get("e_above_hull_max") is not None:
        e = cols.get("e_above_hull_pred")
        out["e_above_hull"] = None if e is None else e <= screen["e_above_hull_max"]
    if screen.get("within_target"):
        gap = _in(cols.get("band_gap_pred"), screen.get("band_gap_range"))
        form = _in(cols.get("formation_energy_pred"), screen.get("formation_energy_range"))
        out["within_target"] = None if gap is None or form is None else bool(gap and form)
    if screen.get("novel"):
        from models.evaluate.novelty import known_crystals

        try:
            match = known_crystals().match(structure)
        except Exception as exc:  # a crystal the matcher chokes on is not known to be novel
            out["novel"], out["novel_error"] = None, repr(exc)[:300]
        else:
            out["novel"], out["known_match"] = match is None, match
    return out


def _others_pass(checks_: dict[str, Any]) -> bool:
    return all(checks_.get(k) is True for k in ("valid", "e_above_hull", "within_target", "novel") if k in checks_)


def _structure_of(record: dict[str, Any]) -> Structure:
    return Structure.from_dict(record.get("relaxed_structure") or record["structure"])


def decide(s: Session, job: Job, records: list[dict[str, Any]]) -> None:
    """Set ``screen_passed`` (and the uniqueness check) of a chunk's records; the job row is locked."""
    from models.evaluate.novelty import same_crystal

    screen = job.screen or {}
    kept: dict[str, list[tuple[int, Structure]]] = {}  # reduced formula -> passed crystals of the job
    for record in sorted(records, key=lambda r: r["sample_index"]):
        c = record.get("screen_checks") or {}
        passed = _others_pass(c)
        if passed and screen.get("unique"):
            formula = record["reduced_formula"]
            if formula not in kept:
                rows = s.execute(
                    select(StructureRow.sample_index, StructureRow.relaxed_structure, StructureRow.structure).where(
                        StructureRow.job_id == job.id,
                        StructureRow.reduced_formula == formula,
                        StructureRow.screen_passed.is_(True),
                    )
                ).all()
                kept[formula] = [(r.sample_index, Structure.from_dict(r.relaxed_structure or r.structure)) for r in rows]
            mine = _structure_of(record)
            dup = next((idx for idx, other in kept[formula] if same_crystal(mine, other)), None)
            c["unique"], c["duplicate_of"] = dup is None, dup
            passed = dup is None
            if passed:
                kept[formula].append((record["sample_index"], mine))
        record["screen_checks"] = c
        record["screen_passed"] = passed


def counts(s: Session, job_id: uuid.UUID) -> tuple[int, int]:
    """(generated, passed) crystals stored for the job."""
    generated, passed = s.execute(
        select(func.count(), func.count().filter(StructureRow.screen_passed.is_(True))).where(
            StructureRow.job_id == job_id
        )
    ).one()
    return int(generated), int(passed)


def finalize(s: Session, job: Job) -> None:
    """With the job row locked: end a screened job at its count or when its budget is spent."""
    generated, passed = counts(s, job.id)
    if passed >= job.num_samples:
        job.screen_stopped = "count"
    else:
        open_chunks = s.scalar(
            select(func.count()).where(JobChunk.job_id == job.id, JobChunk.state != ChunkState.done)
        )
        if open_chunks:
            return
        job.screen_stopped = "budget"
    job.state = JobState.succeeded
    job.finished_at = datetime.now(UTC)
    # Chunks not needed any more: pending ones never run; a running one is discarded at its commit.
    s.execute(
        update(JobChunk)
        .where(JobChunk.job_id == job.id, JobChunk.state == ChunkState.pending)
        .values(state=ChunkState.cancelled, finished_at=func.now())
    )
