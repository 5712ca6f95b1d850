"""Charge-balance closing as a job option.

- ``jobs.charge_balance``: the sampler drew the element completing each crystal given a SMACT-valid
  composition. Jobs from before stay null: they sampled without it, and a worker resuming one does too.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06 06:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("jobs", sa.Column("charge_balance", sa.Boolean(), nullable=True))


def downgrade() -> None:
    op.drop_column("jobs", "charge_balance")
