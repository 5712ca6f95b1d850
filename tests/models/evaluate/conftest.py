"""Shared fixtures: one thread for torch/BLAS, small hand-built crystals."""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import pytest  # noqa: E402
import torch  # noqa: E402
from pymatgen.core import Lattice, Structure  # noqa: E402

torch.set_num_threads(1)


@pytest.fixture
def nacl() -> Structure:
    return Structure.from_spacegroup("Fm-3m", Lattice.cubic(5.64), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])


@pytest.fixture
def overlapping() -> Structure:
    # Two atoms 0.3 Å apart: structurally invalid whatever the composition.
    return Structure(Lattice.cubic(4.0), ["Mg", "O"], [[0, 0, 0], [0.075, 0, 0]])


@pytest.fixture
def non_neutral() -> Structure:
    # NaCl2 in a sane geometry: no SMACT oxidation states make it neutral with a passing Pauling test.
    return Structure(Lattice.cubic(5.0), ["Na", "Cl", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5], [0.5, 0, 0]])


def corpus_rows(split: str, n: int, **equal) -> list[tuple[Structure, dict]]:
    """First ``n`` corpus rows of a split as (structure, row) without parsing the whole corpus.

    ``load_corpus`` parses all ~16k CIFs on its first call in a fresh checkout; these tests need a
    handful, so they read the raw table and parse only what they use.
    """
    from models.data.corpus import corpus_frame
    from models.evaluate.reference_crystals import parse_cif

    df = corpus_frame()
    df = df[df["split"] == split]
    for key, value in equal.items():
        df = df[df[key] == value]
    return [(parse_cif(r["cif"]), r.to_dict()) for _, r in df.head(n).iterrows()]
