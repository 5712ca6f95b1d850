"""Relaxation, symmetry, self-consistency, screening and DFT verification (issue 17).

- ``structures``: the CHGNet-relaxed structure next to the generated one (CIF, symmetrized CIF, space
  group, RMSD, energy, converged, steps), which structure the predicted properties describe, the
  descriptor predictor's charges/DOS on the relaxed cell, the self-consistency score and the screen.
- ``jobs``: relax flag, screen spec, generation budget and why a screened job stopped.
- ``job_chunks.relax_progress``: the second phase of a chunk's progress.
- ``verifications`` and ``dft_crystals``: DFT verifications and the DFT-labelled crystals they yield.
Rows from before stay as they were (null: not relaxed, not screened).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 18:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_DOUBLE = sa.Double()
_STRUCTURE_COLUMNS = [
    ("relax_status", sa.String(length=16)),
    ("relax_error", sa.Text()),
    ("relaxed_structure", postgresql.JSONB(astext_type=sa.Text())),
    ("relaxed_cif", sa.Text()),
    ("symmetrized_cif", sa.Text()),
    ("relaxed_space_group_symbol", sa.String(length=32)),
    ("relaxed_space_group_number", sa.Integer()),
    ("relax_rmsd", _DOUBLE),
    ("relaxed_energy_per_atom", _DOUBLE),
    ("relax_converged", sa.Boolean()),
    ("relax_steps", sa.Integer()),
    ("relax_seconds", _DOUBLE),
    ("properties_basis", sa.String(length=16)),
    ("pred_charges_relaxed", postgresql.ARRAY(sa.Double())),
    ("pred_dos_relaxed", postgresql.ARRAY(sa.Double(), dimensions=2)),
    ("consistency_charge_mae", _DOUBLE),
    ("consistency_dos_cosine", _DOUBLE),
    ("descriptor_predictor_sha256", sa.String(length=64)),
    ("screen_passed", sa.Boolean()),
    ("screen_checks", postgresql.JSONB(astext_type=sa.Text())),
]
_JOB_COLUMNS = [
    ("relax", sa.Boolean()),
    ("screen", postgresql.JSONB(astext_type=sa.Text())),
    ("max_generated", sa.Integer()),
    ("screen_stopped", sa.String(length=16)),
]
_INDEXED = ("relaxed_space_group_number", "consistency_charge_mae", "consistency_dos_cosine")


def upgrade() -> None:
    for name, type_ in _STRUCTURE_COLUMNS:
        op.add_column("structures", sa.Column(name, type_, nullable=True))
    for name in _INDEXED:
        op.create_index(f"ix_structures_{name}", "structures", [name], unique=False)
    for name, type_ in _JOB_COLUMNS:
        op.add_column("jobs", sa.Column(name, type_, nullable=True))
    op.add_column("job_chunks", sa.Column("relax_progress", sa.Double(), nullable=True))
    op.create_table(
        "verifications",
        sa.Column("id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("structure_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("owner_key_id", postgresql.UUID(as_uuid=True), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("forced", sa.Boolean(), nullable=False),
        sa.Column("settings", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("max_seconds", sa.Double(), nullable=False),
        sa.Column("claim_token", postgresql.UUID(as_uuid=True), nullable=True),
        sa.Column("worker", sa.String(length=255), nullable=True),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("wall_seconds", sa.Double(), nullable=True),
        sa.Column("failure_reason", sa.String(length=32), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("result", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("comparison", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.ForeignKeyConstraint(["owner_key_id"], ["api_keys.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["structure_id"], ["structures.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_verifications_structure_id", "verifications", ["structure_id"], unique=False)
    op.create_table(
        "dft_crystals",
        sa.Column("id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("verification_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("structure_id", postgresql.UUID(as_uuid=True), nullable=True),
        sa.Column("formula", sa.String(length=255), nullable=False),
        sa.Column("n_sites", sa.Integer(), nullable=False),
        sa.Column("structure", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("charges", postgresql.ARRAY(sa.Double()), nullable=False),
        sa.Column("dos", postgresql.ARRAY(sa.Double(), dimensions=2), nullable=False),
        sa.Column("band_gap", sa.Double(), nullable=False),
        sa.Column("energy_per_atom", sa.Double(), nullable=False),
        sa.Column("settings", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("provenance", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(["structure_id"], ["structures.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["verification_id"], ["verifications.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("verification_id"),
    )


def downgrade() -> None:
    op.drop_table("dft_crystals")
    op.drop_index("ix_verifications_structure_id", table_name="verifications")
    op.drop_table("verifications")
    op.drop_column("job_chunks", "relax_progress")
    for name, _ in _JOB_COLUMNS:
        op.drop_column("jobs", name)
    for name in _INDEXED:
        op.drop_index(f"ix_structures_{name}", table_name="structures")
    for name, _ in _STRUCTURE_COLUMNS:
        op.drop_column("structures", name)
