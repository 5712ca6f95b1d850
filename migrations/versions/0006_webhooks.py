"""Webhooks for jobs (issue 18).

- ``jobs.callback_url``: where the service POSTs the job document when the job ends (null: no webhook).
- ``api_keys.webhook_secret``: the per-key HMAC-SHA256 signing secret. Keys that exist already get one
  here (they can rotate it with ``python -m app.keys rotate-secret``).
- ``webhook_deliveries``: one row per (job, terminal event) with the attempts made so far.
- A trigger on ``jobs`` inserts that row in the same transaction that moves a job with a callback URL
  into succeeded/failed/cancelled. Jobs end in several places (worker commit, failure, reaper, screened
  stop, API cancel); the trigger makes the delivery exist exactly once per terminal transition whichever
  path ended the job, and it commits or rolls back together with the transition itself.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-05 16:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TRIGGER_FUNCTION = """
CREATE FUNCTION jobs_webhook_on_terminal() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO webhook_deliveries (id, job_id, event, url, state, attempts, next_attempt_at, created_at)
    VALUES (gen_random_uuid(), NEW.id, 'job.' || NEW.state::text, NEW.callback_url, 'pending', 0, now(), now())
    ON CONFLICT ON CONSTRAINT uq_webhook_deliveries_job_event DO NOTHING;
    RETURN NULL;
END
$$
"""

_TRIGGER = """
CREATE TRIGGER jobs_webhook_on_terminal
AFTER UPDATE OF state ON jobs
FOR EACH ROW
WHEN (NEW.callback_url IS NOT NULL
      AND NEW.state IN ('succeeded', 'failed', 'cancelled')
      AND OLD.state IS DISTINCT FROM NEW.state)
EXECUTE FUNCTION jobs_webhook_on_terminal()
"""


def upgrade() -> None:
    op.add_column("jobs", sa.Column("callback_url", sa.Text(), nullable=True))
    op.add_column("api_keys", sa.Column("webhook_secret", sa.String(length=128), nullable=True))
    # Existing keys: 32 random bytes as hex from PostgreSQL's CSPRNG (gen_random_uuid is built in since
    # PostgreSQL 13; two of them give 244 random bits, well beyond what HMAC needs).
    op.execute(
        "UPDATE api_keys SET webhook_secret = 'whsec_' || "
        "replace(gen_random_uuid()::text || gen_random_uuid()::text, '-', '') WHERE webhook_secret IS NULL"
    )
    op.create_table(
        "webhook_deliveries",
        sa.Column("id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("job_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("event", sa.String(length=32), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_status_code", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("enqueued_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("claim_token", postgresql.UUID(as_uuid=True), nullable=True),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("history", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["job_id"], ["jobs.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("job_id", "event", name="uq_webhook_deliveries_job_event"),
    )
    op.create_index("ix_webhook_deliveries_state", "webhook_deliveries", ["state"], unique=False)
    op.execute(_TRIGGER_FUNCTION)
    op.execute(_TRIGGER)


def downgrade() -> None:
    op.execute("DROP TRIGGER IF EXISTS jobs_webhook_on_terminal ON jobs")
    op.execute("DROP FUNCTION IF EXISTS jobs_webhook_on_terminal()")
    op.drop_index("ix_webhook_deliveries_state", table_name="webhook_deliveries")
    op.drop_table("webhook_deliveries")
    op.drop_column("api_keys", "webhook_secret")
    op.drop_column("jobs", "callback_url")
