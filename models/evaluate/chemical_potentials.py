"""Elemental chemical potentials (eV/atom) on CHGNet's energy scale, for hulls and formation energies.

The MP elemental reference file holds energies but no structures, so CHGNet cannot be run on MP's
elemental ground states directly. Instead each element's potential is MP's value plus a per-element
shift fitted so that CHGNet formation energies of the *train-split* corpus crystals reproduce MP's:

    mu_el = mu_el(MP) + delta_el,   delta = argmin sum_j (E_j/N_j - sum_el x_jel mu_el - Ef_j(MP))^2 + lam |delta|^2

``delta_el`` is CHGNet's systematic per-element offset relative to MP (ridge-shrunk to 0 for
elements seen in few crystals). ``python -m models.evaluate.chemical_potentials build`` measures both
choices (MP's values as they are, and the fitted ones) on the val and test splits, ships the numbers
in ``assets/chemical_potentials.json`` and selects the one with the lower validation MAE. The CHGNet
energies of unary reference crystals (MPTS-52 has some) are reported next to them as a check; they
also enter every hull as ordinary reference entries.
"""

from __future__ import annotations

import argparse
import json
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
from pymatgen.core import Composition

from models.evaluate.references import load_reference_energies, mp_elemental_entries

ASSET = Path(__file__).resolve().parent / "assets" / "chemical_potentials.json"
RIDGE_LAMBDA = 1.0


def mp_potentials() -> dict[str, float]:
    return {el: float(e.energy_per_atom) for el, e in mp_elemental_entries().items()}


def _fraction_matrix(formulas: list[str], elements: list[str]) -> np.ndarray:
    col = {el: i for i, el in enumerate(elements)}
    x = np.zeros((len(formulas), len(elements)))
    for j, f in enumerate(formulas):
        for el, v in Composition(f).fractional_composition.get_el_amt_dict().items():
            x[j, col[el]] = v
    return x


def formation_energies(df: pd.DataFrame, mu: dict[str, float]) -> np.ndarray:
    elements = sorted(mu)
    x = _fraction_matrix(list(df["formula"]), elements)
    return df["energy_per_atom"].to_numpy() - x @ np.array([mu[e] for e in elements])


def _errors(df: pd.DataFrame, mu: dict[str, float]) -> dict:
    err = formation_energies(df, mu) - df["formation_energy_per_atom"].to_numpy()
    return {
        "n": int(len(df)),
        "mae": float(np.mean(np.abs(err))),
        "bias": float(np.mean(err)),
        "median_abs": float(np.median(np.abs(err))),
    }


U_VALUES = {"Co": 3.32, "Cr": 3.7, "Fe": 5.3, "Mn": 3.9, "Mo": 4.38, "Ni": 6.2, "V": 3.25, "W": 6.2}


def mp2020_double_count_check(df: pd.DataFrame, mu: dict[str, float]) -> dict:
    """Is CHGNet already on the MP2020-corrected scale? Compare formation energies with and without
    applying MP2020 corrections to CHGNet energies (MP's GGA/GGA+U assignment reproduced)."""
    import warnings

    from pymatgen.entries.compatibility import MaterialsProject2020Compatibility
    from pymatgen.entries.computed_entries import ComputedEntry

    compat = MaterialsProject2020Compatibility(check_potcar=False)
    raw, corrected, is_oxide, target = [], [], [], []
    for f, e, ef in zip(df["formula"], df["energy_per_atom"], df["formation_energy_per_atom"], strict=True):
        comp = Composition(f)
        els = {el.symbol for el in comp}
        hub = bool(els & {"O", "F"}) and bool(els & set(U_VALUES))
        params = {
            "run_type": "GGA+U" if hub else "GGA",
            "is_hubbard": hub,
            "hubbards": {k: U_VALUES[k] for k in els if k in U_VALUES} if hub else {},
            "potcar_spec": [],
        }
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            entry = compat.process_entry(
                ComputedEntry(comp, e * comp.num_atoms, parameters=params), clean=True
            )
        if entry is None:
            continue
        ref = sum(x * mu[el] for el, x in comp.fractional_composition.get_el_amt_dict().items())
        raw.append(e - ref)
        corrected.append(entry.energy_per_atom - ref)
        is_oxide.append("O" in els)
        target.append(ef)
    raw_a, cor_a, t, ox = map(np.asarray, (raw, corrected, target, is_oxide))
    return {
        "n": int(t.size),
        "n_oxides": int(ox.sum()),
        "mae_raw_chgnet": float(np.mean(np.abs(raw_a - t))),
        "mae_with_mp2020_applied": float(np.mean(np.abs(cor_a - t))),
        "oxides_mae_raw_chgnet": float(np.mean(np.abs(raw_a[ox] - t[ox]))),
        "oxides_mae_with_mp2020_applied": float(np.mean(np.abs(cor_a[ox] - t[ox]))),
    }


