"""Structure rows → API representations, list filtering, and the job archive."""

from __future__ import annotations

import json
import re
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from typing import IO, Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

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
        "charges": lambda: row.charges,
        "created_at": lambda: row.created_at,
        "links": lambda: links(row),
    }
    for name in SUMMARY_FIELDS:
        if name in wanted:
            out[name] = builders[name]()
    return out


def predicted(row: Structure) -> dict[str, float | None]:
    return {"band_gap": row.band_gap_pred, "formation_energy_per_atom": row.formation_energy_pred}


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
    band_gap_min: float | None = None
    band_gap_max: float | None = None
    formation_energy_min: float | None = None
    formation_energy_max: float | None = None
    n_sites_min: int | None = None
    n_sites_max: int | None = None
    space_group: int | None = None
    elements: list[str] | None = None
    formula: str | None = None

    def apply(self, query: Select) -> Select:
        S = Structure
        for column, lo, hi in (
            (S.band_gap_pred, self.band_gap_min, self.band_gap_max),
            (S.formation_energy_pred, self.formation_energy_min, self.formation_energy_max),
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
                }
            )
            info = {"structure_id": str(row.id), "sample_index": row.sample_index, "formula": row.formula}
            frames.append((PmgStructure.from_dict(row.structure), row.charges, row.dos, info))
        if frames:
            zf.writestr("structures.extxyz", extxyz_frames(frames))
        zf.writestr("manifest.json", json.dumps(manifest, indent=1))
    spool.seek(0)
    return spool
