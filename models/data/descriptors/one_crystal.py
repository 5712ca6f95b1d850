"""Child process of the batch runner: label one crystal and write its record to a file.

Input (stdin, JSON): ``{"material_id", "cif", "settings"}``; output: JSON written to ``--out``.
The CIF is parsed exactly as the corpus loader parses it (``Structure.from_str(cif, fmt="cif")``), so
the site order of the result is the corpus site order; the species list is stored to check it.
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings

from pymatgen.core import Structure

from models.data.descriptors.gpaw_path import run_crystal
from models.data.descriptors.settings import DFTSettings


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--txt", default=None, help="GPAW log file")
    args = ap.parse_args()
    job = json.load(sys.stdin)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        structure = Structure.from_str(job["cif"], fmt="cif")
    record = run_crystal(structure, DFTSettings(**job["settings"]), txt=args.txt)
    record["material_id"] = job["material_id"]
    with open(args.out, "w") as fh:
        json.dump(record, fh)


if __name__ == "__main__":
    main()
