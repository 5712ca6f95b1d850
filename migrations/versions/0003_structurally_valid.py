"""Rename structures.structure_valid to structurally_valid, the name the API has always used for it,
so one concept has one spelling from the column to the JSON field and the list filter.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02 15:30:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.alter_column("structures", "structure_valid", new_column_name="structurally_valid")


def downgrade() -> None:
    op.alter_column("structures", "structurally_valid", new_column_name="structure_valid")
