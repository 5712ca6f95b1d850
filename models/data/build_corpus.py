"""Build the project's crystal corpus from the real Materials Project files in ``../shared/data``.

Why a build step: the shared folder is outside the repo and may not exist on a user's machine, so the
corpus is assembled once, compressed, and committed (``models/data/corpus/``) with a manifest that
names its sources, licences, counts and checksums. Re-running this script reproduces the same bytes'
content (rows, order and split) from the same inputs.

Rules:
- every MP-20 binary/ternary crystal (val + test files, 14,258 rows);
- plus MPTS-52 validation crystals with <= 20 sites whose material id is not already present
  (their band gap is unknown, stored as empty → ``None``);
- a deterministic train/val/test split by material id (SHA-256 of the id, 80/10/10), independent of
  row order and of which other crystals are present, so a crystal never changes split when the corpus
  grows.

Run: ``python -m models.data.build_corpus [--shared ../shared/data]``.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import json
from pathlib import Path

import pandas as pd
from pymatgen.core import Structure

from models.hashing import sha256_file

CORPUS_DIR = Path(__file__).resolve().parent / "corpus"
CORPUS_FILE = CORPUS_DIR / "corpus.csv.gz"
MANIFEST_FILE = CORPUS_DIR / "manifest.json"
DEFAULT_SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data"

COLUMNS = [
    "material_id",
    "source",
    "formula",
    "n_sites",
    "elements",
    "band_gap",
    "formation_energy_per_atom",
    "e_above_hull",
    "spacegroup",
    "split",
    "cif",
]

SOURCES = {
    "mp20_val": {
        "path": "mp_20_biternary/val.csv.gz",
        "origin": "SymmetryAdvantage/WyckoffTransformer @ dc8305714b54, data/mp_20_biternary/val.csv.gz",
        "licence": "Apache-2.0 repository; data from CDVAE MP-20 (MIT) and Materials Project (CC-BY-4.0)",
    },
    "mp20_test": {
        "path": "mp_20_biternary/test.csv.gz",
        "origin": "SymmetryAdvantage/WyckoffTransformer @ dc8305714b54, data/mp_20_biternary/test.csv.gz",
        "licence": "Apache-2.0 repository; data from CDVAE MP-20 (MIT) and Materials Project (CC-BY-4.0)",
    },
    "mpts52_val": {
        "path": "mpts_52/val.csv.gz",
        "origin": "SymmetryAdvantage/WyckoffTransformer @ 5f1c22418cd5, data/mpts_52/val.csv.gz "
        "(originally jiaor17/DiffCSP data/mpts_52)",
        "licence": "Apache-2.0 repository; data from Materials Project (CC-BY-4.0) via DiffCSP (MIT)",
    },
}


def split_of(material_id: str) -> str:
    """80/10/10 split from the id alone, so it is stable under any change to the rest of the corpus."""
    bucket = int(hashlib.sha256(material_id.encode()).hexdigest(), 16) % 100
    if bucket < 80:
        return "train"
    if bucket < 90:
        return "val"
    return "test"


def _describe(cif: str) -> tuple[str, int, str]:
    s = Structure.from_str(cif, fmt="cif")
    elements = " ".join(sorted({el.symbol for el in s.composition.elements}))
    return s.composition.reduced_formula, len(s), elements


def build(shared: Path) -> pd.DataFrame:
    mp20 = pd.concat(
        [pd.read_csv(shared / SOURCES[k]["path"]) for k in ("mp20_val", "mp20_test")], ignore_index=True
    ).rename(columns={"spacegroup.number": "spacegroup"})
    rows = []
    for r in mp20.itertuples(index=False):
        formula, n, elements = _describe(r.cif)
        rows.append(
            dict(
                material_id=r.material_id,
                source="mp20",
                formula=formula,
                n_sites=n,
                elements=elements,
                band_gap=float(r.band_gap),
                formation_energy_per_atom=float(r.formation_energy_per_atom),
                e_above_hull=float(r.e_above_hull),
                spacegroup=int(r.spacegroup),
                cif=r.cif,
            )
        )
    seen = {r["material_id"] for r in rows}
    mpts = pd.read_csv(shared / SOURCES["mpts52_val"]["path"])
    for r in mpts.itertuples(index=False):
        if r.material_id in seen:
            continue
        formula, n, elements = _describe(r.cif)
        if n > 20:
            continue
        seen.add(r.material_id)
        s = Structure.from_str(r.cif, fmt="cif")
        try:
            sg = s.get_space_group_info(symprec=0.1)[1]
        except Exception:  # spglib can fail on odd cells; the label is informational only
            sg = None
        rows.append(
            dict(
                material_id=r.material_id,
                source="mpts52",
                formula=formula,
                n_sites=n,
                elements=elements,
                band_gap=None,
                formation_energy_per_atom=float(r.formation_energy_per_atom),
                e_above_hull=float(r.energy_above_hull),
                spacegroup=sg,
                cif=r.cif,
            )
        )
    df = pd.DataFrame(rows)
    df["split"] = df["material_id"].map(split_of)
    df = df.sort_values("material_id", kind="stable").reset_index(drop=True)
    return df[COLUMNS]


def write(df: pd.DataFrame, shared: Path) -> dict:
    CORPUS_DIR.mkdir(parents=True, exist_ok=True)
    buf = io.StringIO()
    df.to_csv(buf, index=False)
    # mtime=0 keeps the gzip bytes identical across rebuilds of the same content.
    with gzip.GzipFile(CORPUS_FILE, "wb", mtime=0) as fh:
        fh.write(buf.getvalue().encode())
    manifest = {
        "file": CORPUS_FILE.name,
        "sha256": sha256_file(CORPUS_FILE),
        "rows": int(len(df)),
        "columns": COLUMNS,
        "units": {"band_gap": "eV (MP, GGA/GGA+U)", "formation_energy_per_atom": "eV/atom (MP)",
                  "e_above_hull": "eV/atom (MP)"},
        "split_rule": "sha256(material_id) mod 100: <80 train, <90 val, else test",
        "counts": {
            "by_source": df["source"].value_counts().sort_index().to_dict(),
            "by_split": df["split"].value_counts().sort_index().to_dict(),
            "with_band_gap": int(df["band_gap"].notna().sum()),
            "n_elements": int(len({e for es in df["elements"] for e in es.split()})),
        },
        "sources": {
            k: {**v, "sha256": sha256_file(shared / v["path"])} for k, v in SOURCES.items()
        },
        "licence": "Derived from Materials Project data (CC-BY-4.0); see sources for repository licences.",
    }
    MANIFEST_FILE.write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shared", type=Path, default=DEFAULT_SHARED)
    args = ap.parse_args()
    df = build(args.shared)
    manifest = write(df, args.shared)
    print(json.dumps(manifest["counts"], indent=2))


if __name__ == "__main__":
    main()
