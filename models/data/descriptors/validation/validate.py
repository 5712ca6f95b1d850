"""Run the DFT path with the chosen settings on the known crystals; write validation.json.

Run: ``python -m models.data.descriptors.validation.validate [--crystals NaCl MgO ...]``.
Each crystal is appended to ``validation.json`` as it finishes (re-runs skip finished crystals).
The markdown summary (README.md) is written by hand from these numbers and ``sweep.json``.
"""

from __future__ import annotations

import argparse
import json
import traceback
from pathlib import Path

from models.data.descriptors.gpaw_path import run_crystal
from models.data.descriptors.settings import DEFAULT_SETTINGS
from models.data.descriptors.validation.crystals import CORPUS_IDS, VALIDATION_CRYSTALS, known_crystal

HERE = Path(__file__).resolve().parent


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--crystals", nargs="+", default=VALIDATION_CRYSTALS)
    ap.add_argument("--out", default=str(HERE / "validation.json"))
    args = ap.parse_args()
    out = Path(args.out)
    records = [r for r in (json.loads(out.read_text()) if out.exists() else []) if "error" not in r]
    done = {r["crystal"] for r in records if r.get("settings") == DEFAULT_SETTINGS.model_dump()}
    for name in args.crystals:
        if name in done:
            continue
        try:
            r = run_crystal(known_crystal(name), DEFAULT_SETTINGS)
            r.pop("dos")
        except Exception as exc:
            r = {"error": f"{type(exc).__name__}: {exc}", "trace": traceback.format_exc()[-2000:],
                 "settings": DEFAULT_SETTINGS.model_dump()}
        r["crystal"] = name
        r["corpus_id"] = CORPUS_IDS.get(name)
        records.append(r)
        out.write_text(json.dumps(records, indent=1))
        print(name, r.get("species"), r.get("charges"), r.get("band_gap"), r.get("seconds"), r.get("error"), flush=True)


if __name__ == "__main__":
    main()
