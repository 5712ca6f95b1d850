"""Predicted properties of each structure: energy above hull, validity flags, status and errors.

band_gap_pred and formation_energy_pred already exist (0001); this adds what the worker now fills from
models.evaluate.quick_properties. All nullable: rows stored before this revision, or by a worker
without the evaluation extra, simply have no values.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("structures", sa.Column("e_above_hull_pred", sa.Double(), nullable=True))
    op.add_column("structures", sa.Column("structure_valid", sa.Boolean(), nullable=True))
    op.add_column("structures", sa.Column("smact_valid", sa.Boolean(), nullable=True))
    op.add_column("structures", sa.Column("properties_status", sa.String(length=16), nullable=True))
    op.add_column(
        "structures",
        sa.Column("properties_errors", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
    )


def downgrade() -> None:
    op.drop_column("structures", "properties_errors")
    op.drop_column("structures", "properties_status")
    op.drop_column("structures", "smact_valid")
    op.drop_column("structures", "structure_valid")
    op.drop_column("structures", "e_above_hull_pred")
