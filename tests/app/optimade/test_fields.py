"""The SQL that derives OPTIMADE's formula fields from a stored structure row, on a real PostgreSQL."""

from __future__ import annotations

import math

import pytest

from app.optimade.fields import FORMULA_ANONYMOUS_SQL, FORMULA_REDUCED_SQL


@pytest.mark.parametrize(
    "formula",
    [
        "Co2 Cu1 Hf1 Lu1 N2 Os1 S2 Sc1 Te1 Ti1",  # pymatgen's reduced_formula groups this as "...(SN)2"
        "Li4 O4",  # peroxide: pymatgen's reduced_formula is "LiO"
        "N4",
        "Na6 Cl6",
        "Ba2 Ti2 O6",
        "Fe3 O4",
    ],
)
def test_reduced_and_anonymous_formulas_follow_the_composition(model_env, formula):
    """The SQL behind chemical_formula_reduced / _anonymous, on a stored formula, is the reduced
    composition in OPTIMADE's form (elements alphabetical, counts divided by their gcd)."""
    from pymatgen.core import Composition
    from sqlalchemy import text

    from app.core.db import get_engine

    with get_engine().connect() as conn:
        reduced, anonymous = conn.execute(
            text(f"SELECT {FORMULA_REDUCED_SQL}, {FORMULA_ANONYMOUS_SQL} FROM (VALUES (:f)) AS structures(formula)"),
            {"f": formula},
        ).one()
    amounts, factor = Composition(formula).get_el_amt_dict(), 0
    for n in amounts.values():
        factor = math.gcd(factor, int(n))
    expected = {el: int(n) // factor for el, n in amounts.items()}
    assert reduced == "".join(f"{el}{'' if n == 1 else n}" for el, n in sorted(expected.items()))
    counts = sorted(expected.values(), reverse=True)
    assert anonymous == "".join(f"{chr(65 + k)}{'' if n == 1 else n}" for k, n in enumerate(counts))
