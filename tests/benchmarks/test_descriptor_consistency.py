"""Generated descriptors vs the predictor: the subsets, the floor and the report, with a fake predictor."""

from __future__ import annotations

import numpy as np
from pymatgen.core import Lattice, Structure

from benchmarks import descriptor_consistency as dc
from models.data.descriptor_spec import DOS_BINS


def _nacl() -> Structure:
    return Structure(Lattice.cubic(5.6), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])


def _flat(n: int) -> np.ndarray:
    return np.full((n, DOS_BINS), 1.0 / DOS_BINS)


def predictor(s: Structure):
    return np.array([0.8, -0.8]), _flat(2)


def floor(s: Structure):
    return np.array([0.5, -0.5]), _flat(2)


def test_consistency_scores_generated_and_floor_on_both_subsets():
    s = _nacl()
    crystals = [
        {"structure": s, "charges": np.array([0.7, -0.7]), "dos": _flat(2), "record": {"valid": True, "stable": True}},
        {"structure": s, "charges": np.array([0.3, -0.3]), "dos": _flat(2), "record": {"valid": True, "stable": False}},
    ]
    out = dc.consistency(crystals, predictor, floor)
    assert abs(out["all"]["generated"]["charge_mae_e"] - 0.3) < 1e-12  # (0.1 + 0.5) / 2
    assert abs(out["stable_valid"]["generated"]["charge_mae_e"] - 0.1) < 1e-12
    assert abs(out["all"]["element_mean_floor"]["charge_mae_e"] - 0.3) < 1e-12
    assert out["stable_valid"]["generated"]["n_crystals"] == 1
    assert abs(out["all"]["generated"]["dos_cosine_mean"] - 1.0) < 1e-12


def test_charge_only_variant_scores_no_dos_for_the_floor_either():
    s = _nacl()
    crystals = [{"structure": s, "charges": np.array([0.8, -0.8]), "dos": None, "record": {"valid": True, "stable": True}}]
    out = dc.consistency(crystals, predictor, floor)
    assert out["all"]["generated"]["charge_mae_e"] == 0.0
    assert out["all"]["generated"]["dos_cosine_mean"] is None
    assert out["all"]["element_mean_floor"]["dos_cosine_mean"] is None


def test_markdown_has_one_row_per_variant_and_subset():
    s = _nacl()
    crystals = [{"structure": s, "charges": np.array([0.7, -0.7]), "dos": _flat(2), "record": {"valid": True, "stable": True}}]
    payload = {
        "provenance": {"date_start": "a", "date_end": "b", "wall_seconds": 1.0, "git": {"commit": "abc"}, "command": "x"},
        "predictor_sha256": "f" * 64,
        "floor": {"corpus_crystals": 137},
        "variants": {"charge_dos": {"counts": {"regenerated": 1, "records": 1, "mismatch": 0},
                                    "consistency": dc.consistency(crystals, predictor, floor)}},
    }
    md = dc.markdown(payload)
    rows = [[c.strip() for c in line.strip("|").split("|")] for line in md.splitlines() if line.startswith("|")]
    assert ["charge_dos", "all", "1", "2", "0.100", "0.300", "1.000", "1.000"] in rows
    assert any(r[:4] == ["charge_dos", "stable valid", "1", "2"] for r in rows)
    assert any(r[:4] == ["Na", "1", "0.100", "0.300"] for r in rows)
