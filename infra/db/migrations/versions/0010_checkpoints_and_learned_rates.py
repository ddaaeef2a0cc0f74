"""sync checkpoints, learned Harvest rates

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02 10:00:00

sync_checkpoints: where a sync stopped, committed with the data it covers, so that a retried,
redelivered or continued message carries on instead of starting over. harvest_rate_state: the
rate the shared limiter allows itself per account after Harvest refused requests it had let
through (lowered on a 429, raised again step by step).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sync_checkpoints",
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("scope", sa.Text(), nullable=False),
        sa.Column("run_id", sa.Text(), nullable=False),
        sa.Column("state", JSONB(), nullable=False),
        sa.Column("saved_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("account_id", "scope"),
    )
    op.create_table(
        "harvest_rate_state",
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("bucket", sa.Text(), nullable=False),
        sa.Column("learned_limit", sa.Float(), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("account_id", "bucket"),
    )


def downgrade() -> None:
    op.drop_table("harvest_rate_state")
    op.drop_table("sync_checkpoints")
