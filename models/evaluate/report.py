"""Write an evaluation as ``metrics.json`` (everything) and ``metrics.md`` (tables a person reads)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
from tabulate import tabulate

from models.evaluate.pipeline import EvaluationResult


def _jsonable(x):
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, (np.floating, float)):
        return None if not math.isfinite(float(x)) else float(x)
    if isinstance(x, (np.integer,)):
        return int(x)
    if isinstance(x, np.bool_):
        return bool(x)
    if isinstance(x, np.ndarray):
        return _jsonable(x.tolist())
    return x


def _fmt(x, digits: int = 3) -> str:
    if x is None:
        return "–"
    if isinstance(x, bool):
        return "yes" if x else "no"
    if isinstance(x, float):
        return "–" if not math.isfinite(x) else f"{x:.{digits}f}"
    return str(x)


def _pct(x) -> str:
    return "–" if x is None else f"{100 * x:.1f} %"


def _table(rows: list[list], headers: list[str]) -> str:
    return tabulate(rows, headers=headers, tablefmt="github", disable_numparse=True)


METRICS = [
    ("structure_valid", "structurally valid"),
    ("composition_valid", "SMACT valid"),
    ("all_metal", "all-metal (SMACT passes by definition)"),
    ("valid", "valid"),
    ("stable", "stable (E_hull ≤ 0.1 eV/atom)"),
    ("stable_strict", "stable strict (−0.05 ≤ E_hull ≤ 0)"),
    ("below_hull_flag", "more than 0.05 below the hull (reference hull missing this system)"),
    ("unique", "unique"),
    ("novel", "novel"),
    ("known_match", "matches a known crystal"),
    ("vsun", "VSUN"),
    ("vsun_strict", "VSUN strict"),
    ("property_hit", "property within tolerance"),
    ("success", "success (VSUN + hit)"),
]


def markdown(result: EvaluationResult, title: str = "Evaluation") -> str:
    s = result.summary
    n = s["n"]
    lines = [f"# {title}", "", f"{n} crystals; target: {s.get('target') or 'none (unconditional)'}.", ""]
    rows = [[label, _pct(s.get(f"{key}_rate")),
             f"{round(s[f'{key}_rate'] * n) if s.get(f'{key}_rate') is not None else '–'} / {n}"]
            for key, label in METRICS if s.get(f"{key}_rate") is not None or key != "property_hit"]
    if s.get("n_not_all_metal") is not None:
        rows.append(["SMACT valid, not all-metal", _pct(s.get("composition_valid_not_all_metal_rate")),
                     f"of {s['n_not_all_metal']}"])
    lines += [_table(rows, ["metric", "rate", "count"]), ""]
    for name, dist in (s.get("target_error") or {}).items():
        a = dist["all"]
        if a.get("n"):
            q = a["quantiles"]
            lines.append(
                f"{name} error (predicted − target), n={a['n']}: mean {a['mean']:+.3f}, mean |err| "
                f"{a['mean_abs']:.3f}, median |err| {a['median_abs']:.3f}, p05..p95 {q['p05']:+.3f}..{q['p95']:+.3f}"
            )
    eh = s.get("e_above_hull", {})
    if eh.get("n"):
        lines.append(
            f"E_above_hull (eV/atom), n={eh['n']}: median {eh['quantiles']['p50']:.3f}, mean {eh['mean']:.3f}; "
            f"more than 0.1 below the reference hull (check these): {_pct(s.get('below_hull_by_0.1_rate'))}"
        )
    lines.append(
        f"Mean relaxation RMSD {_fmt(s.get('mean_rmsd_relaxation_A'))} Å; diversity: "
        f"{s['diversity']['unique_compositions']} compositions, {s['diversity']['unique_spacegroups']} space groups; "
        f"{_fmt(s.get('seconds_per_crystal'), 2)} s per crystal."
    )
    da = s.get("descriptor_accuracy")
    if da:
        lines += [
            "",
            f"Descriptor accuracy ({da['n_crystals']} crystals): charge MAE {_fmt(da['charge_mae_e'])} e, "
            f"DOS cosine {_fmt(da['dos_cosine_mean'])}, DOS EMD {_fmt(da.get('dos_emd_mean_ev'))} eV",
            "",
            _table([[el, v["n_sites"], _fmt(v["charge_mae_e"]), _fmt(v["dos_cosine_mean"]),
                     _fmt(v.get("dos_emd_mean_ev"))] for el, v in da["by_element"].items()],
                   ["element", "sites", "charge MAE (e)", "DOS cosine", "DOS EMD (eV)"]),
        ]
    rows = [[r["name"], r["formula"], _fmt(r["valid"]), _fmt(r.get("e_above_hull")), _fmt(r["stable"]),
             _fmt(r["unique"]), _fmt(r["novel"]), _fmt(r.get("band_gap"), 2), _fmt(r.get("formation_energy_per_atom")),
             _fmt(r["success"])] for r in result.records]
    lines += ["", _table(rows, ["name", "formula", "valid", "E_hull", "stable", "unique", "novel", "band gap", "E_form",
                                "success"])]
    return "\n".join(lines) + "\n"


def write_report(
    result: EvaluationResult, out_dir: str | Path, title: str = "Evaluation", relaxed_cifs: bool = True
) -> Path:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    payload = {"summary": result.summary, "records": result.records}
    (out / "metrics.json").write_text(json.dumps(_jsonable(payload), indent=1) + "\n")
    (out / "metrics.md").write_text(markdown(result, title))
    if relaxed_cifs:
        d = out / "relaxed"
        d.mkdir(exist_ok=True)
        for rec, s in zip(result.records, result.relaxed_structures, strict=True):
            if s is not None:
                s.to(filename=str(d / f"{rec['name']}.cif"))
    return out


ROW_COLUMNS = [
    ("n", "n"),
    ("valid_rate", "V"),
    ("stable_rate", "S"),
    ("unique_rate", "U"),
    ("novel_rate", "N"),
    ("vsun_rate", "VSUN"),
    ("success_rate", "success"),
]


def summary_row(summary: dict, **labels) -> dict:
    """Flatten one evaluation summary into a benchmark-table row (labels: variant, target, γ, ...)."""
    row = dict(labels)
    for key, _ in ROW_COLUMNS:
        row[key] = summary.get(key)
    for name, dist in (summary.get("target_error") or {}).items():
        row[f"{name}_mean_abs_error"] = dist["all"].get("mean_abs")
    row["unique_compositions"] = summary["diversity"]["unique_compositions"]
    row["unique_spacegroups"] = summary["diversity"]["unique_spacegroups"]
    row["seconds_total"] = summary.get("seconds_total")
    return row


def summary_table(rows: list[dict], label_keys: list[str]) -> str:
    """Markdown table of :func:`summary_row` rows; rates in %, every cell states its sample count."""
    err_keys = sorted({k for r in rows for k in r if k.endswith("_mean_abs_error")})
    head = (
        label_keys + [h for _, h in ROW_COLUMNS] + [k.replace("_mean_abs_error", " mean abs err") for k in err_keys]
    )
    head += ["compositions", "space groups", "seconds"]
    body = []
    for r in rows:
        cells = [str(r.get(k, "")) for k in label_keys] + [str(r["n"])]
        cells += [_pct(r.get(k)) for k, _ in ROW_COLUMNS[1:]]
        cells += [_fmt(r.get(k)) for k in err_keys]
        cells += [
            str(r["unique_compositions"]),
            str(r["unique_spacegroups"]),
            _fmt(r.get("seconds_total"), 0),
        ]
        body.append(cells)
    return _table(body, head) + "\n"
