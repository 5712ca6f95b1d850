"""The OPTIMADE `structures` properties this service serves, each with the SQL expression that filters,
sorts and selects it.

Every queryable property is an SQL expression over ``structures`` (joined to ``jobs``), so a filter is
answered by PostgreSQL and the value a client sees is the value the filter compared (the response
selects the same expression). OPTIMADE's alphabetical formulas are derived in SQL from pymatgen's
reduced formula, which the worker stores and which orders elements by electronegativity.
"""

from __future__ import annotations

from dataclasses import dataclass

from optimade.models.structures import StructureResourceAttributes
from sqlalchemy import (
    ColumnElement,
    Double,
    Integer,
    Text,
    and_,
    case,
    cast,
    func,
    literal,
    literal_column,
)
from sqlalchemy.dialects.postgresql import ARRAY

from app.tables import Job, Structure

PROVIDER_PREFIX = "mattergene"
P = f"_{PROVIDER_PREFIX}_"

# (element, reduced count) rows of the structure's composition. Counted from ``structures.formula``
# (pymatgen's Composition.formula: "Co2 Cu1 N2 ...", one term per element) and divided by the counts'
# greatest common divisor. Not from ``reduced_formula``: pymatgen writes some reduced compositions as
# molecules (Li2O2 -> "LiO") or with groups in parentheses ("...(SN)2"), which a term regex cannot count.
_TERMS = (
    "SELECT m[1] AS el, CASE WHEN m[2] = '' THEN 1 ELSE m[2]::int END AS n "
    "FROM regexp_matches(structures.formula, '([A-Z][a-z]*)([0-9]*)', 'g') AS m"
)
_COUNTS = (
    f"WITH t AS ({_TERMS}), "
    "d AS (SELECT max(g) AS g FROM generate_series(1, (SELECT min(n) FROM t)) AS g "
    "WHERE NOT EXISTS (SELECT 1 FROM t WHERE t.n % g <> 0)) "
    "SELECT t.el, t.n / d.g AS n FROM t, d"
)
FORMULA_REDUCED_SQL = (
    "(SELECT string_agg(el || CASE WHEN n > 1 THEN n::text ELSE '' END, '' ORDER BY el COLLATE \"C\") "
    f"FROM ({_COUNTS}) AS c)"
)
# Labels A..Z, then Aa..Az, Ba..Bz (optimade.models.utils.ANONYMOUS_ELEMENTS), by decreasing count.
FORMULA_ANONYMOUS_SQL = (
    "(SELECT string_agg(CASE WHEN k < 26 THEN chr(65 + k) ELSE chr(65 + (k - 26) / 26) || chr(97 + (k - 26) % 26) END"
    " || CASE WHEN n > 1 THEN n::text ELSE '' END, '' ORDER BY k) "
    f"FROM (SELECT n, (row_number() OVER (ORDER BY n DESC, el COLLATE \"C\") - 1)::int AS k FROM ({_COUNTS}) AS c) AS r)"
)
ELEMENTS_RATIOS_SQL = (
    "(SELECT array_agg(n::float8 / t ORDER BY el COLLATE \"C\") "
    f"FROM (SELECT el, n, sum(n) OVER () AS t FROM ({_COUNTS}) AS c) AS r)"
)
SPECIES_AT_SITES_SQL = (
    "(SELECT array_agg(s -> 'species' -> 0 ->> 'element' ORDER BY i) "
    "FROM jsonb_array_elements(structures.structure -> 'sites') WITH ORDINALITY AS t(s, i))"
)


@dataclass(frozen=True)
class Field:
    """One `structures` property. ``sql`` is None for properties built in Python from the stored
    structure (positions, species): those are served but a filter on them answers 501."""

    name: str
    type: str  # OPTIMADE data type: string, integer, float, boolean, timestamp, list
    sql: ColumnElement | None
    nullable: bool = True
    item_type: str | None = None  # element type of a list property
    uuid_column: ColumnElement | None = None  # equality on a UUID id uses the indexed column itself
    unit: str | None = None
    description: str = ""

    @property
    def sortable(self) -> bool:
        return self.sql is not None and self.type != "list"

    @property
    def queryable(self) -> bool:
        return self.sql is not None


def _text(expr: str, type_=Text) -> ColumnElement:
    return literal_column(expr, type_=type_)


_valid = case(
    (Structure.structurally_valid.is_(None) | Structure.smact_valid.is_(None), None),
    else_=and_(Structure.structurally_valid, Structure.smact_valid),
)

STANDARD_FIELDS: tuple[Field, ...] = (
    Field("id", "string", cast(Structure.id, Text), nullable=False, uuid_column=Structure.id),
    Field("type", "string", literal("structures", Text), nullable=False),
    Field("immutable_id", "string", cast(Structure.id, Text), nullable=False, uuid_column=Structure.id),
    Field("last_modified", "timestamp", Structure.created_at, nullable=False),
    Field("elements", "list", Structure.elements, nullable=False, item_type="string"),
    Field("nelements", "integer", func.cardinality(Structure.elements), nullable=False),
    Field("elements_ratios", "list", _text(ELEMENTS_RATIOS_SQL, ARRAY(Double)), item_type="float"),
    Field("chemical_formula_descriptive", "string", func.replace(Structure.formula, " ", ""), nullable=False),
    Field("chemical_formula_reduced", "string", _text(FORMULA_REDUCED_SQL)),
    Field("chemical_formula_anonymous", "string", _text(FORMULA_ANONYMOUS_SQL)),
    Field("dimension_types", "list", _text("ARRAY[1, 1, 1]", ARRAY(Integer)), nullable=False, item_type="integer"),
    Field("nperiodic_dimensions", "integer", literal(3, Integer), nullable=False),
    Field("lattice_vectors", "list", None),
    Field("space_group_it_number", "integer", Structure.space_group_number),
    Field("cartesian_site_positions", "list", None),
    Field("nsites", "integer", Structure.n_sites, nullable=False),
    Field("species", "list", None),
    Field("species_at_sites", "list", _text(SPECIES_AT_SITES_SQL, ARRAY(Text)), item_type="string"),
    Field("structure_features", "list", _text("ARRAY[]::text[]", ARRAY(Text)), nullable=False, item_type="string"),
)

