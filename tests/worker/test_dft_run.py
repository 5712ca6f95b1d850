"""The cancellable, capped GPAW child of DFT verifications: each way it can end says why."""

from __future__ import annotations

import pytest
from pymatgen.core import Lattice, Structure

from models.data.descriptors.settings import DFTSettings
from worker.dft_compare import site_permutation, to_stored_order
from worker.dft_run import run_dft

pytest.importorskip("gpaw", reason="the DFT extra (gpaw, gpaw-data) is not installed")
TINY = DFTSettings(kpt_length=3.0, h=0.3)


def _cif(structure: Structure) -> str:
    return structure.to(fmt="cif")


def _nacl() -> Structure:
    h = 5.64 / 2
    return Structure(Lattice([[0, h, h], [h, 0, h], [h, h, 0]]), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])


@pytest.mark.dft
def test_time_cap_kills_the_child():
    out = run_dft(_cif(_nacl()), TINY, max_seconds=1.0, memory_gb=8, keep_going=lambda: True, poll=0.2)
    assert not out.ok and out.reason == "timeout" and "1 s cap" in out.message and out.seconds < 10


@pytest.mark.dft
def test_cancel_kills_the_child():
    calls = []

    def keep_going() -> bool:
        calls.append(1)
        return len(calls) < 3

    out = run_dft(_cif(_nacl()), TINY, max_seconds=120, memory_gb=8, keep_going=keep_going, poll=0.2)
    assert not out.ok and out.reason == "cancelled" and out.seconds < 10


@pytest.mark.dft
def test_a_broken_input_is_an_error_with_its_message():
    out = run_dft("data_x\n_cell_length_a 1\n", TINY, max_seconds=60, memory_gb=8, keep_going=lambda: True, poll=0.2)
    assert not out.ok and out.reason == "error" and out.message


def test_site_order_is_mapped_back():
    # Species interleaved: pymatgen's CIF parser groups them, the permutation undoes it.
    s = Structure(Lattice.cubic(5.0), ["Na", "Cl", "Na", "Cl"], [[0, 0, 0], [0.5, 0, 0], [0.5, 0.5, 0], [0, 0.5, 0]])
    perm = site_permutation(s, _cif(s))
    assert perm is not None and sorted(perm) == [0, 1, 2, 3]
    parsed = Structure.from_str(_cif(s), fmt="cif")
    record = {"charges": [float(i) for i in perm], "species": [x.specie.symbol for x in parsed]}
    back = to_stored_order(record, perm)
    assert back["charges"] == [0.0, 1.0, 2.0, 3.0] and back["species"] == ["Na", "Cl", "Na", "Cl"]
