"""Uniqueness within a generated set and novelty against the known crystals (corpus + MPTS-52).

Two crystals are "the same" when pymatgen's ``StructureMatcher`` with its default tolerances
(ltol 0.2, stol 0.3, angle_tol 5°, primitive reduction, volume scaling) says so — the settings CDVAE,
DiffCSP and MatterGen report with. Matching is only attempted between crystals with the same reduced
formula (a match implies identical composition), so each query costs a dictionary lookup plus a
handful of matcher calls instead of ~19k.
"""

from __future__ import annotations

import warnings
from collections import defaultdict
from functools import lru_cache

from pymatgen.analysis.structure_matcher import StructureMatcher
from pymatgen.core import Structure

from models.evaluate.reference_crystals import parse_cif, reference_frame


def matcher() -> StructureMatcher:
    return StructureMatcher(ltol=0.2, stol=0.3, angle_tol=5.0)


def same_crystal(a: Structure, b: Structure) -> bool:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return bool(matcher().fit(a, b))


class KnownCrystals:
    """Reference crystals bucketed by reduced formula; CIFs are parsed only when a bucket is probed."""

    def __init__(self, rows: list[tuple[str, str, str]]):
        # rows: (material_id, reduced_formula, cif)
        self._buckets: dict[str, list[tuple[str, str]]] = defaultdict(list)
        for mid, formula, cif in rows:
            self._buckets[formula].append((mid, cif))
        self._parsed: dict[str, Structure] = {}

    def __len__(self) -> int:
        return sum(len(v) for v in self._buckets.values())

    def _structure(self, mid: str, cif: str) -> Structure:
        s = self._parsed.get(mid)
        if s is None:
            s = self._parsed[mid] = parse_cif(cif)
        return s

    def match(self, structure: Structure) -> str | None:
        """material_id of a known crystal matching ``structure``, or None if it is novel."""
        for mid, cif in self._buckets.get(structure.composition.reduced_formula, []):
            if same_crystal(structure, self._structure(mid, cif)):
                return mid
        return None


@lru_cache(maxsize=1)
def known_crystals() -> KnownCrystals:
    df = reference_frame()
    return KnownCrystals(list(zip(df["material_id"], df["formula"], df["cif"], strict=True)))


def uniqueness(structures: list[Structure]) -> list[int]:
    """Index of the first structure each one duplicates (its own index if it is the first / unique).

    ``unique[i] = first[i] == i``: the first member of every group of matching crystals counts as
    unique and later copies do not, so the unique fraction is #groups / N. Groups come from
    ``StructureMatcher.group_structures`` (which already compares only equal compositions).
    """
    first = list(range(len(structures)))
    if len(structures) < 2:
        return first
    # group_structures hands back the objects it was given: copies make each position identifiable
    # even when the caller passes one object twice.
    copies = [s.copy() for s in structures]
    index = {id(s): i for i, s in enumerate(copies)}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        groups = matcher().group_structures(copies)
    for group in groups:
        members = sorted(index[id(s)] for s in group)
        for i in members:
            first[i] = members[0]
    return first