_SERVED_FROM = "Served from the native API: GET /v1/structures/{id} (JSON, CIF) and /v1/structures/{id}/dos."

PROVIDER_FIELDS: tuple[Field, ...] = (
    Field(
        f"{P}bader_charges",
        "list",
        Structure.charges,
        item_type="float",
        unit="[e]",
        description="Net Bader charge of each site (nuclear charge minus the Bader population of the "
        "all-electron density), in elementary charges, in the order of cartesian_site_positions; "
        "generated jointly with the structure by the model. Null for model variants without a charge "
        f"channel. The per-site atomic DOS is not part of OPTIMADE: {_SERVED_FROM}",
    ),
    Field(f"{P}job_id", "string", cast(Structure.job_id, Text), nullable=False, uuid_column=Structure.job_id,
          description="Id of the generation job that produced this structure (GET /v1/jobs/{id})."),
    Field(f"{P}sample_index", "integer", Structure.sample_index, nullable=False,
          description="0-based index of the sample within its job."),
    Field(f"{P}model", "string", Structure.model_name, nullable=False,
          description="Name of the model variant that generated the structure (GET /v1/models)."),
    Field(f"{P}checkpoint_sha256", "string", Structure.checkpoint_sha256, nullable=False,
          description="SHA-256 of the model checkpoint file that generated the structure."),
    Field(f"{P}target_band_gap", "float", Job.target_band_gap, unit="eV",
          description="Band gap the job asked for, in eV (null: not a target of the job)."),
    Field(f"{P}target_formation_energy_per_atom", "float", Job.target_formation_energy_per_atom,
          unit="eV/{atom}", description="Formation energy the job asked for, in eV per atom (null: not a target)."),
    Field(f"{P}guidance_scale", "float", Structure.guidance_scale, nullable=False,
          description="Classifier-free guidance scale used for sampling (dimensionless)."),
    Field(f"{P}seed", "integer", Structure.seed, nullable=False,
          description="Seed of the sampling call that produced the structure (derived from the job seed)."),
    Field(f"{P}steps", "integer", Structure.steps, nullable=False, description="Reverse-diffusion steps."),
    Field(f"{P}optimization_type", "string", literal("unrelaxed", Text), nullable=False,
          description="Which geometry is served: 'unrelaxed' is the crystal exactly as the model sampled "
          "it (the CHGNet-relaxed geometry is on the native /v1/structures/{id} and its CIFs)."),
    Field(f"{P}band_gap", "float", Structure.band_gap_pred, unit="eV",
          description="Predicted band gap in eV: independent LightGBM predictor trained on DFT (PBE) gaps of "
          "the training corpus, never used for guidance (test MAE 0.18 eV)."),
    Field(f"{P}formation_energy_per_atom", "float", Structure.formation_energy_pred, unit="eV/{atom}",
          description="Predicted formation energy in eV per atom: CHGNet energy of the CHGNet-relaxed structure "
          "(of the unrelaxed one when relaxation was skipped or failed) minus elemental chemical potentials on "
          "the Materials Project scale."),
    Field(f"{P}e_above_hull", "float", Structure.e_above_hull_pred, unit="eV/{atom}",
          description="Predicted energy above the convex hull in eV per atom, from the CHGNet energy of the "
          "relaxed structure (unrelaxed when relaxation was skipped or failed) against the reference hull "
          "(corpus + MPTS-52)."),
    Field(f"{P}properties_status", "string", Structure.properties_status,
          description="How the predicted values were obtained: computed, partial, failed, disabled or "
          "unavailable (null: stored before predictions existed)."),
    Field(f"{P}structurally_valid", "boolean", Structure.structurally_valid,
          description="All interatomic distances >= 0.5 Å and cell volume >= 0.1 Å^3."),
    Field(f"{P}smact_valid", "boolean", Structure.smact_valid,
          description="SMACT charge neutrality and Pauling electronegativity test (CDVAE/DiffCSP definition)."),
    Field(f"{P}valid", "boolean", _valid,
          description="structurally_valid and smact_valid (null if either is unknown)."),
    Field(f"{P}space_group_symbol", "string", Structure.space_group_symbol,
          description="Hermann-Mauguin symbol found by spglib at symprec 0.1 Å."),
    Field(f"{P}density", "float", Structure.density, unit="g/cm3", description="Density in g/cm^3."),
)

FIELDS: dict[str, Field] = {f.name: f for f in STANDARD_FIELDS + PROVIDER_FIELDS}
# Standard properties this service has no value for (Hall symbol, assemblies, ...): null in responses,
# unknown in filters, as the specification treats a property without a value.
UNSERVED = frozenset(StructureResourceAttributes.model_fields) - FIELDS.keys()
# Returned as top-level members of an entry, not under `attributes`.
TOP_LEVEL = frozenset({"id", "type"})
STRING_COLLATION = "C"  # byte order: the same ordering on every server, whatever its locale


def string_sql(expr: ColumnElement) -> ColumnElement:
    return expr.collate(STRING_COLLATION)