def build(mode: str = "static") -> dict:
    refs = load_reference_energies(mode)
    refs = refs[np.isfinite(refs["formation_energy_per_atom"]) & np.isfinite(refs["energy_per_atom"])]
    mu_mp = mp_potentials()
    elements = sorted(mu_mp)
    refs = refs[[set(Composition(f).get_el_amt_dict()) <= set(elements) for f in refs["formula"]]]
    train = refs[refs["split"] == "train"]
    x = _fraction_matrix(list(train["formula"]), elements)
    resid = formation_energies(train, mu_mp) - train["formation_energy_per_atom"].to_numpy()
    a = x.T @ x + RIDGE_LAMBDA * np.eye(len(elements))
    delta = np.linalg.solve(a, x.T @ resid)
    mu_fit = {el: mu_mp[el] + float(d) for el, d in zip(elements, delta, strict=True)}
    counts = (x > 0).sum(axis=0)

    unary = refs.iloc[0:0]
    all_refs = load_reference_energies(mode)
    is_unary = [len(Composition(f).elements) == 1 for f in all_refs["formula"]]
    unary = all_refs[is_unary]
    unary_min = unary.groupby("formula")["energy_per_atom"].min().to_dict()

    report = {}
    for split in ("train", "val", "test"):
        part = refs[refs["split"] == split]
        report[split] = {"mp": _errors(part, mu_mp), "fitted": _errors(part, mu_fit)}
    choice = "fitted" if report["val"]["fitted"]["mae"] < report["val"]["mp"]["mae"] else "mp"
    check = mp2020_double_count_check(refs[refs["split"] == "val"], mu_mp)
    out = {
        "mp2020_check_on_val_split": check,
        "energy_model": "CHGNet 0.3.0 static energy at the MP geometry, no MP2020 correction re-applied",
        "mode": mode,
        "ridge_lambda": RIDGE_LAMBDA,
        "chosen": choice,
        "formation_energy_error_vs_mp_ev_per_atom": report,
        "elements": {
            el: {
                "mu_mp": mu_mp[el],
                "mu_fitted": mu_fit[el],
                "delta": mu_fit[el] - mu_mp[el],
                "n_train_crystals": int(c),
                "chgnet_unary_min": unary_min.get(el),
            }
            for el, c in zip(elements, counts, strict=True)
        },
    }
    ASSET.write_text(json.dumps(out, indent=1))
    chemical_potentials.cache_clear()
    return out


@lru_cache(maxsize=1)
def chemical_potentials() -> dict[str, float]:
    """The chosen elemental potentials (eV/atom); MP's values if the fitted table was never built."""
    if not ASSET.exists():
        return mp_potentials()
    data = json.loads(ASSET.read_text())
    key = "mu_fitted" if data["chosen"] == "fitted" else "mu_mp"
    return {el: float(v[key]) for el, v in data["elements"].items()}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m models.evaluate.chemical_potentials", description=__doc__)
    ap.add_argument("command", choices=["build"])
    ap.add_argument("--mode", default="static", choices=["static", "relaxed"])
    args = ap.parse_args(argv)
    out = build(args.mode)
    print(
        json.dumps(
            {
                "chosen": out["chosen"],
                "mp2020_check_on_val_split": out["mp2020_check_on_val_split"],
                **out["formation_energy_error_vs_mp_ev_per_atom"],
            },
            indent=1,
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
