"""Synthetic inverse-suite cache files and DFT outcomes shared by the DFT tests."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
from pymatgen.core import Lattice, Structure

from benchmarks.dft import selection as selmod
from models.data.descriptor_spec import DOS_ENERGIES
from models.data.descriptors.settings import DFTSettings

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")


TINY = DFTSettings(basis="dzp", kpt_length=3.0, h=0.3)  # the DFT runner tests' tiny settings


SETUPS = frozenset("Na Cl Mg O Al N K Br".split())  # "Th" has no PAW setup in gpaw-data


def _rocksalt(a: str, b: str, lat: float) -> Structure:
    h = lat / 2
    return Structure(Lattice([[0, h, h], [h, 0, h], [h, h, 0]]), [a, b], [[0, 0, 0], [0.5, 0.5, 0.5]])


def _wurtzite_aln() -> Structure:
    return Structure(
        Lattice.hexagonal(3.11, 4.98),
        ["Al", "Al", "N", "N"],
        [[1 / 3, 2 / 3, 0], [2 / 3, 1 / 3, 0.5], [1 / 3, 2 / 3, 0.38], [2 / 3, 1 / 3, 0.88]],
    )


def _dos(n: int, centre: float = 0.0) -> list[list[float]]:
    rows = np.exp(-0.5 * ((DOS_ENERGIES - centre) / 1.5) ** 2)
    rows = rows / np.trapezoid(rows, DOS_ENERGIES)
    return [rows.tolist()] * n


def _rec(
    i: int,
    s: Structure,
    *,
    stable=True,
    valid=True,
    e_hull=0.0,
    gap=3.0,
    dup=None,
    charges=None,
    as_dict=False,
) -> dict:
    return {
        "name": f"sample_{i:04d}",
        "formula": s.composition.reduced_formula,
        "n_sites": len(s),
        "volume": s.volume,
        "valid": valid,
        "stable": stable,
        "e_above_hull": e_hull,
        "band_gap": gap,
        "duplicate_of": dup,
        **({"structure": s.as_dict()} if as_dict else {"cif": s.to(fmt="cif")}),
        "charges": charges if charges is not None else [0.0] * len(s),
        "dos": _dos(len(s)),
    }


def _row(md: str, first: str) -> list[str]:
    """The cells of the markdown table row whose first cell is ``first``."""
    for line in md.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("|") and cells[0] == first:
            return cells
    raise AssertionError(f"no row {first!r}")


def _write_cell(cache: Path, stem: str, records: list[dict], fingerprint: str) -> None:
    cache.mkdir(parents=True, exist_ok=True)
    result = {"target": None, "guidance": 0.0, "n": len(records), "seed": 0, "steps": 80, "records": records}
    (cache / f"{stem}.json").write_text(
        json.dumps({"fingerprint": fingerprint, "key": stem, "result": result})
    )


def make_bench(tmp_path: Path) -> Path:
    """Two cells of a charge-generating variant: cheap and costly stable crystals, and every way to drop one."""
    nacl, om = _rocksalt("Na", "Cl", 5.64), _rocksalt("O", "Mg", 4.21)
    kbr, th = _rocksalt("K", "Br", 6.6), _rocksalt("Th", "O", 5.6)
    cell_a = [
        _rec(0, _wurtzite_aln(), gap=4.0),  # 4 sites, gapped: cost 4·16·... > NaCl
        _rec(1, nacl, gap=5.0, charges=[0.9, -0.7]),  # cheapest
        _rec(2, om, gap=0.0, charges=[-1.1, 1.3], as_dict=True),  # metal by the predictor: ×3; O listed first
        _rec(3, kbr, stable=False, e_hull=0.5),  # unstable
        _rec(4, kbr, valid=False),  # invalid
        _rec(5, kbr, e_hull=0.15),  # flagged stable but above 0.1 eV/atom: not trusted
        _rec(6, kbr, dup="sample_0001"),  # duplicate within the cell
        _rec(7, th),  # no GPAW setup for Th
    ]
    moved = nacl.copy()
    moved.translate_sites([0, 1], [0.01, 0.0, 0.0])  # the same crystal, shifted, in another cell; a metal by
    cell_b = [_rec(0, moved, gap=0.0)]  # the predictor so it costs more and the first cell's copy is kept
    cache = tmp_path / "bench" / "cache"
    _write_cell(cache, "inverse__charge_dos__uncond__g2", cell_a, "a" * 64)
    _write_cell(cache, "inverse__charge_dos__bg_3__g2", cell_b, "b" * 64)
    _write_cell(cache, "inverse__structure_only__uncond__g2", [_rec(0, kbr)], "c" * 64)  # other variant
    return tmp_path / "bench"


def _outcome(c: selmod.Candidate, ok: bool, settings: DFTSettings, charges=None, **extra) -> dict:
    rec = {**c.row(), "ok": ok, "settings": settings.model_dump(), "wall_seconds": 12.0}
    if ok:
        species = [x.specie.symbol for x in c.structure]
        rec["dft"] = {
            "species": species,
            "charges": charges,
            "dos": _dos(len(species)),
            "band_gap": 4.5,
            "is_metal": False,
            "seconds": 10.0,
            "charge_residual": 0.0,
        }
    return {**rec, **extra}


def _success(i: int, s: Structure, relaxed: Structure, *, success=True, gap=3.1, charges=None) -> dict:
    return {**_rec(i, s, gap=gap, charges=charges), "success": success, "relaxed_cif": relaxed.to(fmt="cif")}


def make_verify_bench(tmp_path: Path) -> Path:
    """A band-gap cell with two judge successes (relaxed cells differ from the sampled ones), one failure,
    and an E_form cell whose success must not be verified (GPAW energies are not on the MP scale)."""
    clna, clna_relaxed = _rocksalt("Cl", "Na", 5.2), _rocksalt("Cl", "Na", 5.64)
    mgo, mgo_relaxed = _rocksalt("Mg", "O", 4.0), _rocksalt("Mg", "O", 4.21)
    cell = [
        _success(0, clna, clna_relaxed, charges=[-0.6, 0.7]),
        _success(1, mgo, mgo_relaxed, gap=2.9),
        _success(2, _rocksalt("K", "Br", 6.6), _rocksalt("K", "Br", 6.6), success=False),
    ]
    cache = tmp_path / "bench" / "cache"
    _write_cell(cache, "inverse__charge_dos__bg+3__g2", cell, "f" * 64)
    path = cache / "inverse__charge_dos__bg+3__g2.json"
    entry = json.loads(path.read_text())
    entry["result"]["target"] = {"band_gap": 3.0}
    path.write_text(json.dumps(entry))
    _write_cell(cache, "inverse__charge_dos__ef-2__g2", [_success(0, _rocksalt("K", "Br", 6.6), _rocksalt("K", "Br", 6.6))],
                "0" * 64)
    return tmp_path / "bench"
