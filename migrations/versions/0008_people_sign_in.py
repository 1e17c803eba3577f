"""People sign in (funnel/storage/people_tables.py): password hashes, browser sessions,
one-time invitation links, personal API tokens and failed sign-in attempts (for the lock).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | None = None
depends_on: str | None = None

_TS = sa.DateTime(timezone=True)
_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "people_passwords",
        sa.Column("employee_id", sa.String(), primary_key=True),
        sa.Column("password_hash", sa.String(), nullable=False),
        sa.Column("updated_at", _TS, nullable=False),
    )
    op.create_table(
        "people_sessions",
        sa.Column("session_hash", sa.String(64), primary_key=True),
        sa.Column("employee_id", sa.String(), nullable=False),
        sa.Column("csrf_token", sa.String(), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("expires_at", _TS, nullable=False),
    )
    op.create_index("ix_people_sessions_employee_id", "people_sessions", ["employee_id"])
    op.create_table(
        "people_invitations",
        sa.Column("token_hash", sa.String(64), primary_key=True),
        sa.Column("employee_id", sa.String(), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("expires_at", _TS, nullable=False),
        sa.Column("used_at", _TS, nullable=True),
    )
    op.create_table(
        "people_tokens",
        sa.Column("token_id", sa.String(32), primary_key=True),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("employee_id", sa.String(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("expires_at", _TS, nullable=True),
        sa.Column("last_used_at", _TS, nullable=True),
        sa.Column("revoked_at", _TS, nullable=True),
        sa.UniqueConstraint("token_hash", name="uq_people_tokens_token_hash"),
    )
    op.create_index("ix_people_tokens_employee_id", "people_tokens", ["employee_id"])
    op.create_table(
        "people_sign_in_failures",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("login", sa.String(), nullable=False),
        sa.Column("address", sa.String(), nullable=False),
        sa.Column("failed_at", _TS, nullable=False),
    )
    op.create_index("ix_people_sign_in_failures_login", "people_sign_in_failures", ["login"])
    op.create_index(
        "ix_people_sign_in_failures_failed_at", "people_sign_in_failures", ["failed_at"]
    )


def downgrade() -> None:
    for table in (
        "people_sign_in_failures",
        "people_tokens",
        "people_invitations",
        "people_sessions",
        "people_passwords",
    ):
        op.drop_table(table)
