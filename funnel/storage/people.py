"""People's sign-in kept in the funnel database: passwords, sessions, invitations and the
lock on repeated failures (the tables are in funnel/storage/people_tables.py; personal API
tokens in funnel/storage/personal_tokens.py).

Thread-safe like the other stores: the API calls it from worker threads.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from funnel.storage.people_tables import invitations, passwords, sessions, sign_in_failures
from funnel.storage.store import Store

MIN_PASSWORD = 10
# argon2 costs the same for any length, but a megabyte password is no password: refuse it
# before hashing.
MAX_PASSWORD = 1024

_hasher = PasswordHasher()  # argon2id with the library's current recommended costs
# Verified against when the user is unknown or has no password, so that an unknown user
# costs the same argon2 work as a wrong password: the timing does not tell who exists.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


class PasswordRejected(ValueError):
    """The new password is not acceptable; the message says why."""


class InvitationRefused(ValueError):
    """The invitation link is unknown, used or expired; the message says which."""

    def __init__(self, message: str, *, unknown: bool) -> None:
        super().__init__(message)
        self.unknown = unknown


def digest(secret: str) -> str:
    """SHA-256 of a high-entropy random secret (a session id, a token): enough at rest,
    since such a value cannot be guessed from its digest the way a password could."""
    return hashlib.sha256(secret.encode()).hexdigest()


def check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise PasswordRejected(f"the password is too short: at least {MIN_PASSWORD} characters")
    if len(password) > MAX_PASSWORD:
        raise PasswordRejected(f"the password is too long: at most {MAX_PASSWORD} characters")


@dataclass(frozen=True)
class NewSession:
    cookie: str  # given to the browser once; the database keeps its digest
    csrf_token: str
    expires_at: datetime


@dataclass(frozen=True)
class Session:
    employee_id: str
    csrf_token: str
    expires_at: datetime


@dataclass(frozen=True)
class LockPolicy:
    """``failures`` failed sign-ins of one login from one address within ``window`` lock
    that pair for ``lockout`` after the last of them."""

    failures: int = 5
    window: timedelta = timedelta(minutes=15)
    lockout: timedelta = timedelta(minutes=15)


def _now() -> datetime:
    return datetime.now(UTC)


class People:
    def __init__(self, store: Store) -> None:
        self._tx = store.transaction

    # --- passwords ------------------------------------------------------------------------

    def set_password(self, employee_id: str, password: str) -> None:
        check_password(password)
        values = {"password_hash": _hasher.hash(password), "updated_at": _now()}
        with self._tx(write=True) as conn:
            updated = conn.execute(
                passwords.update().where(passwords.c.employee_id == employee_id).values(values)
            ).rowcount
            if not updated:
                conn.execute(passwords.insert().values(employee_id=employee_id, **values))
            # A new password ends the sessions opened with the old one.
            conn.execute(sessions.delete().where(sessions.c.employee_id == employee_id))

    def verify_password(self, employee_id: str | None, password: str) -> bool:
        """True if ``employee_id`` has this password. An unknown employee (None) or one
        without a password does the same argon2 work and answers False."""
        # The same query for an unknown employee (with an id nobody has): same timing.
        with self._tx() as conn:
            stored = conn.execute(
                sa.select(passwords.c.password_hash).where(
                    passwords.c.employee_id == (employee_id or "")
                )
            ).scalar()
        try:
            _hasher.verify(stored or _DUMMY_HASH, password[:MAX_PASSWORD])
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False
        if stored is None or employee_id is None:
            return False
        if _hasher.check_needs_rehash(stored):
            # The costs were raised since this hash was made: store it with today's.
            self.set_password_hash(employee_id, _hasher.hash(password))
        return True

    def set_password_hash(self, employee_id: str, password_hash: str) -> None:
        with self._tx(write=True) as conn:
            conn.execute(
                passwords.update()
                .where(passwords.c.employee_id == employee_id)
                .values(password_hash=password_hash, updated_at=_now())
            )

    def has_password(self, employee_id: str) -> bool:
        with self._tx() as conn:
            query = sa.select(passwords.c.employee_id).where(passwords.c.employee_id == employee_id)
            return conn.execute(query).first() is not None

    # --- sessions -------------------------------------------------------------------------

    def open_session(self, employee_id: str, lifetime: timedelta) -> NewSession:
        now = _now()
        new = NewSession(secrets.token_urlsafe(32), secrets.token_urlsafe(32), now + lifetime)
        with self._tx(write=True) as conn:
            # Expired sessions of this person go now, so the table does not grow forever.
            conn.execute(
                sessions.delete().where(
                    sessions.c.employee_id == employee_id, sessions.c.expires_at <= now
                )
            )
            conn.execute(
                sessions.insert().values(
                    session_hash=digest(new.cookie),
                    employee_id=employee_id,
                    csrf_token=new.csrf_token,
                    created_at=now,
                    expires_at=new.expires_at,
                )
            )
        return new

    def session(self, cookie: str) -> Session | None:
        """The unexpired session of this cookie, or None."""
        with self._tx() as conn:
            row = conn.execute(
                sa.select(
                    sessions.c.employee_id, sessions.c.csrf_token, sessions.c.expires_at
                ).where(sessions.c.session_hash == digest(cookie))
            ).first()
        if row is None or row.expires_at <= _now():
            return None
        return Session(row.employee_id, row.csrf_token, row.expires_at)

    def close_session(self, cookie: str) -> None:
        with self._tx(write=True) as conn:
            conn.execute(sessions.delete().where(sessions.c.session_hash == digest(cookie)))

    # --- invitations ----------------------------------------------------------------------

    def invite(self, employee_id: str, lifetime: timedelta) -> tuple[str, datetime]:
        """A one-time token for the invitation link, and when it expires."""
        token = secrets.token_urlsafe(32)
        now = _now()
        with self._tx(write=True) as conn:
            conn.execute(
                invitations.insert().values(
                    token_hash=digest(token),
                    employee_id=employee_id,
                    created_at=now,
                    expires_at=now + lifetime,
                )
            )
        return token, now + lifetime

    def accept_invitation(self, token: str, password: str) -> str:
        """Set the invited person's password and use the link up; their employee id."""
        check_password(password)
        now = _now()
        with self._tx(write=True) as conn:
            row = conn.execute(
                sa.select(invitations).where(invitations.c.token_hash == digest(token))
            ).first()
            if row is None:
                raise InvitationRefused("unknown invitation link", unknown=True)
            if row.used_at is not None:
                raise InvitationRefused(
                    "this invitation link was already used: ask for a new one", unknown=False
                )
            if row.expires_at <= now:
                raise InvitationRefused(
                    f"this invitation link expired at {row.expires_at.isoformat()}: ask for a"
                    " new one",
                    unknown=False,
                )
            # Used up in the same transaction that reads it: two clicks set one password.
            used = conn.execute(
                invitations.update()
                .where(invitations.c.token_hash == row.token_hash, invitations.c.used_at.is_(None))
                .values(used_at=now)
            ).rowcount
            if not used:
                raise InvitationRefused("this invitation link was already used", unknown=False)
        self.set_password(row.employee_id, password)
        return str(row.employee_id)

    # --- the lock on repeated failures ----------------------------------------------------

    def locked_until(self, login: str, address: str, policy: LockPolicy) -> datetime | None:
        """When the login/address pair may try again, or None if it may now."""
        now = _now()
        with self._tx() as conn:
            times = list(
                conn.execute(
                    sa.select(sign_in_failures.c.failed_at)
                    .where(
                        sign_in_failures.c.login == login.lower(),
                        sign_in_failures.c.address == address,
                        sign_in_failures.c.failed_at > now - policy.window - policy.lockout,
                    )
                    .order_by(sign_in_failures.c.failed_at.desc())
                    .limit(policy.failures)
                ).scalars()
            )
        if len(times) < policy.failures or times[0] - times[-1] > policy.window:
            return None
        until: datetime = times[0] + policy.lockout
        return until if until > now else None

    def record_failure(self, login: str, address: str, policy: LockPolicy) -> None:
        now = _now()
        with self._tx(write=True) as conn:
            conn.execute(
                sign_in_failures.insert().values(
                    login=login.lower(), address=address, failed_at=now
                )
            )
            # Failures older than any lock could look at are of no use any more.
            conn.execute(
                sign_in_failures.delete().where(
                    sign_in_failures.c.failed_at < now - policy.window - policy.lockout
                )
            )

    def clear_failures(self, login: str, address: str) -> None:
        with self._tx(write=True) as conn:
            conn.execute(
                sign_in_failures.delete().where(
                    sign_in_failures.c.login == login.lower(),
                    sign_in_failures.c.address == address,
                )
            )
