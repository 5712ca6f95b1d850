"""Structure rows → API representations, and list filtering."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from app.schemas.relaxed import (
    ANGLE_TOLERANCE,
    BELOW_HULL_FLAG,
    BELOW_HULL_LIMIT,
    METHOD_CONSISTENCY,
    METHOD_RELAXATION,
    SYMPREC,
)
from app.schemas.structure_query import SORT_KEYS, SUMMARY_FIELDS, StructureQuery
from app.schemas.structures import (
    METHOD_BAND_GAP,
    METHOD_E_ABOVE_HULL,
    METHOD_FORMATION_ENERGY,
    METHOD_SMACT_VALID,
    METHOD_STRUCTURALLY_VALID,
)
from app.tables import Job, Structure


def summary(row: Structure, fields: Iterable[str] = SUMMARY_FIELDS) -> dict[str, Any]:
    wanted = set(fields) | {"id"}
    out: dict[str, Any] = {}
    builders = {
        "id": lambda: row.id,
        "job_id": lambda: row.job_id,
        "sample_index": lambda: row.sample_index,
        "formula": lambda: row.formula,
        "reduced_formula": lambda: row.reduced_formula,
        "elements": lambda: row.elements,
        "n_sites": lambda: row.n_sites,
        "lattice": lambda: row.lattice,
        "density": lambda: row.density,
        "space_group": lambda: {"symbol": row.space_group_symbol, "number": row.space_group_number},
        "predicted": lambda: predicted(row),
        "validity": lambda: validity(row),
        "charges": lambda: row.charges,
        "relaxed": lambda: relaxed(row),
        "consistency": lambda: consistency(row),
        "screen": lambda: screen(row),
        "created_at": lambda: row.created_at,
        "links": lambda: links(row),
    }
    for name in SUMMARY_FIELDS:
        if name in wanted:
            out[name] = builders[name]()
    return out


def predicted(row: Structure) -> dict[str, float | str | None]:
    return {
        "band_gap": row.band_gap_pred,
        "formation_energy_per_atom": row.formation_energy_pred,
        "e_above_hull": row.e_above_hull_pred,
        "status": row.properties_status,
        "basis": row.properties_basis,
        "below_hull_flag": below_hull_flag(row.e_above_hull_pred),
    }


def below_hull_flag(e_above_hull: float | None) -> str | None:
    return BELOW_HULL_FLAG if e_above_hull is not None and e_above_hull < BELOW_HULL_LIMIT else None


def relaxed(row: Structure, detail: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {
        "status": row.relax_status,
        "error": row.relax_error,
        "space_group": {
            "symbol": row.relaxed_space_group_symbol,
            "number": row.relaxed_space_group_number,
            "symprec": SYMPREC,
            "angle_tolerance": ANGLE_TOLERANCE,
        },
        "rmsd": row.relax_rmsd,
        "energy_per_atom": row.relaxed_energy_per_atom,
        "converged": row.relax_converged,
        "steps": row.relax_steps,
        "seconds": row.relax_seconds,
        "method": METHOD_RELAXATION,
    }
    if detail:
        out |= {
            "structure": row.relaxed_structure,
            "predicted_charges": row.pred_charges_relaxed,
            "predicted_dos": row.pred_dos_relaxed,
            "descriptor_predictor_sha256": row.descriptor_predictor_sha256,
        }
    return out


def consistency(row: Structure) -> dict[str, Any]:
    return {
        "charge_mae": row.consistency_charge_mae,
        "dos_cosine": row.consistency_dos_cosine,
        "method": METHOD_CONSISTENCY,
    }


def screen(row: Structure) -> dict[str, Any]:
    return {"passed": row.screen_passed, "checks": row.screen_checks}


def validity(row: Structure) -> dict[str, bool | None]:
    both = (
        None
        if row.structurally_valid is None or row.smact_valid is None
        else (row.structurally_valid and row.smact_valid)
    )
    return {"structurally_valid": row.structurally_valid, "smact_valid": row.smact_valid, "valid": both}


def properties(row: Structure) -> dict[str, Any]:
    """The `properties` block of GET /v1/structures/{id}: value, unit and method of each prediction."""
    return {
        "status": row.properties_status,
        "band_gap": {"value": row.band_gap_pred, "unit": "eV", "method": METHOD_BAND_GAP},
        "formation_energy_per_atom": {
            "value": row.formation_energy_pred,
            "unit": "eV/atom",
            "method": METHOD_FORMATION_ENERGY,
        },
        "e_above_hull": {"value": row.e_above_hull_pred, "unit": "eV/atom", "method": METHOD_E_ABOVE_HULL},
        "structurally_valid": {
            "value": row.structurally_valid,
            "unit": None,
            "method": METHOD_STRUCTURALLY_VALID,
        },
        "smact_valid": {"value": row.smact_valid, "unit": None, "method": METHOD_SMACT_VALID},
        "errors": row.properties_errors,
    }


STATUS_NOTES = {
    "computed": "predicted in the worker when the structure was stored (models.evaluate.quick_properties)",
    "partial": "some values could not be predicted for these crystals; `properties.errors` of each "
    "structure says why",
    "failed": "property prediction raised for these crystals; they are stored with null properties",
    "disabled": "PREDICT_PROPERTIES=false on the worker that stored them: predicted properties are null",
    "unavailable": "the worker that stored them could not load the evaluation package (install the "
    "`eval` extra): predicted properties are null",
    "none": "stored before property prediction existed: predicted properties are null",
}


def properties_meta(session: Session, job_id: Any, predict_setting: bool) -> dict[str, Any]:
    """What a client needs to read null predictions: how many of the job's structures are in each
    status, what each status means, and this deployment's PREDICT_PROPERTIES."""
    counts = {
        (status or "none"): n
        for status, n in session.execute(
            select(Structure.properties_status, func.count())
            .where(Structure.job_id == job_id)
            .group_by(Structure.properties_status)
        ).all()
    }
    return {
        "predict_properties": predict_setting,
        "status_counts": counts,
        "notes": {k: STATUS_NOTES.get(k, k) for k in sorted(counts)},
    }


