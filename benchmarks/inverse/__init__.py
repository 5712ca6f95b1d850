"""Suite ``inverse``: does guidance hit band-gap / formation-energy targets with VSUN crystals?

``cell`` generates and scores one (variant, target, γ) cell in a worker; ``grid`` lists the jobs and
turns finished cells into rows; ``pooled`` pools each variant's guided crystals with intervals;
``corpus_band`` gives real crystals' SMACT rate per target band; ``headline`` and ``tables`` render the
markdown; plots live in ``benchmarks.plots``.
"""

from __future__ import annotations

from pathlib import Path

from benchmarks.inverse.grid import assemble_grid, assemble_sweep, grid_jobs, sweep_jobs, sweep_variant
from benchmarks.inverse.tables import markdown
from benchmarks.inverse.upgrade import SCHEMA
from benchmarks.settings import InverseSettings
from benchmarks.variants import VariantInfo

__all__ = ["assemble", "assemble_grid", "assemble_sweep", "grid_jobs", "markdown", "plot", "sweep_jobs",
           "sweep_variant"]


def assemble(variants: list[VariantInfo], s: InverseSettings, results: dict[str, dict],
             sweep_v: VariantInfo | None, note: str) -> dict:
    from benchmarks.inverse.corpus_band import corpus_band_table

    grid = assemble_grid([v.name for v in variants], s, results)
    grid["corpus_band"] = corpus_band_table()
    sweep = assemble_sweep(sweep_v.name, s, results) if sweep_v is not None else None
    return {"schema": SCHEMA, "grid": grid, "sweep": sweep, "sweep_variant_note": note}


def plot(result: dict, out_dir: Path, stamp: str = "") -> list[Path]:
    from benchmarks.plots import (
        formation_energy_errors,
        guidance_sweep,
        property_distributions,
        success_by_variant,
        training_distribution,
    )

    paths = [
        property_distributions(result, training_distribution(), out_dir / "inverse_property_distributions.png", stamp),
        success_by_variant(result, out_dir / "inverse_success_by_variant.png", stamp),
        formation_energy_errors(result, out_dir / "inverse_formation_energy_errors.png", stamp),
    ]
    if result.get("sweep"):
        paths.append(guidance_sweep(result, out_dir / "inverse_guidance_sweep.png", stamp))
    return paths
