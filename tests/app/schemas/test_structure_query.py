"""The structure-list query model on its own (the endpoint tests cover it through HTTP)."""

from __future__ import annotations

import re

import pytest
from pydantic import ValidationError

from app.schemas.structure_query import SUMMARY_FIELDS, StructureQuery


def test_defaults_select_every_field_and_no_filter():
    q = StructureQuery()
    assert q.selected_fields == SUMMARY_FIELDS and q.element_list == [] and (q.limit, q.offset) == (50, 0)


def test_comma_lists_are_split_and_trimmed():
    q = StructureQuery(fields=" formula, n_sites ,", elements="Li, O")
    assert q.selected_fields == ("formula", "n_sites") and q.element_list == ["Li", "O"]


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"band_gap_mn": 1}, "Extra inputs are not permitted"),
        ({"fields": "formula,secret"}, "unknown field(s) ['secret']"),
        ({"elements": "Na,Qq"}, "unknown element symbol(s) ['Qq']"),
        ({"formation_energy_min": 1, "formation_energy_max": 0}, "formation_energy_min (1.0) is greater"),
        ({"band_gap_max": float("inf")}, "finite number"),
        ({"space_group": 231}, "less than or equal to 230"),
    ],
)
def test_bad_queries_are_refused(params, message):
    with pytest.raises(ValidationError, match=re.escape(message)):
        StructureQuery(**params)
