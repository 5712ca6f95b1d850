"""Response model of a DFT verification (issue 17); units in the descriptions."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

METHOD_DFT = (
    "The project's GPAW path on the relaxed cell (the generated one if it was not relaxed): PBE, LCAO dzp, "
    "Bader net charges of the all-electron density, LCAO atomic DOS on the descriptor grid, band gap from "
    "the band edges; settings in `settings`."
)


class VerificationOut(BaseModel):
    id: uuid.UUID
    structure_id: uuid.UUID
    state: str = Field(description="queued | running | succeeded | failed | cancelled")
    forced: bool = Field(description="Created with force=true next to an earlier verification.")
    failure_reason: str | None = Field(
        None, description="timeout (over the per-crystal cap) | memory | error | site-order | cancelled."
    )
    error: str | None = Field(None, description="What went wrong, for people.")
    max_seconds: float = Field(description="Wall-time cap of the DFT run, s.")
    wall_seconds: float | None = Field(None, description="Wall seconds the verification took, s.")
    settings: dict[str, Any] = Field(description="DFT settings (overrides until the worker starts it).")
    created_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    dft: dict[str, Any] | None = Field(
        None,
        description="DFT result in the stored site order: band_gap (eV), is_metal, energy_per_atom_ev, charges "
        "(Bader, e), dos (states/eV on the /dos grid), species, code versions, seconds.",
    )
    generated: dict[str, Any] | None = Field(None, description="The generated charges (e) and DOS (generated cell).")
    predicted: dict[str, Any] | None = Field(
        None, description="Predictor charges (e) and DOS on the relaxed cell, predicted band gap (eV)."
    )
    comparison: dict[str, Any] | None = Field(
        None,
        description="charge_mae (e) and dos_cosine of generated and of predicted vs DFT; gap_error = predicted − "
        "DFT band gap (eV); dft_gap_minus_target (eV).",
    )
    dft_crystal_id: uuid.UUID | None = Field(None, description="The DFT-labelled crystal stored from it.")
    method: str = METHOD_DFT
    links: dict[str, str]
