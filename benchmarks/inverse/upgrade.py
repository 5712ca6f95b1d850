"""Bring an inverse result written by an earlier version of the suite up to the current schema.

Why: the committed results must keep rendering after the report gains columns, and every new flag
(all-metal, strict stability, the hull-gap flag, known-crystal match, strict VSUN) is a function of
fields the old records already hold. Only the markdown is re-rendered from the upgraded result; the
JSON on disk stays what the run wrote.
"""

from __future__ import annotations

import copy

from benchmarks.settings import InverseSettings

SCHEMA = 2


def derive_flags(rec: dict) -> dict:
    """The record with every flag the current suite writes, derived where the record lacks it."""
    from pymatgen.core import Composition

    from models.evaluate.stability import is_below_hull_flag, is_stable_strict
    from models.evaluate.success import is_vsun_strict
    from models.evaluate.validity import is_all_metal

    out = dict(rec)
    comp = Composition(rec["formula"])
    out.setdefault("n_elements", len(comp.elements))
    out.setdefault("all_metal", is_all_metal(comp))
    out.setdefault("stable_strict", is_stable_strict(rec.get("e_above_hull")))
    out.setdefault("below_hull_flag", is_below_hull_flag(rec.get("e_above_hull")))
    if "known_match" not in out:
        out["known_match"] = None if rec.get("novel") is None else rec.get("matched_material_id") is not None
    out.setdefault("vsun_strict", is_vsun_strict(out))
    return out


def _upgraded_cell(cell: dict) -> dict:
    from models.evaluate.pipeline import summarize
    from models.evaluate.success import normalize_target

    records = [derive_flags(r) for r in cell["records"]]
    summary = {**cell["summary"], **summarize(records, normalize_target(cell.get("target")))}
    return {**cell, "records": records, "summary": summary}


def upgrade(result: dict, s: InverseSettings) -> dict:
    """A copy of ``result`` in the current schema (unchanged if it already is)."""
    if result.get("schema", 1) >= SCHEMA:
        return result
    from benchmarks.inverse.corpus_band import corpus_band_table
    from benchmarks.inverse.grid import assemble_grid, assemble_sweep

    result = copy.deepcopy(result)
    names = list(dict.fromkeys(r["variant"] for r in result["grid"]["rows"]))
    cells = {k: _upgraded_cell(c) for k, c in result["grid"]["cells"].items()}
    sweep = result.get("sweep")
    if sweep:
        cells.update({k: _upgraded_cell(c) for k, c in sweep["cells"].items()})
    grid = assemble_grid(names, s, cells)
    grid["corpus_band"] = corpus_band_table()
    out = {**result, "schema": SCHEMA, "grid": grid}
    if sweep:
        out["sweep"] = assemble_sweep(sweep["variant"], s, cells)
    return out
