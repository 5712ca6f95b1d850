"""CHGNet energies of the reference crystals: a resumable background job and the shipped table.

Run ``python -m models.evaluate.references build`` (niced, in the background): it computes the
CHGNet static energy of every crystal in :func:`reference_frame` (corpus + MPTS-52, ~18.7k), appends
each result to ``var/evaluate/reference_energies_<mode>.csv`` as it finishes, skips what is already
there when restarted, and every ``--pack-every`` crystals writes the compressed table that ships in
``models/evaluate/assets/``. ``status`` prints progress; ``pack`` re-writes the asset by hand.

Static energies at the MP (DFT-relaxed) geometry are the default: MP structures sit within a few
FIRE steps of CHGNet's minimum, so a static call is ~10x cheaper than a relaxation for an energy
difference of a few meV/atom; ``--mode relaxed`` computes CHGNet-relaxed energies instead (into a
separate table) so that offset can be measured rather than assumed.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import json
import os
import sys
import time
from functools import lru_cache
from pathlib import Path

import pandas as pd
from pymatgen.entries.computed_entries import ComputedEntry

from models.evaluate.reference_crystals import ELEMENTAL_REFS_JSON, REPO_ROOT, parse_cif, reference_frame

ASSETS = Path(__file__).resolve().parent / "assets"
WORK_DIR = REPO_ROOT / "var" / "evaluate"
FIELDS = ["material_id", "n_sites", "energy_per_atom", "n_steps", "seconds"]


def work_file(mode: str) -> Path:
    return WORK_DIR / f"reference_energies_{mode}.csv"


def asset_file(mode: str) -> Path:
    return ASSETS / f"reference_energies_{mode}.csv.gz"


def _done_ids(path: Path) -> set[str]:
    if not path.exists():
        return set()
    with path.open() as fh:
        return {row["material_id"] for row in csv.DictReader(fh) if row.get("seconds")}


def pack(mode: str = "static") -> int:
    """Write the shipped gzip table from the work file (atomic replace); returns the row count."""
    src = work_file(mode)
    if not src.exists():
        raise FileNotFoundError(
            f"{src} does not exist: run `python -m models.evaluate.references build` first"
        )
    df = pd.read_csv(src, on_bad_lines="skip").dropna(subset=["energy_per_atom", "seconds"])
    df = df.drop_duplicates("material_id", keep="last").sort_values("material_id")
    df["energy_per_atom"] = df["energy_per_atom"].round(6)
    df["seconds"] = df["seconds"].round(3)
    ASSETS.mkdir(parents=True, exist_ok=True)
    dst = asset_file(mode)
    tmp = dst.with_suffix(".tmp")
    with gzip.open(tmp, "wt", compresslevel=9) as fh:
        df.to_csv(fh, index=False)
    tmp.replace(dst)
    return len(df)


def build(mode: str = "static", limit: int | None = None, pack_every: int = 500) -> None:
    """Compute missing reference energies, appending one line per crystal (kill-safe, resumable)."""
    from models.evaluate.chgnet_calc import relax, static_energy_per_atom

    refs = reference_frame()
    out = work_file(mode)
    out.parent.mkdir(parents=True, exist_ok=True)
    done = _done_ids(out)
    todo = refs[~refs["material_id"].isin(done)]
    if limit is not None:
        todo = todo.iloc[:limit]
    total = len(refs)
    print(f"[references] mode={mode} done={len(done)}/{total} todo={len(todo)} -> {out}", flush=True)
    new_file = not out.exists() or out.stat().st_size == 0
    t_start = time.time()
    with out.open("a", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=FIELDS)
        if new_file:
            writer.writeheader()
        for i, row in enumerate(todo.itertuples(index=False), 1):
            t0 = time.time()
            s = parse_cif(row.cif)
            try:
                if mode == "static":
                    e, steps = static_energy_per_atom(s), 0
                else:
                    r = relax(s, fmax=0.1, steps=200)
                    e, steps = r.energy_per_atom, r.n_steps
            except Exception as exc:  # a crystal CHGNet cannot handle is recorded, not fatal
                print(f"[references] {row.material_id} failed: {exc!r}", file=sys.stderr, flush=True)
                e, steps = float("nan"), -1
            writer.writerow(
                {
                    "material_id": row.material_id,
                    "n_sites": len(s),
                    "energy_per_atom": f"{e:.6f}",
                    "n_steps": steps,
                    "seconds": f"{time.time() - t0:.4f}",
                }
            )
            fh.flush()
            if i % 100 == 0 or i == len(todo):
                rate = (time.time() - t_start) / i
                print(
                    f"[references] {len(done) + i}/{total} {rate:.3f} s/crystal "
                    f"eta {(len(todo) - i) * rate / 60:.1f} min",
                    flush=True,
                )
            if i % pack_every == 0:
                pack(mode)
    if len(todo):
        print(f"[references] packed {pack(mode)} rows -> {asset_file(mode)}", flush=True)


def compare_static_relaxed() -> dict:
    """How much does relaxing a reference crystal with CHGNet lower its energy vs the static call?

    Written to ``assets/reference_relaxation_check.json``; it is the justification for building the
    hull from static energies while generated crystals enter it relaxed.
    """
    a = pd.read_csv(work_file("static"), on_bad_lines="skip")
    b = pd.read_csv(work_file("relaxed"), on_bad_lines="skip").dropna(subset=["energy_per_atom"])
    m = a.merge(b, on="material_id", suffixes=("_static", "_relaxed"))
    d = (m["energy_per_atom_static"] - m["energy_per_atom_relaxed"]) * 1000.0
    out = {
        "n": int(len(m)),
        "static_minus_relaxed_mev_per_atom": {
            "mean": float(d.mean()),
            "median": float(d.median()),
            "p95": float(d.quantile(0.95)),
            "max": float(d.max()),
            "fraction_above_10": float((d > 10).mean()),
        },
        "relax_steps_median": float(m["n_steps_relaxed"].median()),
        "relax_seconds_mean": float(m["seconds_relaxed"].mean()),
        "static_seconds_mean": float(m["seconds_static"].mean()),
        "note": "fmax 0.1 eV/A, at most 200 FIRE steps, 1 thread at nice 19 on a shared 2-core machine",
    }
    (ASSETS / "reference_relaxation_check.json").write_text(json.dumps(out, indent=1) + "\n")
    return out


def status(mode: str = "static") -> dict:
    refs = reference_frame()
    path = work_file(mode)
    df = pd.read_csv(path, on_bad_lines="skip") if path.exists() else pd.DataFrame(columns=FIELDS)
    shipped = asset_file(mode)
    n_shipped = len(pd.read_csv(shipped)) if shipped.exists() else 0
    return {
        "mode": mode,
        "references": int(len(refs)),
        "computed": int(df["material_id"].nunique()),
        "failed": int(df["energy_per_atom"].isna().sum()),
        "shipped_rows": n_shipped,
        "mean_seconds_per_crystal": float(df["seconds"].mean()) if len(df) else None,
    }


@lru_cache(maxsize=2)
def load_reference_energies(mode: str = "static") -> pd.DataFrame:
    """Shipped CHGNet energies joined to the reference table (only crystals that have an energy)."""
    path = asset_file(mode)
    if not path.exists():
        raise FileNotFoundError(
            f"{path} is missing: build it with `python -m models.evaluate.references build` "
            "(or ship it from a previous run)"
        )
    energies = pd.read_csv(path, dtype={"material_id": str}).dropna(subset=["energy_per_atom"])
    refs = reference_frame().drop(columns=["cif"])
    return refs.merge(energies[["material_id", "energy_per_atom"]], on="material_id", how="inner")


@lru_cache(maxsize=1)
def mp_elemental_entries() -> dict[str, ComputedEntry]:
    """MP's ground-state entry of each element (MP2020-compatible scale), keyed by symbol."""
    with gzip.open(ELEMENTAL_REFS_JSON, "rt") as fh:
        raw = json.load(fh)
    return {el: ComputedEntry.from_dict(d) for el, d in raw.items()}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m models.evaluate.references", description=__doc__)
    ap.add_argument("command", choices=["build", "pack", "status", "compare"])
    ap.add_argument("--mode", choices=["static", "relaxed"], default="static")
    ap.add_argument("--limit", type=int, default=None, help="compute at most this many crystals")
    ap.add_argument("--pack-every", type=int, default=500)
    args = ap.parse_args(argv)
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    if args.command == "build":
        build(args.mode, args.limit, args.pack_every)
    elif args.command == "pack":
        print(f"packed {pack(args.mode)} rows -> {asset_file(args.mode)}")
    elif args.command == "compare":
        print(json.dumps(compare_static_relaxed(), indent=2))
    else:
        print(json.dumps(status(args.mode), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
