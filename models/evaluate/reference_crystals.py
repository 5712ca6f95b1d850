"""The set of known crystals the evaluation compares against: the project corpus plus all of MPTS-52.

Both the novelty check ("no match in the corpus or MPTS-52") and the reference convex hull use this
one table, so "known" means the same thing for both. MPTS-52 crystals above 20 sites are not in the
corpus (it keeps ≤ 20 sites) but they are still known materials, so they are added here with
``split = "reference"`` (never train/val/test of any model).
"""

from __future__ import annotations

import re
import warnings
from functools import lru_cache
from pathlib import Path

import pandas as pd
from pymatgen.core import Composition, Structure

from models.data.build_corpus import COLUMNS as CORPUS_COLUMNS

REPO_ROOT = Path(__file__).resolve().parents[2]
# Copies of the shared Materials Project files live in the repo (see models/data/reference/README.md),
# so evaluation never depends on a folder outside the checkout.
REFERENCE_DATA = REPO_ROOT / "models" / "data" / "reference"
MPTS52_CSV = REFERENCE_DATA / "mpts52_val.csv.gz"
ELEMENTAL_REFS_JSON = REFERENCE_DATA / "2023-02-07-mp-elemental-reference-entries.json.gz"

# The corpus' columns minus its space-group label (MPTS-52 rows carry none).
COLUMNS = [c for c in CORPUS_COLUMNS if c != "spacegroup"]


def reduced_formula(cif_or_formula: str) -> str:
    return Composition(cif_or_formula).reduced_formula


@lru_cache(maxsize=1)
def reference_frame() -> pd.DataFrame:
    """Corpus rows + MPTS-52 rows missing from the corpus; ``formula`` is the reduced formula."""
    from models.data.corpus import corpus_frame

    corpus = corpus_frame()[COLUMNS].copy()
    if not MPTS52_CSV.exists():
        raise FileNotFoundError(f"MPTS-52 table not found at {MPTS52_CSV} (reference data missing from the checkout?)")
    mpts = pd.read_csv(MPTS52_CSV)
    mpts = mpts[~mpts["material_id"].isin(set(corpus["material_id"]))]
    extra = pd.DataFrame(
        {
            "material_id": mpts["material_id"].astype(str),
            "source": "mpts52",
            "formula": None,
            "n_sites": None,
            "elements": None,
            "band_gap": float("nan"),
            "formation_energy_per_atom": mpts["formation_energy_per_atom"].astype(float),
            "e_above_hull": mpts["energy_above_hull"].astype(float),
            "split": "reference",
            "cif": mpts["cif"],
        }
    )
    # formula / n_sites / elements come from the CIF's formula line (P1 CIFs: it lists every site).
    comps = [cif_composition(c) for c in extra["cif"]]
    extra["formula"] = [c.reduced_formula for c in comps]
    extra["n_sites"] = [round(c.num_atoms) for c in comps]
    extra["elements"] = [" ".join(sorted(el.symbol for el in c)) for c in comps]
    df = pd.concat([corpus, extra], ignore_index=True)
    # The corpus' formula column may be a reduced or a full formula; normalise to reduced for bucketing.
    df["formula"] = [Composition(f).reduced_formula for f in df["formula"]]
    return df


_FORMULA_SUM = re.compile(r"^_chemical_formula_sum\s+'?([^'\n]+)'?\s*$", re.MULTILINE)


def cif_composition(cif: str) -> Composition:
    """Cell composition from ``_chemical_formula_sum`` (parsing the whole CIF only if it is absent)."""
    m = _FORMULA_SUM.search(cif)
    return Composition(m.group(1)) if m else parse_cif(cif).composition


def parse_cif(cif: str) -> Structure:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return Structure.from_str(cif, fmt="cif")