def links(row: Structure) -> dict[str, str]:
    base = f"/v1/structures/{row.id}"
    return {
        "self": base,
        "cif": f"{base}.cif",
        "cif_relaxed": f"{base}.cif?relaxed=true",
        "cif_symmetrized": f"{base}.cif?symmetrized=true",
        "dos": f"{base}/dos",
        "verify": f"{base}/verify",
        "verification": f"{base}/verification",
        "job": f"/v1/jobs/{row.job_id}",
    }


def provenance(row: Structure, job: Job) -> dict[str, Any]:
    return {
        "model": row.model_name,
        "checkpoint_sha256": row.checkpoint_sha256,
        "guidance_scale": row.guidance_scale,
        "seed": row.seed,
        "job_seed": job.seed,
        "steps": row.steps,
        "target": {
            "band_gap": job.target_band_gap,
            "formation_energy_per_atom": job.target_formation_energy_per_atom,
        },
    }


def apply_filters(query: Select, q: StructureQuery) -> Select:
    """The filters of ``q`` as WHERE clauses. A range filter drops rows whose value is null (an SQL
    comparison with NULL is not true)."""
    S = Structure
    for column, lo, hi in (
        (S.band_gap_pred, q.band_gap_min, q.band_gap_max),
        (S.formation_energy_pred, q.formation_energy_min, q.formation_energy_max),
        (S.e_above_hull_pred, q.e_above_hull_min, q.e_above_hull_max),
        (S.n_sites, q.n_sites_min, q.n_sites_max),
        (S.consistency_charge_mae, None, q.consistency_charge_mae_max),
        (S.consistency_dos_cosine, q.consistency_dos_cosine_min, None),
    ):
        if lo is not None:
            query = query.where(column >= lo)
        if hi is not None:
            query = query.where(column <= hi)
    if q.space_group is not None:
        query = query.where(S.space_group_number == q.space_group)
    if q.element_list:
        query = query.where(S.elements.contains(q.element_list))
    if q.formula:
        query = query.where(S.reduced_formula == q.formula)
    if q.structurally_valid is not None:
        query = query.where(S.structurally_valid.is_(q.structurally_valid))
    if q.smact_valid is not None:
        query = query.where(S.smact_valid.is_(q.smact_valid))
    if q.passed is not None:
        query = query.where(S.screen_passed.is_(q.passed))
    if q.relaxed_space_group is not None:
        query = query.where(S.relaxed_space_group_number == q.relaxed_space_group)
    if q.relax_converged is not None:
        query = query.where(S.relax_converged.is_(q.relax_converged))
    if q.valid is True:
        query = query.where(S.structurally_valid.is_(True), S.smact_valid.is_(True))
    elif q.valid is False:  # known to fail at least one check
        query = query.where((S.structurally_valid.is_(False)) | (S.smact_valid.is_(False)))
    return query


def order_by(q: StructureQuery) -> list[Any]:
    """ORDER BY of the list: the sort key (nulls last), then sample_index for a stable order."""
    if not q.sort:
        return [Structure.sample_index]
    column = getattr(Structure, SORT_KEYS[q.sort.removeprefix("-")])
    first = column.desc() if q.sort.startswith("-") else column.asc()
    return [first.nulls_last(), Structure.sample_index]
