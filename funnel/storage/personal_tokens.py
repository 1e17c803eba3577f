"""Personal API tokens: a person's own bearer token for scripts and tools, acting as that
person with their role (the table is ``people_tokens`` in funnel/storage/people_tables.py).

The token is shown once when issued (`funnel token issue`); the database keeps its SHA-256
digest, its expiry, whether it was revoked and when it was last used.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from funnel.storage.people import digest
from funnel.storage.people_tables import tokens
from funnel.storage.store import Store

# Tells a personal token from a service token at a glance (and in a leaked-secret scan).
PREFIX = "fpt_"
# last_used_at is written at most this often per token: a busy script does not turn every
# read into a database write.
_TOUCH_EVERY = timedelta(minutes=1)


@dataclass(frozen=True)
class IssuedToken:
    token_id: str
    token: str  # the secret: printed once, never stored
    employee_id: str
    name: str
    expires_at: datetime | None


@dataclass(frozen=True)
class TokenInfo:
    token_id: str
    employee_id: str
    name: str
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None

    def state(self, now: datetime) -> str:
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= now:
            return "expired"
        return "active"


class PersonalTokens:
    def __init__(self, store: Store) -> None:
        self._tx = store.transaction

    def issue(self, employee_id: str, name: str, expires_at: datetime | None) -> IssuedToken:
        issued = IssuedToken(
            token_id="pt-" + secrets.token_hex(4),
            token=PREFIX + secrets.token_urlsafe(32),
            employee_id=employee_id,
            name=name,
            expires_at=expires_at,
        )
        with self._tx(write=True) as conn:
            conn.execute(
                tokens.insert().values(
                    token_id=issued.token_id,
                    token_hash=digest(issued.token),
                    employee_id=employee_id,
                    name=name,
                    created_at=datetime.now(UTC),
                    expires_at=expires_at,
                )
            )
        return issued

    def revoke(self, token_id: str) -> bool:
        """True if the token existed and was not revoked already."""
        with self._tx(write=True) as conn:
            done = conn.execute(
                tokens.update()
                .where(tokens.c.token_id == token_id, tokens.c.revoked_at.is_(None))
                .values(revoked_at=datetime.now(UTC))
            ).rowcount
        return bool(done)

    def list(self, employee_id: str | None = None) -> list[TokenInfo]:
        query = sa.select(*(tokens.c[f] for f in TokenInfo.__dataclass_fields__)).order_by(
            tokens.c.created_at
        )
        if employee_id is not None:
            query = query.where(tokens.c.employee_id == employee_id)
        with self._tx() as conn:
            return [TokenInfo(**row._mapping) for row in conn.execute(query)]

    def resolve(self, token: str) -> str | None:
        """The employee id a valid token acts as (and its use is noted), or None for an
        unknown, revoked or expired token."""
        if not token.startswith(PREFIX):
            return None
        now = datetime.now(UTC)
        key = digest(token)
        with self._tx() as conn:
            row = conn.execute(
                sa.select(tokens.c.employee_id, tokens.c.expires_at, tokens.c.revoked_at,
                          tokens.c.last_used_at)
                .where(tokens.c.token_hash == key)
            ).first()  # fmt: skip
        if row is None or row.revoked_at is not None:
            return None
        if row.expires_at is not None and row.expires_at <= now:
            return None
        if row.last_used_at is None or now - row.last_used_at >= _TOUCH_EVERY:
            with self._tx(write=True) as conn:
                conn.execute(
                    tokens.update().where(tokens.c.token_hash == key).values(last_used_at=now)
                )
        return str(row.employee_id)
