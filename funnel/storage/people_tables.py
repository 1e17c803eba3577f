"""The tables of people's sign-in: password hashes, browser sessions, invitation links,
personal API tokens and failed sign-in attempts (funnel/storage/people.py keeps them).

No secret is stored as given: passwords as argon2 hashes, session ids, invitation and
personal tokens as SHA-256 digests of high-entropy random values (a copy of the database
then lets nobody sign in). Employees themselves live in the directory (directory.yaml), not
here: rows name them by employee id.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy import Column, Table

from funnel.storage.tables import ID, UTCDateTime, metadata

passwords = Table(
    "people_passwords", metadata,
    Column("employee_id", sa.String, primary_key=True),
    Column("password_hash", sa.String, nullable=False),  # argon2id, with its parameters
    Column("updated_at", UTCDateTime, nullable=False),
)  # fmt: skip

sessions = Table(
    "people_sessions", metadata,
    Column("session_hash", sa.String(64), primary_key=True),  # SHA-256 of the cookie
    Column("employee_id", sa.String, nullable=False, index=True),
    # Sent back by the browser in X-CSRF-Token: a page of another site can make the browser
    # send the cookie, but cannot read this value.
    Column("csrf_token", sa.String, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
)  # fmt: skip

invitations = Table(
    "people_invitations", metadata,
    Column("token_hash", sa.String(64), primary_key=True),
    Column("employee_id", sa.String, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    Column("used_at", UTCDateTime),  # set once: a link sets a password once
)  # fmt: skip

tokens = Table(
    "people_tokens", metadata,
    Column("token_id", sa.String(32), primary_key=True),  # public: `funnel token revoke ID`
    Column("token_hash", sa.String(64), nullable=False, unique=True),
    Column("employee_id", sa.String, nullable=False, index=True),
    Column("name", sa.String, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime),  # None: never expires
    Column("last_used_at", UTCDateTime),
    Column("revoked_at", UTCDateTime),
)  # fmt: skip

sign_in_failures = Table(
    "people_sign_in_failures", metadata,
    Column("id", ID, primary_key=True, autoincrement=True),
    # What was typed as the user (lower case), known employee or not: locking unknown
    # names too is what keeps the lock from telling who exists.
    Column("login", sa.String, nullable=False, index=True),
    Column("address", sa.String, nullable=False),
    Column("failed_at", UTCDateTime, nullable=False, index=True),
)  # fmt: skip
