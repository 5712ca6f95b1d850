"""The filter transformer without a database: what SQL each construct becomes, and which filters are
refused with which status. (Its answers on real rows are checked in test_router.py.)"""

from __future__ import annotations

import pytest
from sqlalchemy.dialects import postgresql

from app.optimade.errors import BadRequest, NotImplementedFilter
from app.optimade.fields import FIELDS, UNSERVED
from app.optimade.filter import parse_filter


def sql(text: str) -> str:
    expr = parse_filter(text)
    assert expr is not None
    return str(expr.compile(dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True}))


def test_set_and_length_operators_are_array_operators():
    assert "structures.elements @> CAST(ARRAY['Li', 'O'] AS VARCHAR(3)[])" in sql('elements HAS ALL "Li","O"')
    assert "&&" in sql('elements HAS ANY "Li","O"') and "<@" in sql('elements HAS ONLY "Li","O"')
    assert "cardinality(structures.elements) >= 2" in sql("elements LENGTH >= 2")
    assert "cardinality(structures.elements) = 3" in sql("nelements=3")


def test_logic_and_constant_first_comparisons():
    assert sql('elements HAS ALL "Li","O" AND (nsites < 10 OR NOT nelements = 3)') == (
        "(structures.elements @> CAST(ARRAY['Li', 'O'] AS VARCHAR(3)[])) AND "
        "(structures.n_sites < 10 OR cardinality(structures.elements) != 3)"
    )
    assert sql("NOT _mattergene_band_gap > 1") == (
        "NOT (structures.band_gap_pred IS NOT NULL AND structures.band_gap_pred > 1)"
    )
    assert sql("3 < nsites") == sql("nsites > 3") == "structures.n_sites > 3"


def test_nullable_properties_are_guarded_so_not_is_two_valued():
    # A comparison with an unknown value is false, so NOT of it is true: the guard makes that hold in SQL.
    text = sql("_mattergene_band_gap > 1.5")
    assert "structures.band_gap_pred IS NOT NULL AND structures.band_gap_pred > 1.5" in text


def test_strings_booleans_timestamps():
    assert 'COLLATE "C"' in sql('chemical_formula_reduced = "LiO"')
    # LIKE wildcards in the value are escaped: CONTAINS "Li%" looks for a literal percent sign.
    assert sql('chemical_formula_reduced CONTAINS "Li%"').endswith("LIKE '%%' || 'Li/%%' || '%%' ESCAPE '/')")
    assert "structures.smact_valid = true" in sql("_mattergene_smact_valid = TRUE")
    assert "structures.smact_valid = false" in sql("_mattergene_smact_valid = FALSE")
    assert "2026-01-02" in sql('last_modified >= "2026-01-02T03:04:05Z"')
    assert sql('chemical_formula_descriptive = "a\\"b"') == (
        "(replace(structures.formula, ' ', '') COLLATE \"C\") = 'a\"b'"
    )


def test_id_equality_uses_the_uuid_columns():
    some = "0b0e8f0a-1c2d-4e5f-8a9b-0c1d2e3f4a5b"
    assert sql(f'id = "{some}"') == f"structures.id = '{some}'"
    assert sql(f'"{some}" != _mattergene_job_id') == f"structures.job_id != '{some}'"
    assert sql('immutable_id = "not-a-uuid"') == "false" and sql(f'id = "{some.upper()}"') == "false"
    assert "CAST(structures.id AS TEXT)" in sql('id STARTS WITH "0b0e"')


def test_unknown_properties():
    # Another provider's property and standard properties without a value here are unknown: false.
    assert sql("_otherdb_x = 2") == "false" and sql("NOT _otherdb_x = 2") == "true"
    assert sql("_otherdb_x IS UNKNOWN") == "true"
    assert "chemical_formula_hill" in UNSERVED and sql('chemical_formula_hill = "H2O"') == "false"


@pytest.mark.parametrize(
    ("text", "error", "needle"),
    [
        ("nsites ==== 3", BadRequest, "cannot parse"),
        ("crazyfield = 2", BadRequest, "not a known"),
        ("_mattergene_nonexistent = 1", BadRequest, "not a known"),
        ('nsites = "three"', BadRequest, "of type integer"),
        ("elements = 3", BadRequest, "is a list"),
        ("_mattergene_valid > TRUE", BadRequest, "boolean"),
        ('last_modified > "yesterday"', BadRequest, "RFC 3339"),
        ("nsites HAS 3", BadRequest, "list properties"),
        ("lattice_vectors HAS 1.0", NotImplementedFilter, "not queryable"),
        ('elements:nsites HAS "Li":3', BadRequest, "list properties"),
        ('elements:elements_ratios HAS 0.5:"Li"', BadRequest, "holds string values"),
        ('elements:lattice_vectors HAS "Li":1', NotImplementedFilter, "not queryable"),
        ('species.name HAS "Li"', NotImplementedFilter, "nested"),
        ("(" * 3000 + "nsites=1" + ")" * 3000, BadRequest, "filter"),
        ("nsites=1 AND " * 1000 + "nsites=1", BadRequest, "longer than"),
    ],
)
def test_refused_filters(text, error, needle):
    with pytest.raises(error) as info:
        parse_filter(text)
    assert needle in info.value.detail


def test_operators_inside_has_and_correlated_lists_use_unnest():
    text = sql('elements HAS ALL < "C", "O"')
    assert text.count("EXISTS (SELECT 1") == 2 and text.count("FROM unnest(structures.elements) AS u(c0)") == 2
    assert '(u.c0 COLLATE "C") < \'C\'' in text and "u.c0 = 'O'" in text
    zipped = sql('species_at_sites:_mattergene_bader_charges HAS "O":<-1.0')
    assert "structures.charges IS NOT NULL" in zipped and "u.c1 < -1.0" in zipped
    assert "FROM unnest((SELECT array_agg(" in zipped and "structures.charges) AS u(c0, c1)" in zipped
    only = sql('elements:elements_ratios HAS ONLY "O":>0.5, "Li":<0.5')
    assert "NOT (EXISTS (SELECT 1" in only and " OR " in only
    assert sql('elements:_otherdb_x HAS "O":1') == "false"


def test_empty_filter_is_no_clause():
    assert parse_filter("") is None and parse_filter("   ") is None


def test_every_provider_field_is_prefixed_and_described():
    for name, field in FIELDS.items():
        if name.startswith("_"):
            assert name.startswith("_mattergene_") and field.description, name
