"""Bounds every request value must respect before it reaches PostgreSQL or the model.

An integer beyond its column's type (``offset=2**63``) or an element the model has no class for used
to surface as a 500 or a failed job; checking here makes it a 422 with a message.
"""

from __future__ import annotations

from functools import lru_cache

INT32_MAX = 2**31 - 1  # PostgreSQL integer columns; also the largest offset we accept
# The model's element classes are atomic numbers 1..100 (models.diffusion.batch.NUM_ELEMENTS; that
# module imports torch, which the API must not; tests/app/schemas/test_bounds.py keeps them equal).
MODEL_MAX_Z = 100


@lru_cache
def model_elements() -> frozenset[str]:
    """Symbols of Z = 1..MODEL_MAX_Z. Isotope spellings such as D and T are not elements here."""
    from pymatgen.core.periodic_table import Element

    return frozenset(Element.from_Z(z).symbol for z in range(1, MODEL_MAX_Z + 1))


def unsupported_elements(symbols: list[str] | tuple[str, ...]) -> list[str]:
    known = model_elements()
    return [s for s in symbols if s not in known]


ELEMENTS_HINT = f"use element symbols with atomic number 1..{MODEL_MAX_Z}, e.g. 'Li', 'O'"
