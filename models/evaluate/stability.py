"""Thermodynamic stability on one energy scale: CHGNet energies against a CHGNet reference hull.

Energy scale (measured, ``mp2020_check_on_val_split`` in ``assets/chemical_potentials.json``):
CHGNet 0.3.0 was trained on MPtrj energies that already carry the MP2020 corrections, so its raw
total energies sit on the MP2020-compatible scale. With MP's elemental reference energies as
chemical potentials, CHGNet's static formation energies of corpus crystals match MP's to
~0.025 eV/atom, whereas applying MP2020 corrections a second time moves oxides off by ~0.6
eV/atom. Hence: no correction is applied;
every reference and every generated crystal enters the hull with its CHGNet energy, and the
elemental end points are the chemical potentials of :mod:`models.evaluate.chemical_potentials`.

The hull is built per chemical system on demand from the reference crystals whose elements are a
subset of the query's (a global 89-element hull is neither needed nor tractable), and cached.
"""

from __future__ import annotations

import itertools
import warnings
from collections import defaultdict
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pandas as pd
from pymatgen.analysis.phase_diagram import PhaseDiagram
from pymatgen.core import Composition, Structure
from pymatgen.entries.computed_entries import ComputedEntry

from models.evaluate.chemical_potentials import chemical_potentials
from models.evaluate.references import load_reference_energies

STABLE_THRESHOLD = 0.1  # eV/atom above hull; the permissive S of CDVAE/DiffCSP/MatterGen tables
# Strict S: on or below the reference hull (the tolerance only absorbs float noise of the hull solver).
STRICT_THRESHOLD = 0.0
STRICT_TOLERANCE = 1e-6
# A crystal this far *below* the hull is more often a hole in the reference set (no known compound of
# its chemical system, or CHGNet over-binding an unusual cell) than a discovery, so it is flagged and
# not counted as strictly stable.
BELOW_HULL_FLAG = -0.05
# Building a phase diagram costs ~3x more per extra element (every sub-system's entries and a
# higher-dimensional hull); the corpus has at most 6 elements per crystal, and a 16-element sample
# from an undertrained model hung for > 15 min. Beyond this the hull answers "not placed".
MAX_HULL_ELEMENTS = 8
# Phase diagrams kept per process; a long-lived worker sees many chemical systems.
MAX_CACHED_DIAGRAMS = 512


class ReferenceHull:
    """Convex hulls of reference entries (CHGNet energies) plus elemental chemical potentials."""

    def __init__(self, entries: pd.DataFrame, mu: dict[str, float]):
        """``entries``: columns formula (any formula), n_sites, energy_per_atom, [material_id]."""
        self.mu = dict(mu)
        self._by_chemsys: dict[frozenset[str], list[ComputedEntry]] = defaultdict(list)
        ids = entries["material_id"] if "material_id" in entries else [None] * len(entries)
        for mid, formula, e in zip(ids, entries["formula"], entries["energy_per_atom"], strict=True):
            comp = Composition(formula)
            if not np.isfinite(e):
                continue
            entry = ComputedEntry(comp, float(e) * comp.num_atoms, entry_id=mid)
            self._by_chemsys[frozenset(el.symbol for el in comp)].append(entry)
        for el, m in self.mu.items():
            self._by_chemsys[frozenset([el])].append(
                ComputedEntry(Composition(el), float(m), entry_id=f"mu-{el}")
            )
        self._pd_cache: dict[frozenset[str], PhaseDiagram] = {}

    def phase_diagram(self, elements: frozenset[str]) -> PhaseDiagram:
        pd_ = self._pd_cache.get(elements)
        if pd_ is None:
            if len(elements) > MAX_HULL_ELEMENTS:
                raise KeyError(
                    f"{len(elements)}-element chemical system: the reference hull is built for at most "
                    f"{MAX_HULL_ELEMENTS} elements"
                )
            missing = sorted(el for el in elements if el not in self.mu)
            if missing:
                raise KeyError(f"no elemental reference energy for {missing}")
            entries = []
            for k in range(1, len(elements) + 1):
                for sub in itertools.combinations(sorted(elements), k):
                    entries.extend(self._by_chemsys.get(frozenset(sub), []))
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                pd_ = PhaseDiagram(entries)
            if len(self._pd_cache) >= MAX_CACHED_DIAGRAMS:
                self._pd_cache.pop(next(iter(self._pd_cache)))  # oldest first
            self._pd_cache[elements] = pd_
        return pd_

    def coverage(self, elements: frozenset[str]) -> dict[str, int]:
        """How complete the hull is for one chemical system: reference compounds (elemental end points
        excluded) with exactly these elements, and in all its sub-systems of two or more elements.

        A system with no compound of its own is placed against combinations of its binaries (or of
        the elements alone), so a generated crystal there sits below the hull far more easily."""
        exact = sum(1 for e in self._by_chemsys.get(elements, []) if len(e.composition) > 1)
        sub = 0
        for k in range(2, len(elements) + 1):
            for combo in itertools.combinations(sorted(elements), k):
                sub += sum(1 for e in self._by_chemsys.get(frozenset(combo), []) if len(e.composition) > 1)
        return {"reference_compounds_in_system": exact, "reference_compounds_in_subsystems": sub}

    def e_above_hull(self, composition: Composition | str, energy_per_atom: float) -> float:
        """eV/atom above the hull (negative ⇒ below it, i.e. the hull would move)."""
        comp = Composition(composition)
        pd_ = self.phase_diagram(frozenset(el.symbol for el in comp))
        entry = ComputedEntry(comp, float(energy_per_atom) * comp.num_atoms)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            _, e = pd_.get_decomp_and_e_above_hull(entry, allow_negative=True)
        return float(e)

    def formation_energy_per_atom(self, composition: Composition | str, energy_per_atom: float) -> float:
        comp = Composition(composition)
        frac = comp.fractional_composition.get_el_amt_dict()
        missing = sorted(el for el in frac if el not in self.mu)
        if missing:
            raise KeyError(f"no elemental reference energy for {missing}")
        return float(energy_per_atom - sum(x * self.mu[el] for el, x in frac.items()))


