"""console users, sign-in throttling, when a token was set

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 09:00:00

console_users: who may sign in to the console (argon2 hashes only), as admin or viewer.
console_login_failures: failed sign-ins per user name and per address, which slow the next
attempt. accounts.token_set_at: the console says when a token was set, never what it is; rows
from before stay null ("set before this was recorded").
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "console_users",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("password_hash", sa.Text(), nullable=False),
        sa.Column("role", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("role IN ('admin', 'viewer')", name="console_users_role_valid"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
    )
    op.create_table(
        "console_login_failures",
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("last_failed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )
    op.add_column("accounts", sa.Column("token_set_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    op.drop_column("accounts", "token_set_at")
    op.drop_table("console_login_failures")
    op.drop_table("console_users")
