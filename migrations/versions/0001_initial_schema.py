"""Initial schema: jobs, job_chunks (unit of work with claim/heartbeat) and structures.

Revision ID: 0001
Revises:
Create Date: 2026-11-25 08:00:32.020083
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "jobs",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column(
            "state",
            sa.Enum("queued", "running", "succeeded", "failed", "cancelled", name="job_state"),
            nullable=False,
        ),
        sa.Column("target_band_gap", sa.Double(), nullable=True),
        sa.Column("target_formation_energy_per_atom", sa.Double(), nullable=True),
        sa.Column("num_samples", sa.Integer(), nullable=False),
        sa.Column("guidance_scale", sa.Double(), nullable=False),
        sa.Column("seed", sa.BigInteger(), nullable=False),
        sa.Column("steps", sa.Integer(), nullable=True),
        sa.Column("model_name", sa.String(length=128), nullable=False),
        sa.Column("num_atoms_min", sa.Integer(), nullable=True),
        sa.Column("num_atoms_max", sa.Integer(), nullable=True),
        sa.Column("allowed_elements", postgresql.ARRAY(sa.String(length=3)), nullable=True),
        sa.Column("required_elements", postgresql.ARRAY(sa.String(length=3)), nullable=True),
        sa.Column("chunk_size", sa.Integer(), nullable=False),
        sa.Column("num_chunks", sa.Integer(), nullable=False),
        sa.Column("request", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("idempotency_key", sa.String(length=255), nullable=True),
        sa.Column("request_fingerprint", sa.String(length=64), nullable=False),
        sa.Column("checkpoint_sha256", sa.String(length=64), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("first_structure_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("idempotency_key"),
    )
    op.create_index(op.f("ix_jobs_state"), "jobs", ["state"], unique=False)
    op.create_table(
        "job_chunks",
        sa.Column("job_id", sa.UUID(), nullable=False),
        sa.Column("chunk_index", sa.Integer(), nullable=False),
        sa.Column("start_index", sa.Integer(), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("seed", sa.BigInteger(), nullable=False),
        sa.Column(
            "state",
            sa.Enum("pending", "running", "done", "failed", "cancelled", name="chunk_state"),
            nullable=False,
        ),
        sa.Column("progress", sa.Double(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("claim_token", sa.UUID(), nullable=True),
        sa.Column("worker", sa.String(length=255), nullable=True),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("sampling_seconds", sa.Double(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["job_id"], ["jobs.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("job_id", "chunk_index"),
    )
    op.create_index(op.f("ix_job_chunks_state"), "job_chunks", ["state"], unique=False)
    op.create_table(
        "structures",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("job_id", sa.UUID(), nullable=False),
        sa.Column("sample_index", sa.Integer(), nullable=False),
        sa.Column("chunk_index", sa.Integer(), nullable=False),
        sa.Column("formula", sa.String(length=255), nullable=False),
        sa.Column("reduced_formula", sa.String(length=255), nullable=False),
        sa.Column("elements", postgresql.ARRAY(sa.String(length=3)), nullable=False),
        sa.Column("n_sites", sa.Integer(), nullable=False),
        sa.Column("lattice", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("volume", sa.Double(), nullable=False),
        sa.Column("density", sa.Double(), nullable=True),
        sa.Column("space_group_symbol", sa.String(length=32), nullable=True),
        sa.Column("space_group_number", sa.Integer(), nullable=True),
        sa.Column("structure", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("cif", sa.Text(), nullable=False),
        sa.Column("charges", postgresql.ARRAY(sa.Double()), nullable=True),
        sa.Column("dos", postgresql.ARRAY(sa.Double(), dimensions=2), nullable=True),
        sa.Column("band_gap_pred", sa.Double(), nullable=True),
        sa.Column("formation_energy_pred", sa.Double(), nullable=True),
        sa.Column("model_name", sa.String(length=128), nullable=False),
        sa.Column("checkpoint_sha256", sa.String(length=64), nullable=False),
        sa.Column("guidance_scale", sa.Double(), nullable=False),
        sa.Column("seed", sa.BigInteger(), nullable=False),
        sa.Column("steps", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(["job_id"], ["jobs.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("job_id", "sample_index", name="uq_structures_job_sample"),
    )
    op.create_index(op.f("ix_structures_band_gap_pred"), "structures", ["band_gap_pred"], unique=False)
    op.create_index(
        "ix_structures_elements", "structures", ["elements"], unique=False, postgresql_using="gin"
    )
    op.create_index(
        op.f("ix_structures_formation_energy_pred"), "structures", ["formation_energy_pred"], unique=False
    )
    op.create_index(op.f("ix_structures_reduced_formula"), "structures", ["reduced_formula"], unique=False)
    op.create_index(
        op.f("ix_structures_space_group_number"), "structures", ["space_group_number"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_structures_space_group_number"), table_name="structures")
    op.drop_index(op.f("ix_structures_reduced_formula"), table_name="structures")
    op.drop_index(op.f("ix_structures_formation_energy_pred"), table_name="structures")
    op.drop_index("ix_structures_elements", table_name="structures", postgresql_using="gin")
    op.drop_index(op.f("ix_structures_band_gap_pred"), table_name="structures")
    op.drop_table("structures")
    op.drop_index(op.f("ix_job_chunks_state"), table_name="job_chunks")
    op.drop_table("job_chunks")
    op.drop_index(op.f("ix_jobs_state"), table_name="jobs")
    op.drop_table("jobs")
    sa.Enum(name="chunk_state").drop(op.get_bind(), checkfirst=True)
    sa.Enum(name="job_state").drop(op.get_bind(), checkfirst=True)