@lru_cache(maxsize=4)
def reference_hull(mode: str = "static", exclude_split: str | None = None) -> ReferenceHull:
    """The shipped reference hull; ``exclude_split="test"`` leaves the corpus test crystals out."""
    refs = load_reference_energies(mode)
    if exclude_split is not None:
        refs = refs[refs["split"] != exclude_split]
    return ReferenceHull(refs, chemical_potentials())


def relaxation_rmsd(initial: Structure, relaxed: Structure) -> float:
    """RMS displacement (Å) of each site between generated and relaxed structure.

    Sites keep their order through a relaxation, so displacements are taken site by site as the
    minimum-image fractional difference expressed in the relaxed cell (the cell change itself is
    reported separately by the volume ratio).
    """
    if len(initial) != len(relaxed):
        raise ValueError("initial and relaxed structures have different numbers of sites")
    d = relaxed.frac_coords - initial.frac_coords
    d -= np.round(d)
    cart = d @ relaxed.lattice.matrix
    cart -= cart.mean(axis=0)  # a rigid translation of the whole crystal is not a displacement
    return float(np.sqrt((cart**2).sum(axis=1).mean()))


@dataclass
class StabilityResult:
    energy_per_atom: float
    initial_energy_per_atom: float
    e_above_hull: float | None
    stable: bool
    relaxed_structure: Structure
    relax_steps: int
    relax_converged: bool
    rmsd: float
    volume_ratio: float
    error: str | None = None
    coverage: dict[str, int] | None = None

    @property
    def stable_strict(self) -> bool:
        return is_stable_strict(self.e_above_hull)

    @property
    def below_hull_flag(self) -> bool:
        return is_below_hull_flag(self.e_above_hull)

    def as_dict(self) -> dict:
        return {
            "energy_per_atom": self.energy_per_atom,
            "initial_energy_per_atom": self.initial_energy_per_atom,
            "e_above_hull": self.e_above_hull,
            "stable": self.stable,
            "stable_strict": self.stable_strict,
            "below_hull_flag": self.below_hull_flag,
            **(self.coverage or {}),
            "relax_steps": self.relax_steps,
            "relax_converged": self.relax_converged,
            "rmsd_relaxation": self.rmsd,
            "volume_ratio": self.volume_ratio,
            "stability_error": self.error,
        }


def is_stable_strict(e_above_hull: float | None) -> bool:
    """On or below the reference hull, but not so far below that the reference is the suspect."""
    return e_above_hull is not None and BELOW_HULL_FLAG <= e_above_hull <= STRICT_THRESHOLD + STRICT_TOLERANCE


def is_below_hull_flag(e_above_hull: float | None) -> bool:
    """"Reference hull missing this system": below the hull by more than ``-BELOW_HULL_FLAG``."""
    return e_above_hull is not None and e_above_hull < BELOW_HULL_FLAG


def evaluate_stability(
    structure: Structure,
    hull: ReferenceHull | None = None,
    relax_steps: int = 500,
    fmax: float = 0.1,
) -> StabilityResult:
    """Relax with CHGNet (``relax_steps=0`` ⇒ static energy only) and place the result on the hull."""
    from models.evaluate.chgnet_calc import relax, static_energy_per_atom

    hull = hull if hull is not None else reference_hull()
    if relax_steps > 0:
        r = relax(structure, fmax=fmax, steps=relax_steps)
        relaxed, e, e0, steps, conv = (
            r.structure,
            r.energy_per_atom,
            r.initial_energy_per_atom,
            r.n_steps,
            r.converged,
        )
    else:
        e = e0 = static_energy_per_atom(structure)
        relaxed, steps, conv = structure.copy(), 0, False
    err, coverage = None, None
    try:
        ehull: float | None = hull.e_above_hull(relaxed.composition, e)
        coverage = hull.coverage(frozenset(el.symbol for el in relaxed.composition))
    except KeyError as exc:
        ehull, err = None, str(exc)
    return StabilityResult(
        energy_per_atom=e,
        initial_energy_per_atom=e0,
        e_above_hull=ehull,
        stable=ehull is not None and ehull <= STABLE_THRESHOLD,
        relaxed_structure=relaxed,
        relax_steps=steps,
        relax_converged=conv,
        rmsd=relaxation_rmsd(structure, relaxed),
        volume_ratio=float(relaxed.volume / structure.volume),
        error=err,
        coverage=coverage,
    )
