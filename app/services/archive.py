"""The zip archive of a job: one CIF per structure (plus the relaxed crystal's P1 and symmetrized
CIFs in ``cif_relaxed/`` and ``cif_symmetrized/``), one extxyz with every generated frame (per-atom
``bader_charge`` and ``dos``) and a manifest.

Rows are read from PostgreSQL in batches and each frame is written into the zip as soon as it is
read, so memory holds one batch, never the whole job; the zip itself goes to a spooled temp file.
"""

from __future__ import annotations

import io
import json
import re
import tempfile
import zipfile
from collections.abc import Iterator
from typing import IO, Any

from pymatgen.core import Structure as PmgStructure
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.services.structures import consistency, predicted, relaxed, screen, validity
from app.tables import Job, Structure
from models.crystal_io import EXTXYZ_CHARGE_ARRAY, EXTXYZ_DOS_ARRAY, write_extxyz
from models.data.descriptor_spec import CHARGE_UNIT, DOS_ENERGIES, DOS_SIGMA, DOS_UNIT

SPOOL_IN_MEMORY_BYTES = 32 * 1024 * 1024
BATCH_ROWS = 200


def _rows(session: Session, job: Job) -> Iterator[Structure]:
    yield from session.scalars(
        select(Structure)
        .where(Structure.job_id == job.id)
        .order_by(Structure.sample_index)
        .execution_options(yield_per=BATCH_ROWS)
    )


def _manifest(job: Job) -> dict[str, Any]:
    return {
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
            "predicted.e_above_hull": "eV/atom (CHGNet; of the relaxed crystal when predicted.basis is 'relaxed')",
            "relaxed.rmsd": "Å",
            "relaxed.energy_per_atom": "eV/atom",
            "consistency.charge_mae": "e",
            EXTXYZ_CHARGE_ARRAY: CHARGE_UNIT,
            EXTXYZ_DOS_ARRAY: DOS_UNIT,
            "dos_energies": "eV",
            "dos_sigma_eV": DOS_SIGMA,
        },
        "dos_energies": DOS_ENERGIES.tolist(),
        "extxyz": f"structures.extxyz: per-atom arrays `{EXTXYZ_CHARGE_ARRAY}` (e) and `{EXTXYZ_DOS_ARRAY}` "
        "(one column per energy)",
        "structures": [],
    }


def _frame(row: Structure) -> tuple:
    info = {"structure_id": str(row.id), "sample_index": row.sample_index, "formula": row.formula}
    return PmgStructure.from_dict(row.structure), row.charges, row.dos, info


def build_archive(session: Session, job: Job) -> IO[bytes]:
    """The archive as a readable binary file positioned at its start (the caller closes it)."""
    spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY_BYTES)
    manifest = _manifest(job)
    with zipfile.ZipFile(spool, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for row in _rows(session, job):
            name = f"cif/{row.sample_index:05d}_{re.sub(r'[^A-Za-z0-9]', '', row.formula)}.cif"
            zf.writestr(name, row.cif)
            entry = {
                "id": str(row.id),
                "sample_index": row.sample_index,
                "formula": row.formula,
                "cif": name,
                "space_group": row.space_group_symbol,
                "seed": row.seed,
                "predicted": predicted(row),
                "validity": validity(row),
                "relaxed": relaxed(row),
                "consistency": consistency(row),
                "screen": screen(row),
            }
            # The relaxed crystal, P1 (same site order) and symmetrized, next to the generated one.
            for folder, text in (("cif_relaxed", row.relaxed_cif), ("cif_symmetrized", row.symmetrized_cif)):
                if text is not None:
                    entry[folder] = name.replace("cif/", f"{folder}/", 1)
                    zf.writestr(entry[folder], text)
            manifest["structures"].append(entry)
        # A zip member is written through one open handle at a time, so the frames take a second pass.
        if manifest["structures"]:
            with zf.open("structures.extxyz", "w") as raw, io.TextIOWrapper(raw, encoding="utf-8") as text:
                write_extxyz((_frame(row) for row in _rows(session, job)), text)
        zf.writestr("manifest.json", json.dumps(manifest, indent=1))
    spool.seek(0)
    return spool
