"""Settings sweep: Bader charges, gap and cost versus basis, k-point length, grid spacing and engine.

Run: ``python -m models.data.descriptors.validation.sweep [--cells NaCl MgO SrTiO3]``; writes
``sweep.json`` next to this file (one record per cell × setting, appended as each finishes).
"""

from __future__ import annotations

import argparse
import json
import traceback
from pathlib import Path

from models.data.descriptors.gpaw_path import run_crystal
from models.data.descriptors.settings import DFTSettings
from models.data.descriptors.validation.crystals import known_crystal

HERE = Path(__file__).resolve().parent
REFERENCE = DFTSettings(basis="dzp", kpt_length=16.0, h=0.15, gridrefinement=2)
# Finer Bader grid at a fine SCF grid: the check for SrTiO3, whose Ti charge moves most with the grid.
FINE_GRID = DFTSettings(basis="dzp", kpt_length=12.0, h=0.15, gridrefinement=4)
VARIANTS = [  # the candidates for production first, the converged reference last
    DFTSettings(basis="dzp", kpt_length=12.0, h=0.2, gridrefinement=2),
    DFTSettings(basis="dzp", kpt_length=12.0, h=0.2, gridrefinement=4),
    DFTSettings(basis="dzp", kpt_length=8.0, h=0.2, gridrefinement=4),
    DFTSettings(basis="dzp", kpt_length=8.0, h=0.25, gridrefinement=4),
    DFTSettings(basis="dzp", kpt_length=12.0, h=0.25, gridrefinement=4),
    DFTSettings(basis="dzp", kpt_length=8.0, h=0.2, gridrefinement=2),
    DFTSettings(basis="szp(dzp)", kpt_length=8.0, h=0.2, gridrefinement=2),
    DFTSettings(basis="dzp", kpt_length=12.0, h=0.2, engine="new", gridrefinement=2),
    DFTSettings(basis="dzp", kpt_length=12.0, h=0.25, gridrefinement=2),
    DFTSettings(basis="dzp", kpt_length=8.0, h=0.25, gridrefinement=2),
    REFERENCE,
]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cells", nargs="+", default=["NaCl", "MgO", "SrTiO3"])
    ap.add_argument("--out", default=str(HERE / "sweep.json"))
    ap.add_argument("--fine-only", action="store_true", help="run only the FINE_GRID check")
    args = ap.parse_args()
    out = Path(args.out)
    records = [r for r in (json.loads(out.read_text()) if out.exists() else []) if "error" not in r]
    done = {(r["cell"], json.dumps(r["settings"], sort_keys=True)) for r in records}
    for cell in args.cells:
        structure = known_crystal(cell)
        for s in [FINE_GRID] if args.fine_only else VARIANTS:
            key = (cell, json.dumps(s.model_dump(), sort_keys=True))
            if key in done:
                continue
            try:
                r = run_crystal(structure, s)
                rec = {k: r[k] for k in ("species", "charges", "charge_residual", "band_gap", "is_metal",
                                          "energy_ev", "seconds", "seconds_scf", "kpts", "density_grid")}
            except Exception as exc:  # record and keep sweeping
                rec = {"error": f"{type(exc).__name__}: {exc}", "trace": traceback.format_exc()[-2000:]}
            rec.update(cell=cell, settings=s.model_dump())
            records.append(rec)
            out.write_text(json.dumps(records, indent=1))
            print(cell, s.basis, s.kpt_length, s.h, s.engine, rec.get("charges"), rec.get("band_gap"),
                  rec.get("seconds"), rec.get("error"), flush=True)


if __name__ == "__main__":
    main()
