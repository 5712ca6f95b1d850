"""List filters beyond plain membership: ``HAS`` with an operator (``elements HAS < "C"``) and correlated
lists (``species_at_sites:_mattergene_bader_charges HAS "O":<-1``), as EXISTS over ``unnest`` of the
arrays side by side, so PostgreSQL evaluates them per row."""

from __future__ import annotations

import operator
from typing import Any

from sqlalchemy import ColumnElement, and_, func, literal, not_, or_, select, true

from app.optimade.errors import BadRequest, NotImplementedFilter
from app.optimade.fields import Field

OPS = {"=": operator.eq, "!=": operator.ne, "<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}
Pair = tuple[str, Any]  # (operator, value) for one list position


def _check(fields: list[Field], zipped: list[Pair]) -> None:
    if len(zipped) != len(fields):
        raise BadRequest(f"{len(fields)} properties are matched against {len(zipped)} values")
    for prop, (_, value) in zip(fields, zipped, strict=True):
        if prop.sql is None:
            raise NotImplementedFilter(f"filtering on {prop.name!r} is not supported (it is served, not queryable)")
        if prop.type != "list":
            raise BadRequest(f"HAS applies to list properties; {prop.name!r} is of type {prop.type}")
        numeric = isinstance(value, int | float) and not isinstance(value, bool)
        if (prop.item_type == "string") != isinstance(value, str) or (prop.item_type != "string" and not numeric):
            raise BadRequest(f"{prop.name} holds {prop.item_type} values, cannot match {value!r}")


def _row_condition(fields: list[Field], columns: list[ColumnElement], zipped: list[Pair]) -> ColumnElement:
    terms = []
    for prop, column, (op, value) in zip(fields, columns, zipped, strict=True):
        lhs = column.collate("C") if prop.item_type == "string" and op not in ("=", "!=") else column
        terms.append(OPS[op](lhs, value))
    return and_(*terms)


def _unnest(fields: list[Field]):
    names = [f"c{i}" for i in range(len(fields))]
    table = func.unnest(*[f.sql for f in fields]).table_valued(*names).render_derived(name="u")
    return table, [table.c[n] for n in names]


def _known(fields: list[Field]) -> ColumnElement:
    # An unknown (null) list matches nothing, ONLY included: unnest(NULL) has no rows.
    return and_(true(), *[f.sql.is_not(None) for f in fields if f.nullable])


def has(fields: list[Field], zips: list[list[Pair]], mode: str | None) -> ColumnElement:
    """``mode``: None (one value or zip), "ALL", "ANY" or "ONLY"."""
    for zipped in zips:
        _check(fields, zipped)
    table, columns = _unnest(fields)
    conditions = [_row_condition(fields, columns, z) for z in zips]
    if mode == "ONLY":  # no position outside the listed ones
        outside = select(literal(1)).select_from(table).where(not_(or_(*conditions))).exists()
        return and_(_known(fields), not_(outside))
    exists = [select(literal(1)).select_from(table).where(c).exists() for c in conditions]
    combined = or_(*exists) if mode == "ANY" else and_(*exists)
    return and_(_known(fields), combined)
