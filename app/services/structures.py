"""Structure rows → API representations, list filtering, and the job archive."""

from __future__ import annotations

import json
import re
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from typing import IO, Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from app.schemas.structures import (
    METHOD_BAND_GAP,
    METHOD_E_ABOVE_HULL,
    METHOD_FORMATION_ENERGY,
    METHOD_SMACT_VALID,
    METHOD_STRUCTURALLY_VALID,
)
from app.tables import Job, Structure

SUMMARY_FIELDS = (
    "id",
    "job_id",
    "sample_index",
    "formula",
    "reduced_formula",
    "elements",
    "n_sites",
    "lattice",
    "density",
    "space_group",
    "predicted",
    "validity",
    "charges",
    "created_at",
    "links",
)


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
    }


def validity(row: Structure) -> dict[str, bool | None]:
    both = (
        None
        if row.structure_valid is None or row.smact_valid is None
        else (row.structure_valid and row.smact_valid)
    )
    return {"structurally_valid": row.structure_valid, "smact_valid": row.smact_valid, "valid": both}


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
            "value": row.structure_valid,
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
    return {"self": base, "cif": f"{base}.cif", "dos": f"{base}/dos", "job": f"/v1/jobs/{row.job_id}"}


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


@dataclass
class StructureFilters:
    """Range filters drop rows whose value is null (SQL comparison with NULL is not true)."""

    band_gap_min: float | None = None
    band_gap_max: float | None = None
    formation_energy_min: float | None = None
    formation_energy_max: float | None = None
    n_sites_min: int | None = None
    n_sites_max: int | None = None
    space_group: int | None = None
    elements: list[str] | None = None
    formula: str | None = None
    e_above_hull_min: float | None = None
    e_above_hull_max: float | None = None
    structurally_valid: bool | None = None
    smact_valid: bool | None = None
    valid: bool | None = None

    def apply(self, query: Select) -> Select:
        S = Structure
        for column, lo, hi in (
            (S.band_gap_pred, self.band_gap_min, self.band_gap_max),
            (S.formation_energy_pred, self.formation_energy_min, self.formation_energy_max),
            (S.e_above_hull_pred, self.e_above_hull_min, self.e_above_hull_max),
            (S.n_sites, self.n_sites_min, self.n_sites_max),
        ):
            if lo is not None:
                query = query.where(column >= lo)
            if hi is not None:
                query = query.where(column <= hi)
        if self.space_group is not None:
            query = query.where(S.space_group_number == self.space_group)
        if self.elements:
            query = query.where(S.elements.contains(self.elements))
        if self.formula:
            query = query.where(S.reduced_formula == self.formula)
        if self.structurally_valid is not None:
            query = query.where(S.structure_valid.is_(self.structurally_valid))
        if self.smact_valid is not None:
            query = query.where(S.smact_valid.is_(self.smact_valid))
        if self.valid is True:
            query = query.where(S.structure_valid.is_(True), S.smact_valid.is_(True))
        elif self.valid is False:  # known to fail at least one check
            query = query.where((S.structure_valid.is_(False)) | (S.smact_valid.is_(False)))
        return query


def build_archive(session: Session, job: Job) -> IO[bytes]:
    """Zip of one CIF per structure, one extxyz with all frames (charges + DOS per atom), and a
    manifest. Written to a spooled temp file so large jobs do not sit in memory."""
    import tempfile

    from pymatgen.core import Structure as PmgStructure

    from app.services.crystal_io import extxyz_frames
    from models.data.descriptor_spec import CHARGE_UNIT, DOS_ENERGIES, DOS_SIGMA, DOS_UNIT

    spool = tempfile.SpooledTemporaryFile(max_size=32 * 1024 * 1024)
    manifest: dict[str, Any] = {
        "job_id": str(job.id),
        "state": job.state.value,
        "num_samples": job.num_samples,
        "target": {
            "band_gap": job.target_band_gap,
            "formation_energy_per_atom": job.target_formation_energy_per_atom,
        },
        "guidance_scale": job.guidance_scale,
        "seed": job.seed,
        "steps": job.steps,
        "model": job.model_name,
        "checkpoint_sha256": job.checkpoint_sha256,
        "units": {
            "predicted.band_gap": "eV",
            "predicted.formation_energy_per_atom": "eV/atom",
            "predicted.e_above_hull": "eV/atom (unrelaxed CHGNet)",
            "bader_charge": CHARGE_UNIT,
            "dos": DOS_UNIT,
            "dos_energies": "eV",
            "dos_sigma_eV": DOS_SIGMA,
        },
        "dos_energies": DOS_ENERGIES.tolist(),
        "extxyz": "structures.extxyz: per-atom arrays `bader_charge` (e) and `dos` (one column per energy)",
        "structures": [],
    }
    frames = []
    with zipfile.ZipFile(spool, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        rows = session.scalars(
            select(Structure)
            .where(Structure.job_id == job.id)
            .order_by(Structure.sample_index)
            .execution_options(yield_per=200)
        )
        for row in rows:
            name = f"cif/{row.sample_index:05d}_{re.sub(r'[^A-Za-z0-9]', '', row.formula)}.cif"
            zf.writestr(name, row.cif)
            manifest["structures"].append(
                {
                    "id": str(row.id),
                    "sample_index": row.sample_index,
                    "formula": row.formula,
                    "cif": name,
                    "space_group": row.space_group_symbol,
                    "seed": row.seed,
                    "predicted": predicted(row),
                    "validity": validity(row),
                }
            )
            info = {"structure_id": str(row.id), "sample_index": row.sample_index, "formula": row.formula}
            frames.append((PmgStructure.from_dict(row.structure), row.charges, row.dos, info))
        if frames:
            zf.writestr("structures.extxyz", extxyz_frames(frames))
        zf.writestr("manifest.json", json.dumps(manifest, indent=1))
    spool.seek(0)
    return spool
