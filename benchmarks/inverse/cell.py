"""One inverse-design cell: generate crystals for one (variant, target, γ) and score them.

Runs inside a worker process. Each record keeps what the report needs (``RECORD_KEYS``) and, in the
job cache only, the crystal itself (``STRUCTURE_KEYS``: the as-sampled P1 CIF with its generated
charges and DOS, and the CHGNet-relaxed CIF) so the DFT steps that follow read the exact crystals
instead of sampling them again; the committed report drops those keys (``light``).
"""

from __future__ import annotations

import contextlib
import io
import time

from benchmarks.jsonable import jsonable
from models.evaluate.stability import MAX_HULL_ELEMENTS

RECORD_KEYS = [
    "name", "formula", "n_sites", "n_elements", "structure_valid", "composition_valid", "all_metal", "valid",
    "min_distance", "volume", "e_above_hull", "energy_per_atom", "relax_steps", "relax_converged",
    "volume_ratio", "stable", "stable_strict", "below_hull_flag", "reference_compounds_in_system",
    "reference_compounds_in_subsystems", "unique", "novel", "known_match", "vsun", "vsun_strict", "band_gap",
    "formation_energy_per_atom", "spacegroup", "rmsd_relaxation", "target_errors", "property_hit", "success",
    "seconds", "matched_material_id", "duplicate_of", "stability_error", "hull_skipped",
]
STRUCTURE_KEYS = ["cif", "charges", "dos", "relaxed_cif"]


def light(record: dict) -> dict:
    """A record without its structures (what the committed report keeps)."""
    return {k: v for k, v in record.items() if k not in STRUCTURE_KEYS}


def _p1_cif(structure) -> str:
    # A P1 CIF written by pymatgen keeps the generated site order, which the per-site descriptors follow.
    return structure.to(fmt="cif")


def _skipped_record(name: str, s, tgt: dict, seen: set[str]) -> dict:
    """Validity only: the crystal has more elements than the hull is built for (see stability)."""
    from models.evaluate.success import is_hit, is_success, property_errors
    from models.evaluate.validity import check_validity

    formula = s.composition.reduced_formula
    rec = {"name": name, "formula": formula, "n_sites": len(s), "n_elements": len(s.composition.elements),
           **check_validity(s).as_dict()}
    rec.update(
        e_above_hull=None, stable=False, stable_strict=False, below_hull_flag=False, band_gap=None,
        formation_energy_per_atom=None, spacegroup=None,
        unique=formula not in seen, novel=True, known_match=False,  # no known crystal has > 6 elements
        hull_skipped=True,
        stability_error=f"{len(s.composition.elements)} elements > {MAX_HULL_ELEMENTS}: not placed on the hull",
    )
    seen.add(formula)
    rec["vsun"] = rec["vsun_strict"] = False
    rec["target_errors"] = property_errors(rec, tgt)
    rec["property_hit"] = is_hit(rec["target_errors"]) if tgt else None
    rec["success"] = is_success(rec, tgt)
    return rec


def evaluate_cell(crystals, target: dict, relax_steps: int) -> tuple[list[dict], dict]:
    """:func:`models.evaluate.evaluate_structures` on the crystals with ≤ MAX_HULL_ELEMENTS elements;
    the rest get validity only. Returns all records (with structures) in sample order and the summary."""
    from models.evaluate import evaluate_structures
    from models.evaluate.pipeline import summarize
    from models.evaluate.success import normalize_target

    tgt = normalize_target(target)
    names = [f"sample_{i:04d}" for i in range(len(crystals))]
    ok = [i for i, c in enumerate(crystals) if len(c.structure.composition.elements) <= MAX_HULL_ELEMENTS]
    by_index: dict[int, dict] = {}
    settings, t0 = None, time.time()
    if ok:
        # CHGNet prints a line per badly generated cell ("isolated atoms", every FIRE step); on a poorly
        # trained checkpoint that floods the log, and the records keep what matters.
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            res = evaluate_structures(
                [crystals[i].structure for i in ok],
                tgt or None,
                names=[names[i] for i in ok],
                charges=[crystals[i].charges for i in ok],
                dos=[crystals[i].dos for i in ok],
                relax_steps=relax_steps,
            )
        for i, rec, relaxed in zip(ok, res.records, res.relaxed_structures, strict=True):
            by_index[i] = {**rec, "relaxed_cif": None if relaxed is None else _p1_cif(relaxed)}
        settings = res.summary.get("settings")
    seen: set[str] = set()
    for i, c in enumerate(crystals):
        if i not in by_index:
            by_index[i] = _skipped_record(names[i], c.structure, tgt, seen)
    for i, c in enumerate(crystals):
        by_index[i].update(cif=_p1_cif(c.structure), charges=c.charges, dos=c.dos)
        by_index[i].setdefault("relaxed_cif", None)
    records = [by_index[i] for i in range(len(crystals))]
    summary = summarize(records, tgt)
    summary["settings"] = settings or {"relax_steps": relax_steps}
    summary["settings"]["max_hull_elements"] = MAX_HULL_ELEMENTS
    summary["seconds_total"] = round(time.time() - t0, 2)
    return records, summary


def cell_job(
    checkpoint: str,
    sha256: str,
    target: dict | None,
    guidance: float,
    n: int,
    seed: int,
    steps: int | None,
    relax_steps: int,
    batch_size: int,
    charge_balance: bool = False,
) -> dict:
    """Generate and evaluate one cell; runs inside a worker process.

    ``charge_balance`` is explicit (default off, as every cell ran before closing existed), so a cell's
    stored job arguments say how it was sampled whatever the sampler's default is."""
    import torch

    from benchmarks.modelcache import model_for
    from models.sample import generate

    model = model_for(checkpoint, sha256)
    tgt = target or {}
    t0, c0 = time.perf_counter(), time.process_time()
    crystals = generate(
        model,
        n,
        band_gap=tgt.get("band_gap"),
        formation_energy_per_atom=tgt.get("formation_energy_per_atom"),
        guidance_scale=guidance if tgt else 0.0,
        seed=seed,
        steps=steps,
        batch_size=batch_size,
        charge_balance=charge_balance,
    )
    t_gen, c_gen = time.perf_counter() - t0, time.process_time() - c0
    records, summary = evaluate_cell(crystals, tgt, relax_steps)
    t_total, c_total = time.perf_counter() - t0, time.process_time() - c0
    return {
        "target": target,
        "guidance": guidance if tgt else 0.0,
        "n": len(crystals),
        "steps": model.default_steps if steps is None else steps,
        "relax_steps": relax_steps,
        "seed": seed,
        "charge_balance": charge_balance,
        "torch_threads": torch.get_num_threads(),
        "generation_seconds": round(t_gen, 2),
        "evaluation_seconds": round(t_total - t_gen, 2),
        "seconds": round(t_total, 2),
        "generation_cpu_seconds": round(c_gen, 2),
        "evaluation_cpu_seconds": round(c_total - c_gen, 2),
        "evaluated_structurally_valid": sum(
            bool(r.get("structure_valid")) and not r.get("hull_skipped") for r in records
        ),
        "hull_skipped": sum(1 for r in records if r.get("hull_skipped")),
        "summary": jsonable(summary),
        "records": [jsonable({k: r.get(k) for k in RECORD_KEYS + STRUCTURE_KEYS}) for r in records],
    }
