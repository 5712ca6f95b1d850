"""/v1/structures/{id}: JSON (pymatgen dict + provenance), CIF, per-site DOS."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query
from fastapi.responses import PlainTextResponse

from app.api.auth import require_caller
from app.api.deps import SessionDep
from app.api.resources import StructureDep
from app.schemas.envelope import Envelope, ok
from app.schemas.structures import DosOut, StructureDetail
from app.services.structures import (
    STATUS_NOTES,
    consistency,
    links,
    predicted,
    properties,
    provenance,
    relaxed,
    screen,
    validity,
)
from app.tables import Job

router = APIRouter(prefix="/v1/structures", tags=["structures"], dependencies=[Depends(require_caller)])


# Declared before /{structure_id}: that pattern would otherwise capture "<uuid>.cif".
@router.get(
    "/{structure_id}.cif",
    response_class=PlainTextResponse,
    responses={200: {"content": {"chemical/x-cif": {}}}, 404: {"description": "no such CIF for this structure"}},
    summary="CIF: generated P1 with a Bader-charge column (e), or the relaxed one, P1 or symmetrized",
    description="Default: the generated structure, P1, with a per-site `_atom_site_bader_charge` column. "
    "`relaxed=true`: the CHGNet-relaxed structure, P1 (same site order). `symmetrized=true`: the relaxed "
    "structure with the symmetry spglib finds at symprec 0.1 Å (asymmetric unit + symmetry operations).",
)
def get_structure_cif(
    structure: StructureDep,
    symmetrized: Annotated[bool, Query(description="Relaxed structure, symmetrized (symprec 0.1 Å).")] = False,
    relaxed_p1: Annotated[bool, Query(alias="relaxed", description="Relaxed structure, P1.")] = False,
) -> PlainTextResponse:
    if symmetrized or relaxed_p1:
        text = structure.symmetrized_cif if symmetrized else structure.relaxed_cif
        if text is None:
            why = structure.relax_error or f"relaxation {structure.relax_status or 'did not run'}"
            raise HTTPException(404, detail=f"structure {structure.id} has no {'symmetrized' if symmetrized else 'relaxed'} CIF: {why}")
        kind = "symmetrized" if symmetrized else "relaxed"
    else:
        text, kind = structure.cif, "P1"
    return PlainTextResponse(
        text,
        media_type="chemical/x-cif",
        headers={
            "Content-Disposition": f'attachment; filename="{structure.reduced_formula}_{structure.id}_{kind}.cif"'
            if kind != "P1"
            else f'attachment; filename="{structure.reduced_formula}_{structure.id}.cif"'
        },
    )


@router.get(
    "/{structure_id}/dos", response_model=Envelope[DosOut], summary="Energy grid + per-site atomic DOS"
)
def get_structure_dos(structure: StructureDep) -> dict[str, Any]:
    from models.data.descriptor_spec import DOS_ENERGIES, DOS_SIGMA, DOS_UNIT

    if structure.dos is None:
        raise HTTPException(404, detail=f"structure {structure.id} has no DOS stored")
    species = [s["species"][0]["element"] for s in structure.structure["sites"]]
    charges = structure.charges or [None] * structure.n_sites
    sites = [
        {"index": i, "species": species[i], "charge": charges[i], "dos": row}
        for i, row in enumerate(structure.dos)
    ]
    data = {
        "structure_id": structure.id,
        "energies": DOS_ENERGIES.tolist(),
        "dos_unit": DOS_UNIT,
        "sigma": DOS_SIGMA,
        "sites": sites,
    }
    return ok(DosOut(**data).model_dump(mode="json"))


@router.get(
    "/{structure_id}",
    response_model=Envelope[StructureDetail],
    summary="Structure with charges, predicted properties and provenance",
    description="`properties` gives each predicted property with its unit and how it was obtained "
    "(band gap: LightGBM predictor; formation energy and energy above hull: unrelaxed CHGNet single "
    "point; validity: distance/volume and SMACT checks). `meta.predicted_properties` explains nulls.",
)
def get_structure(structure: StructureDep, session: SessionDep) -> dict[str, Any]:
    job = session.get(Job, structure.job_id)
    assert job is not None  # FK with ON DELETE CASCADE
    detail = StructureDetail(
        id=structure.id,
        job_id=structure.job_id,
        sample_index=structure.sample_index,
        formula=structure.formula,
        reduced_formula=structure.reduced_formula,
        n_sites=structure.n_sites,
        space_group={"symbol": structure.space_group_symbol, "number": structure.space_group_number},
        predicted=predicted(structure),
        validity=validity(structure),
        properties=properties(structure),
        structure=structure.structure,
        relaxed=relaxed(structure, detail=True),
        consistency=consistency(structure),
        screen=screen(structure),
        provenance=provenance(structure, job),
        links=links(structure),
    )
    status = structure.properties_status or "none"
    return ok(
        detail.model_dump(mode="json"),
        predicted_properties={"status": status, "note": STATUS_NOTES.get(status, status)},
    )
