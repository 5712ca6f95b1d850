"""Synthetic benchmark inputs: evaluation records shaped like ``models.evaluate`` output, no CHGNet."""

from __future__ import annotations

import pytest


def _record(i: int, formula: str, *, valid=True, stable=True, unique=True, novel=True, gap=None, ef=None) -> dict:
    return {
        "name": f"sample_{i:04d}",
        "formula": formula,
        "n_sites": 4,
        "n_elements": 2,
        "structure_valid": valid,
        "composition_valid": valid,
        "all_metal": False,
        "valid": valid,
        "e_above_hull": 0.0 if stable else 0.5,
        "stable": stable,
        "stable_strict": stable,
        "below_hull_flag": False,
        "reference_compounds_in_system": 3,
        "reference_compounds_in_subsystems": 5,
        "unique": unique,
        "novel": novel,
        "known_match": not novel,
        "matched_material_id": None if novel else "mp-1",
        "vsun": valid and stable and unique and novel,
        "vsun_strict": valid and stable and unique and novel,
        "band_gap": gap,
        "formation_energy_per_atom": ef,
        "spacegroup": 225 if i % 2 else 221,
        "rmsd_relaxation": 0.1,
        "relax_steps": 10,
        "seconds": 1.0,
        "target_errors": {},
        "property_hit": None,
        "success": False,
    }


@pytest.fixture()
def synthetic_records() -> list[dict]:
    """Four crystals: two VSUN (gaps 2.9 and 1.0 eV), one unstable, one invalid."""
    return [
        _record(0, "NaCl", gap=2.9, ef=-2.1),
        _record(1, "MgO", gap=1.0, ef=-1.5),
        _record(2, "KBr", stable=False, gap=3.1, ef=-1.9),
        _record(3, "Na2Cl", valid=False, gap=None, ef=None),
    ]


@pytest.fixture()
def synthetic_cell(synthetic_records):
    from models.evaluate.pipeline import summarize

    def make(target: dict | None, records: list[dict] | None = None, guidance: float = 2.0) -> dict:
        from benchmarks.inverse.grid import rescore

        base = {
            "target": None,
            "guidance": 0.0,
            "n": 4,
            "steps": 100,
            "relax_steps": 100,
            "seed": 0,
            "torch_threads": 1,
            "generation_seconds": 1.0,
            "evaluation_seconds": 9.0,
            "seconds": 10.0,
            "generation_cpu_seconds": 1.0,
            "evaluation_cpu_seconds": 9.0,
            "summary": {**summarize(records or synthetic_records, {}), "seconds_total": 9.0},
            "records": records or synthetic_records,
        }
        cell = rescore(base, target)  # the same scoring code path the γ = 0 rows use
        cell.pop("rescored_from")
        return {**cell, "guidance": guidance if target else 0.0}

    return make


@pytest.fixture()
def bench(tmp_path):
    """Benchmark cache of a charge-generating variant for the DFT selection (see ``dft_fixtures``)."""
    from tests.benchmarks.dft_fixtures import make_bench

    return make_bench(tmp_path)


@pytest.fixture()
def verify_bench(tmp_path):
    """Band-gap cell with judge successes and their relaxed cells (see ``dft_fixtures``)."""
    from tests.benchmarks.dft_fixtures import make_verify_bench

    return make_verify_bench(tmp_path)
