"""Which generated crystals go to DFT, read from the inverse suite's job cache.

Two selections share this code:

* ``reference`` — stable (valid, E_hull ≤ 0.1 eV/atom), within-cell unique crystals of one variant on
  their **as-sampled** cell, the structure the generated charges and DOS belong to;
* ``verify`` — crystals the cheap judges call successes in the band-gap cells (VSUN + the independent
  predictor's gap within ±0.5 eV) on their **CHGNet-relaxed** cell, so DFT judges the crystal the
  benchmark scored (formation-energy successes are not verified: GPAW energies are not on the MP
  scale the targets are given in).

Both: only elements with a GPAW setup; deduplicated across cells (StructureMatcher); one crystal per
composition before any second polymorph (``formulas_first``). ``reference`` runs cheapest first
(``ordering.estimated_cost``); ``verify`` in a seeded random order, because its success rate must
describe the successes, not the cheapest of them. Records carry their crystals (``cif``,
``relaxed_cif``, ``charges``, ``dos``); a record from an older cache without them is re-sampled from
the job arguments stored with the cache entry, and kept only if it reproduces formula, size and volume.
"""

from __future__ import annotations

import json
import random
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from pymatgen.core import Composition, Structure

from benchmarks.dft.siteorder import in_cif_order, structure_digest, structure_from_record
from models.evaluate.stability import STABLE_THRESHOLD

Log = Callable[[str], None]
MODES = ("reference", "verify")


@dataclass
class Candidate:
    """One generated crystal for DFT, with the descriptors the model generated for it."""

    # <cell>__<sample>__<fingerprint[:12]>[__relaxed]__<CIF SHA-256[:8]>
    crystal_id: str
    cell: str
    name: str
    formula: str
    n_sites: int
    e_above_hull: float
    predicted_band_gap: float | None  # the benchmark's judge on the relaxed crystal
    structure: Structure
    charges: np.ndarray | None
    dos: np.ndarray | None
    cost: float
    source: str  # "record" | "regenerated" | "store"
    target: dict | None = None

    def row(self) -> dict:
        return {
            "crystal_id": self.crystal_id, "cell": self.cell, "name": self.name, "formula": self.formula,
            "n_sites": self.n_sites, "e_above_hull": self.e_above_hull, "predicted_band_gap": self.predicted_band_gap,
            "target": self.target, "estimated_cost": round(self.cost, 1),
            "has_generated_charges": self.charges is not None, "has_generated_dos": self.dos is not None,
            "structure_source": self.source,
        }


@dataclass
class Selection:
    candidates: list[Candidate]  # run order, at most max_crystals
    counts: dict = field(default_factory=dict)
    cells: list[dict] = field(default_factory=list)  # provenance of every cache file read
    notes: list[str] = field(default_factory=list)


def is_stable_valid(rec: dict) -> bool:
    """Valid, on the hull within the permissive threshold, not a duplicate within its cell."""
    e = rec.get("e_above_hull")
    return (bool(rec.get("valid")) and bool(rec.get("stable")) and e is not None
            and float(e) <= STABLE_THRESHOLD and not rec.get("duplicate_of"))


def is_gap_success(rec: dict, target: dict | None) -> bool:
    return bool(target and "band_gap" in target and rec.get("success") and rec.get("relaxed_cif"))


def record_elements(rec: dict) -> list[str]:
    return sorted(el.symbol for el in Composition(rec["formula"]).elements)


def matches_record(rec: dict, s: Structure) -> bool:
    """A re-sampled crystal is the benchmark's crystal only if formula, size and volume agree."""
    if s.composition.reduced_formula != rec.get("formula") or len(s) != int(rec.get("n_sites") or -1):
        return False
    vol = rec.get("volume")
    return vol is None or abs(s.volume - float(vol)) <= 1e-4 * max(1.0, abs(float(vol)))


def regenerate_cell(kwargs: dict, threads: int = 1) -> list:
    """Sample a cell's crystals again from its stored job arguments (checkpoint, target, γ, seed, ...)."""
    import torch

    from benchmarks.modelcache import model_for
    from models.sample import generate

    torch.set_num_threads(threads)
    model = model_for(kwargs["checkpoint"], kwargs["sha256"])
    tgt = kwargs["target"] or {}
    return generate(model, kwargs["n"], band_gap=tgt.get("band_gap"),
                    formation_energy_per_atom=tgt.get("formation_energy_per_atom"),
                    guidance_scale=kwargs["guidance"] if tgt else 0.0, seed=kwargs["seed"], steps=kwargs["steps"],
                    batch_size=kwargs["batch_size"], charge_balance=kwargs.get("charge_balance", False))


def estimated_cost(s: Structure, predicted_gap: float | None) -> float:
    from models.data.descriptors.ordering import estimated_cost as corpus_cost

    comp = s.composition
    # the benchmark's predicted gap stands in for MP's (metals cost ~3× more SCF iterations)
    return corpus_cost([el.symbol for el in comp.elements], comp.get_el_amt_dict(), len(s), predicted_gap, s.volume)


def formulas_first(candidates: list[Candidate]) -> list[Candidate]:
    """First crystal of each composition, then the other polymorphs, each group in the given order.

    Why: the same seed draws related crystals in every cell; a reference over more chemistries says
    more, and a second polymorph of a formula is only worth DFT once every formula has one."""
    seen: set[str] = set()
    first, rest = [], []
    for c in candidates:
        (rest if c.formula in seen else first).append(c)
        seen.add(c.formula)
    return first + rest


