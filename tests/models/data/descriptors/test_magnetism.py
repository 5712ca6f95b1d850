"""Magnetic starts must be ones GPAW can build, or every crystal of that element fails at once."""

import numpy as np
import pytest

pytest.importorskip("gpaw", reason="the DFT extra (gpaw, gpaw-data) is not installed")

from models.data.descriptors.magnetism import (  # noqa: E402
    INITIAL_MOMENT,
    feasible_initial_moments,
    largest_feasible_moment,
)


def test_fe_start_is_lowered_to_what_the_dzp_basis_holds() -> None:
    # Fe (8 valence e, dzp): 4s¹3d⁵ up + 3d² down is the most polarized atomic start, 4 μB.
    assert INITIAL_MOMENT["Fe"] == 5.0
    assert largest_feasible_moment("Fe", 5.0) == 4.0
    assert largest_feasible_moment("Co", 0.6) == 0.6  # already feasible: untouched
    assert feasible_initial_moments(["Fe", "H"], [5.0, 0.0], "PBE", "dzp") == [4.0, 0.0]


@pytest.mark.dft
def test_iron_hydride_runs_spin_polarized() -> None:
    """FeH (mp-1009077) failed with "Bad basis for Fe" before the clamp; tiny settings, one core."""
    from models.data.corpus import load_corpus
    from models.data.descriptors.gpaw_path import run_crystal
    from models.data.descriptors.settings import DFTSettings

    (entry,) = load_corpus(material_ids=["mp-1009077"], descriptors="none")
    rec = run_crystal(entry.structure, DFTSettings(basis="dzp", kpt_length=3.0, h=0.3))
    assert rec["spin_polarized"] and rec["initial_magmoms"][0] == 4.0
    assert abs(float(np.sum(rec["charges"]))) < 1e-3
