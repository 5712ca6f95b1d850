"""Structure rows → OPTIMADE `structures` entries: one SELECT of exactly the requested properties
(the same SQL expressions the filter uses), then plain reshaping."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, func, literal_column, select
from sqlalchemy.engine import Row

from app.optimade.fields import FIELDS, UNSERVED, string_sql
from app.optimade.params import Params
from app.tables import Job, Structure

# Served, not queryable: built from stored JSON (positions as one jsonb path query, no pymatgen).
OUTPUT_SQL: dict[str, ColumnElement] = {
    "lattice_vectors": Structure.lattice["matrix"],
    "cartesian_site_positions": func.jsonb_path_query_array(
        Structure.structure, literal_column("'$.sites[*].xyz'::jsonpath")
    ),
    "species": Structure.elements,
}


def base_query() -> Select:
    """Structures joined to their jobs (job-level provider fields come from there)."""
    return select().select_from(Structure).join(Job, Job.id == Structure.job_id)


def entries_query(names: Sequence[str]) -> Select:
    columns = [Structure.id.label("id")]
    for name in names:
        if name in UNSERVED:
            continue
        sql = FIELDS[name].sql if FIELDS[name].sql is not None else OUTPUT_SQL[name]
        columns.append(sql.label(name))
    return base_query().add_columns(*columns)


def order_by(query: Select, params: Params) -> Select:
    terms = []
    for prop, descending in params.sort:
        assert prop.sql is not None
        expr = string_sql(prop.sql) if prop.type == "string" else prop.sql
        terms.append(expr.desc().nulls_last() if descending else expr.asc().nulls_last())
    return query.order_by(*terms, Structure.id)  # id last: pages are stable


def _timestamp(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _species(elements: list[str]) -> list[dict[str, Any]]:
    # Ordered crystals: one species per element, named by its symbol (species_at_sites uses the same).
    return [{"name": el, "chemical_symbols": [el], "concentration": [1.0]} for el in elements]


def to_entry(row: Row, names: Sequence[str]) -> dict[str, Any]:
    values = row._mapping
    attributes: dict[str, Any] = {}
    for name in names:
        value = values[name] if name not in UNSERVED else None
        if isinstance(value, datetime):
            value = _timestamp(value)
        elif name == "species":
            value = _species(value)
        attributes[name] = value
    return {"id": str(values["id"]), "type": "structures", "attributes": attributes}
