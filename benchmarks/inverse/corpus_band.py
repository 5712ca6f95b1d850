"""SMACT validity of real crystals in each target's band: the rate a model that reproduces the data scores.

A guided sample's SMACT rate means little on its own: wide-gap real crystals are nearly all
charge-balanced ionic compounds, metals and narrow-gap crystals far less often. So next to each
target's generated rate the report puts the training split's crystals whose property lies within the
target's tolerance band (the band a success must hit), scored with the same SMACT code.
"""

from __future__ import annotations

from functools import lru_cache

from benchmarks.settings import target_grid, target_label
from benchmarks.stats import rate


@lru_cache(maxsize=1)
def _train_frame():
    from models.data.corpus import corpus_frame

    df = corpus_frame()
    return df[df["split"] == "train"][["formula", "band_gap", "formation_energy_per_atom"]].copy()


@lru_cache(maxsize=65536)
def _flags(formula: str) -> tuple[bool, bool]:
    from models.evaluate.validity import composition_is_valid, is_all_metal

    return composition_is_valid(formula), is_all_metal(formula)


def band_rates(target: dict | None) -> dict:
    """SMACT rate (all, not all-metal) and all-metal fraction of train-split crystals in the band."""
    from models.evaluate.success import TOLERANCES, normalize_target

    df = _train_frame()
    mask = None
    for name, value in normalize_target(target).items():
        col = df[name]
        m = (col - value).abs() <= TOLERANCES[name]
        mask = m if mask is None else mask & m
    rows = df if mask is None else df[mask]
    flags = [_flags(f) for f in rows["formula"]]
    not_metal = [ok for ok, metal in flags if not metal]
    return {
        "n": len(flags),
        "composition_valid": rate(sum(ok for ok, _ in flags), len(flags)),
        "composition_valid_not_all_metal": rate(sum(not_metal), len(not_metal)),
        "all_metal": rate(sum(metal for _, metal in flags), len(flags)),
    }


def corpus_band_table() -> dict[str, dict]:
    """``{target label: band_rates}`` for every target of the grid (unconditional = the whole split)."""
    return {target_label(t): band_rates(t) for t in target_grid()}
