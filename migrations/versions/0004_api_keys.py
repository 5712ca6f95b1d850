"""API keys and job ownership; chunks remember when they were put on the queue (fair scheduling).

- ``api_keys``: hashed keys, admin / read-all scopes, per-key quota overrides.
- ``jobs.owner_key_id``: the key that submitted the job (null for older jobs: only admin and read-all
  keys see those). The Idempotency-Key becomes unique per owner instead of globally.
- ``job_chunks.enqueued_at``: chunks are no longer all enqueued at submission. Chunks that were
  pending or running when this migration ran had been enqueued already, so they get a timestamp.
- ``jobs.queue``: the Celery queue of the job's chunks (null for older jobs: any reaper handles them).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02 17:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "api_keys",
        sa.Column("id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("is_admin", sa.Boolean(), nullable=False),
        sa.Column("read_all", sa.Boolean(), nullable=False),
        sa.Column("max_active_jobs", sa.Integer(), nullable=True),
        sa.Column("max_queued_samples", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key_hash"),
    )
    op.add_column("jobs", sa.Column("owner_key_id", postgresql.UUID(as_uuid=True), nullable=True))
    op.create_foreign_key(
        "jobs_owner_key_id_fkey", "jobs", "api_keys", ["owner_key_id"], ["id"], ondelete="SET NULL"
    )
    op.create_index("ix_jobs_owner_state", "jobs", ["owner_key_id", "state"], unique=False)
    op.drop_constraint("jobs_idempotency_key_key", "jobs", type_="unique")
    op.create_unique_constraint("uq_jobs_owner_idempotency", "jobs", ["owner_key_id", "idempotency_key"])
    op.add_column("jobs", sa.Column("queue", sa.String(length=128), nullable=True))
    op.add_column("job_chunks", sa.Column("enqueued_at", sa.DateTime(timezone=True), nullable=True))
    op.execute("UPDATE job_chunks SET enqueued_at = now() WHERE state IN ('pending', 'running')")


def downgrade() -> None:
    op.drop_column("job_chunks", "enqueued_at")
    op.drop_column("jobs", "queue")
    op.drop_constraint("uq_jobs_owner_idempotency", "jobs", type_="unique")
    # Keys were unique per owner; before 0004 they must be unique overall: keep the oldest job's.
    op.execute(
        """
        UPDATE jobs j SET idempotency_key = NULL
          FROM jobs k
         WHERE j.idempotency_key = k.idempotency_key AND j.id <> k.id
           AND (k.created_at, k.id) < (j.created_at, j.id)
        """
    )
    op.create_unique_constraint("jobs_idempotency_key_key", "jobs", ["idempotency_key"])
    op.drop_index("ix_jobs_owner_state", table_name="jobs")
    op.drop_constraint("jobs_owner_key_id_fkey", "jobs", type_="foreignkey")
    op.drop_column("jobs", "owner_key_id")
    op.drop_table("api_keys")
