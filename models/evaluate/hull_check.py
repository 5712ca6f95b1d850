"""How far do MP's own crystals sit from the CHGNet reference hull when they are not part of it?

The reference hull is incomplete (only the corpus and MPTS-52, not all of MP), and CHGNet is not
DFT. Both errors show up when crystals MP calls (near-)stable are placed on a hull built without
them: the corpus test split is left out of the hull, each test crystal's CHGNet static energy is
placed on it, and the distance is compared with MP's own e_above_hull. The fraction of them that
our ``stable`` criterion (≤ 0.1 eV/atom) accepts is the ceiling on what a perfect generator could
score. ``python -m models.evaluate.hull_check`` writes ``assets/hull_check.json``.

Caveat stated with the numbers: CHGNet was trained on MPtrj, which contains these MP crystals, so
this measures the hull's completeness plus CHGNet's fit error, not CHGNet's generalisation.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from models.evaluate.references import load_reference_energies
from models.evaluate.stability import STABLE_THRESHOLD, reference_hull

ASSET = Path(__file__).resolve().parent / "assets" / "hull_check.json"


def run(mode: str = "static", split: str = "test") -> dict:
    refs = load_reference_energies(mode)
    held = refs[refs["split"] == split]
    hull = reference_hull(mode, exclude_split=split)
    ours, theirs, skipped = [], [], 0
    for row in held.itertuples(index=False):
        try:
            ours.append(hull.e_above_hull(row.formula, row.energy_per_atom))
            theirs.append(row.e_above_hull)
        except KeyError:
            skipped += 1
    e = np.array(ours)
    mp = np.array(theirs, dtype=float)
    q = np.quantile(e, [0.05, 0.25, 0.5, 0.75, 0.95])
    ok = np.isfinite(mp)
    result = {
        "mode": mode,
        "held_out_split": split,
        "n": int(e.size),
        "skipped_no_elemental_reference": skipped,
        "hull_size": int(len(refs) - len(held)),
        "e_above_hull_ev_per_atom": {
            "mean": float(e.mean()),
            "median": float(q[2]),
            "p05": float(q[0]),
            "p25": float(q[1]),
            "p75": float(q[3]),
            "p95": float(q[4]),
        },
        "fraction_stable_by_our_threshold": float(np.mean(e <= STABLE_THRESHOLD)),
        "fraction_at_or_below_hull": float(np.mean(e <= 1e-6)),
        "fraction_above_0.2": float(np.mean(e > 0.2)),
        "mp_e_above_hull_mean": float(mp[ok].mean()),
        "mae_vs_mp_e_above_hull": float(np.mean(np.abs(e[ok] - mp[ok]))),
        "stable_threshold": STABLE_THRESHOLD,
        "caveat": "CHGNet's training set (MPtrj) contains these MP crystals; only the hull excludes them.",
    }
    # Same crystals with the complete hull (they are part of it): CHGNet's ranking vs MP's.
    full = reference_hull(mode)
    inc = np.array([full.e_above_hull(r.formula, r.energy_per_atom) for r in held.itertuples(index=False)])
    result["with_crystals_in_hull"] = {
        "fraction_stable_by_our_threshold": float(np.mean(inc <= STABLE_THRESHOLD)),
        "fraction_on_hull": float(np.mean(inc <= 1e-6)),
        "mae_vs_mp_e_above_hull": float(np.nanmean(np.abs(inc - held["e_above_hull"].to_numpy(dtype=float)))),
    }
    ASSET.write_text(json.dumps(result, indent=1) + "\n")
    return result


if __name__ == "__main__":
    mode = sys.argv[1] if len(sys.argv) > 1 else "static"
    print(json.dumps(run(mode), indent=1))
