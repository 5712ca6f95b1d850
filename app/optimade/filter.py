"""OPTIMADE filter strings → SQLAlchemy boolean expressions, evaluated by PostgreSQL.

The grammar and parser are the reference ones (the `optimade` package's v1.2 Lark grammar); the
package ships only MongoDB and Elasticsearch transformers, so this is the SQL one.

Semantics follow the specification's two-valued logic: a comparison with an unknown (null) value is
false, so every comparison on a nullable property is guarded by ``IS NOT NULL`` and ``NOT`` is a plain
negation. Properties of other providers are unknown: comparisons on them are false, ``IS UNKNOWN`` true.
"""

from __future__ import annotations

import operator
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from lark import Lark, Token, Transformer, Tree, v_args
from lark.exceptions import LarkError, VisitError
from optimade.filterparser.lark_parser import AVAILABLE_PARSERS
from sqlalchemy import ColumnElement, and_, cast, false, func, not_, or_, true
from sqlalchemy.dialects.postgresql import array

from app.optimade import sets
from app.optimade.errors import BadRequest, NotImplementedFilter
from app.optimade.fields import FIELDS, PROVIDER_PREFIX, UNSERVED, Field, string_sql

GRAMMAR_VERSION = (1, 2, 0)
MAX_FILTER_LENGTH = 10_000  # far beyond any real query; bounds parsing and SQL size
_OPS = {"=": operator.eq, "!=": operator.ne, "<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}
Pair = sets.Pair
_REVERSED = {"<": ">", "<=": ">=", ">": "<", ">=": "<=", "=": "=", "!=": "!="}


@lru_cache(maxsize=1)
def _parser() -> Lark:
    # propagate_positions: the grammar's `bool` rule keeps no token, so TRUE/FALSE is read back from
    # the filter text at the rule's position.
    with open(AVAILABLE_PARSERS[GRAMMAR_VERSION]["default"]) as grammar:
        return Lark(grammar, maybe_placeholders=False, propagate_positions=True)


@dataclass(frozen=True)
class Unknown:
    """A property of another provider: its value is unknown for every entry."""

    name: str


def _unescape(token: str) -> str:
    body = token[1:-1]
    out, i = [], 0
    while i < len(body):
        if body[i] == "\\" and i + 1 < len(body):
            out.append(body[i + 1])
            i += 2
        else:
            out.append(body[i])
            i += 1
    return "".join(out)


def _guard(field: Field, condition: ColumnElement) -> ColumnElement:
    assert field.sql is not None
    return and_(field.sql.is_not(None), condition) if field.nullable else condition


def _type_of(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    return "string"


def _compatible(field: Field, value: Any) -> bool:
    kind = _type_of(value)
    return {
        "string": kind == "string",
        "timestamp": kind == "string",
        "integer": kind == "number",
        "float": kind == "number",
        "boolean": kind == "boolean",
    }.get(field.type, False)


def _timestamp(field: Field, value: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise BadRequest(f"{field.name}: {value!r} is not an RFC 3339 timestamp") from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _operand(field: Field) -> ColumnElement:
    assert field.sql is not None
    return string_sql(field.sql) if field.type == "string" else field.sql


def _uuid_equality(column: ColumnElement, op: str, value: str) -> ColumnElement:
    # Compare the uuid column (primary key / job index) rather than its text form, which no index covers.
    try:
        wanted = uuid.UUID(value)
    except ValueError:
        return false() if op == "=" else true()  # not an id of ours
    if str(wanted) != value:  # e.g. upper case or no dashes: the served string form differs
        return false() if op == "=" else true()
    return _OPS[op](column, wanted)


class SQLTransformer(Transformer):
    """Bottom-up: values become Python values, properties become :class:`Field` (or :class:`Unknown`),
    comparisons and logic become SQLAlchemy expressions."""

    def __init__(self, text: str):
        super().__init__()
        self.text = text

    # --- values ----------------------------------------------------------------------------------
    def filter(self, args: list) -> ColumnElement | None:
        return args[0] if args else None

    @v_args(inline=True)
    def string(self, token: Token) -> str:
        return _unescape(str(token))

    @v_args(inline=True)
    def number(self, token: Token) -> int | float:
        return int(token) if token.type == "SIGNED_INT" else float(token)

    @v_args(inline=True)
    def signed_int(self, token: Token) -> int:
        return int(token)

    @v_args(meta=True)
    def bool(self, meta: Any, _children: list) -> bool:
        return self.text[meta.start_pos : meta.end_pos] == "TRUE"

    @v_args(inline=True)
    def constant(self, value: Any) -> Any:
        return value

    value = non_string_value = not_implemented_string = constant

    def property(self, args: list[Token]) -> Field | Unknown:
        name = str(args[0])
        if name in FIELDS:
            if len(args) > 1:
                raise NotImplementedFilter(f"nested properties of {name!r} cannot be filtered")
            return FIELDS[name]
        foreign = name.startswith("_") and name.count("_") >= 2 and name.split("_")[1] != PROVIDER_PREFIX
        if foreign or name in UNSERVED:
            return Unknown(name)
        raise BadRequest(f"'{'.'.join(map(str, args))}' is not a known or searchable property")

    def value_list(self, args: list) -> list[Pair]:
        """[(operator, value)]: an operator, where given, applies to the value after it."""
        pairs: list[Pair] = []
        op = "="
        for item in args:
            if isinstance(item, Token) and item.type == "OPERATOR":
                op = str(item)
            else:
                pairs.append((op, item))
                op = "="
        return pairs

    def value_zip(self, args: list) -> list[Pair]:
        return self.value_list(args)

    def value_zip_list(self, args: list) -> list[list[Pair]]:
        return list(args)

    def property_zip_addon(self, args: list) -> list[Field | Unknown]:
        return list(args)

    # --- logic -----------------------------------------------------------------------------------
    def expression(self, args: list) -> ColumnElement:
        return args[0] if len(args) == 1 else or_(*args)

    def expression_clause(self, args: list) -> ColumnElement:
        return args[0] if len(args) == 1 else and_(*args)

    def expression_phrase(self, args: list) -> ColumnElement:
        if len(args) == 2:  # NOT expression
            return not_(args[1])
        return args[0]

    @v_args(inline=True)
    def comparison(self, expr: ColumnElement) -> ColumnElement:
        return expr

    # --- comparisons -----------------------------------------------------------------------------
    @v_args(inline=True)
    def property_first_comparison(self, prop: Field | Unknown, rhs: Any) -> ColumnElement:
        return rhs(prop)

    @v_args(inline=True)
    def constant_first_comparison(self, constant: Any, op: Token, other: Any) -> ColumnElement:
        if isinstance(other, Field | Unknown):
            return self._compare(other, _REVERSED[str(op)], constant)
        if _type_of(constant) != _type_of(other):
            raise BadRequest(f"cannot compare {constant!r} with {other!r}")
        return true() if _OPS[str(op)](constant, other) else false()

    @v_args(inline=True)
    def value_op_rhs(self, op: Token, value: Any):
        return lambda prop: self._compare(prop, str(op), value)

    def known_op_rhs(self, args: list) -> Any:
        known = str(args[1]) == "KNOWN"

        def build(prop: Field | Unknown) -> ColumnElement:
            if isinstance(prop, Unknown):
                return false() if known else true()
            sql = self._sql(prop)
            return sql.is_not(None) if known else sql.is_(None)

        return build

    def fuzzy_string_op_rhs(self, args: list) -> Any:
        kind, value = str(args[0]), args[-1]

        def build(prop: Field | Unknown) -> ColumnElement:
            if isinstance(prop, Unknown):
                return false()
            if prop.type != "string" or not isinstance(value, str):
                raise BadRequest(f"{kind} compares a string property with a string, not {prop.name!r} with {value!r}")
            sql = self._sql(prop)
            method = {"CONTAINS": sql.contains, "STARTS": sql.startswith, "ENDS": sql.endswith}[kind]
            return _guard(prop, method(value, autoescape=True))

        return build

    def set_op_rhs(self, args: list) -> Any:
        # HAS [OPERATOR] value | HAS ALL|ANY|ONLY value_list
        mode = str(args[1]) if str(args[1]) in ("ALL", "ANY", "ONLY") else None
        pairs: list[Pair] = args[-1] if mode else [(str(args[1]) if len(args) == 3 else "=", args[-1])]

        def build(prop: Field | Unknown) -> ColumnElement:
            if isinstance(prop, Unknown):
                return false()
            sql = self._list_sql(prop)
            if any(op != "=" for op, _ in pairs):  # per-element comparisons: EXISTS over unnest
                return sets.has([prop], [[p] for p in pairs], mode)
            values = [v for _, v in pairs]
            if not all(_compatible(Field("", prop.item_type or "", None), v) for v in values):
                raise BadRequest(f"{prop.name} holds {prop.item_type} values, cannot match {values!r}")
            literal = cast(array(values), sql.type)  # the property's own array type, e.g. varchar(3)[]
            op = {"ANY": "&&", "ONLY": "<@"}.get(mode or "", "@>")  # array operators: the GIN index applies
            return _guard(prop, sql.op(op)(literal))

        return build

    def length_op_rhs(self, args: list) -> Any:
        op = str(args[1]) if len(args) == 3 else "="
        size = args[-1]

        def build(prop: Field | Unknown) -> ColumnElement:
            if isinstance(prop, Unknown):
                return false()
            return _guard(prop, _OPS[op](func.cardinality(self._list_sql(prop)), size))

        return build

    def set_zip_op_rhs(self, args: list) -> Any:
        # property_zip_addon HAS ( value_zip | ONLY|ALL|ANY value_zip_list )
        others, mode = args[0], (str(args[2]) if len(args) == 4 else None)
        zips: list[list[Pair]] = args[-1] if mode else [args[-1]]

        def build(prop: Field | Unknown) -> ColumnElement:
            props = [prop, *others]
            if any(isinstance(p, Unknown) for p in props):
                return false()
            return sets.has(props, zips, mode)

        return build

    # --- helpers ---------------------------------------------------------------------------------
    @staticmethod
    def _sql(prop: Field) -> ColumnElement:
        if prop.sql is None:
            raise NotImplementedFilter(f"filtering on {prop.name!r} is not supported (it is served, not queryable)")
        return prop.sql

    def _list_sql(self, prop: Field) -> ColumnElement:
        if prop.type != "list":
            raise BadRequest(f"HAS and LENGTH apply to list properties; {prop.name!r} is of type {prop.type}")
        return self._sql(prop)

    def _compare(self, prop: Field | Unknown, op: str, value: Any) -> ColumnElement:
        if isinstance(prop, Unknown):
            return false()
        self._sql(prop)
        if prop.type == "list":
            raise BadRequest(f"{prop.name!r} is a list: use HAS, HAS ALL/ANY/ONLY or LENGTH")
        if isinstance(value, Unknown):
            return false()
        if isinstance(value, Field):
            if value.type != prop.type:
                raise BadRequest(f"cannot compare {prop.name} ({prop.type}) with {value.name} ({value.type})")
            self._sql(value)
            other = _operand(value)
            return and_(_guard(prop, _OPS[op](_operand(prop), other)), other.is_not(None))
        if not _compatible(prop, value):
            raise BadRequest(f"{prop.name} is of type {prop.type}, cannot compare it with {value!r}")
        if prop.type == "boolean" and op not in ("=", "!="):
            raise BadRequest(f"{prop.name} is a boolean: only = and != apply")
        if prop.type == "timestamp":
            value = _timestamp(prop, value)
        if prop.uuid_column is not None and op in ("=", "!="):
            return _uuid_equality(prop.uuid_column, op, value)
        return _guard(prop, _OPS[op](_operand(prop), value))


def parse_filter(text: str) -> ColumnElement | None:
    """The WHERE clause for an OPTIMADE filter string (None for an empty filter).

    Raises BadRequest (400) for syntax errors, unknown properties and type mismatches, and
    NotImplementedFilter (501) for valid filters this implementation does not support.
    """
    if not text.strip():
        return None
    if len(text) > MAX_FILTER_LENGTH:
        raise BadRequest(f"filter longer than {MAX_FILTER_LENGTH} characters")
    try:
        tree: Tree = _parser().parse(text)
        return SQLTransformer(text).transform(tree)
    except LarkError as exc:
        if isinstance(exc, VisitError) and isinstance(exc.orig_exc, BadRequest | NotImplementedFilter):
            raise exc.orig_exc from None  # lark wraps exceptions raised in callbacks
        if isinstance(exc, VisitError) and not isinstance(exc.orig_exc, RecursionError):
            raise
        raise BadRequest(f"cannot parse filter {text!r}: {exc}") from exc
    except RecursionError as exc:  # absurdly deep nesting
        raise BadRequest("filter nested too deeply") from exc