def _structures(entry: dict, picked: list[dict], mode: str, regenerate: bool, threads: int,
                counts: Counter, notes: list[str], cell_info: dict, log: Log) -> dict[str, tuple]:
    """{sample name: (structure, charges, dos, source)} for the picked records of one cache entry."""
    key = "relaxed_cif" if mode == "verify" else "cif"
    found: dict[str, tuple] = {}
    for r in picked:
        got = structure_from_record(r, key)
        if got is not None:
            found[r["name"]] = (*got, "record")
    missing = [r for r in picked if r["name"] not in found]
    if not missing or not regenerate or mode == "verify":  # a relaxed cell cannot be re-sampled
        return found
    kwargs = entry.get("kwargs")
    if kwargs is None:
        notes.append(f"{cell_info['file']}: records hold no structures and the cache entry no job arguments; "
                     "its crystals are skipped")
        return found
    cell_info["checkpoint_sha256"] = kwargs["sha256"]
    t0 = time.perf_counter()
    crystals = regenerate_cell(kwargs, threads)
    log(f"[dft] re-sampled {cell_info['file']} ({len(crystals)} crystals, {time.perf_counter() - t0:.0f} s)")
    for r in missing:
        i = int(r["name"].rsplit("_", 1)[1])
        c = crystals[i] if i < len(crystals) else None
        if c is not None and matches_record(r, c.structure):
            found[r["name"]] = (c.structure, c.charges, c.dos, "regenerated")
        else:
            counts["regeneration_mismatch"] += 1
    return found


def _dedup(pool: list[Candidate], counts: Counter) -> list[Candidate]:
    from pymatgen.analysis.structure_matcher import StructureMatcher

    matcher = StructureMatcher()
    kept: list[Candidate] = []
    by_formula: dict[str, list[Candidate]] = defaultdict(list)
    for c in pool:
        if any(matcher.fit(c.structure, k.structure) for k in by_formula[c.formula]):
            counts["duplicates_across_cells"] += 1
            continue
        by_formula[c.formula].append(c)
        kept.append(c)
    return kept


def collect_candidates(
    bench_dir: Path,
    variant: str,
    max_crystals: int = 24,
    setups: Iterable[str] | None = None,
    regenerate: bool = True,
    threads: int = 1,
    mode: str = "reference",
    seed: int = 0,
    guidance: float | None = 2.0,
    log: Log = lambda m: None,
) -> Selection:
    """The crystals of ``variant`` that ``mode`` selects, in run order (see the module docstring)."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}")
    if setups is None:
        from models.data.descriptors.ordering import elements_with_setups

        setups = elements_with_setups()
    setups = frozenset(setups)
    pattern = f"inverse__{variant}__*__g{guidance:g}.json" if mode == "verify" else f"inverse__{variant}__*.json"
    paths = sorted((Path(bench_dir) / "cache").glob(pattern))
    counts: Counter[str] = Counter(cells=len(paths))
    cells: list[dict] = []
    notes: list[str] = []
    pool: list[Candidate] = []
    for path in paths:
        try:
            entry = json.loads(path.read_text())
        except json.JSONDecodeError:
            notes.append(f"{path.name}: unreadable JSON, skipped")
            continue
        res = entry["result"]
        records, target = res["records"], res.get("target")
        counts["records"] += len(records)
        if mode == "verify":
            picked = [r for r in records if is_gap_success(r, target)]
            counts["successes"] += len(picked)
        else:
            picked = [r for r in records if is_stable_valid(r)]
            counts["stable_valid"] += len(picked)
        no_setup = [r for r in picked if not set(record_elements(r)) <= setups]
        counts["without_gpaw_setup"] += len(no_setup)
        picked = [r for r in picked if set(record_elements(r)) <= setups]
        cell_info = {"file": str(path), "fingerprint": entry.get("fingerprint"), "target": target,
                     "guidance": res.get("guidance"), "selected_from": len(picked) + len(no_setup),
                     "candidates": len(picked)}
        if entry.get("kwargs"):
            cell_info["checkpoint_sha256"] = entry["kwargs"].get("sha256")
        cells.append(cell_info)
        if not picked:
            continue
        found = _structures(entry, picked, mode, regenerate, threads, counts, notes, cell_info, log)
        fp12 = str(entry.get("fingerprint", ""))[:12]
        tag = "__relaxed" if mode == "verify" else ""
        for r in picked:
            if r["name"] not in found:
                counts["no_structure"] += 1
                continue
            ordered = in_cif_order(*found[r["name"]][:3])
            if ordered is None:
                counts["cif_site_mapping_failed"] += 1
                continue
            s, q, d = ordered
            pool.append(Candidate(
                crystal_id=f"{path.stem}__{r['name']}__{fp12}{tag}__{structure_digest(s)}", cell=path.stem,
                name=r["name"], formula=s.composition.reduced_formula, n_sites=len(s),
                e_above_hull=float(r["e_above_hull"]), predicted_band_gap=r.get("band_gap"), structure=s,
                charges=q, dos=d, cost=estimated_cost(s, r.get("band_gap")), source=found[r["name"]][3],
                target=target,
            ))
    pool.sort(key=lambda c: (c.cost, c.crystal_id))
    if mode == "verify":
        random.Random(seed).shuffle(pool)
    kept = _dedup(pool, counts)
    counts["unique_candidates"] = len(kept)
    selected = formulas_first(kept)[:max_crystals]
    counts["selected"] = len(selected)
    return Selection(selected, dict(counts), cells, notes)
