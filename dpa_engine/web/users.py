"""Users, roles and server-side sessions of the web app.

Passwords are hashed with argon2id (argon2-cffi). A session is a random token in an HttpOnly
cookie; the database keeps only its sha256, with the session's CSRF token and expiry.
"""

from __future__ import annotations

import datetime
import hashlib
import re
import secrets
from dataclasses import dataclass
from enum import StrEnum

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from ..errors import InputError
from .library import LANGUAGES, WebSessionRow, WebUserRow

SESSION_LIFETIME = datetime.timedelta(hours=12)
MIN_PASSWORD_LENGTH = 12
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_hasher = PasswordHasher()
# Verified against when the e-mail is unknown, so both cases take the same time.
_DUMMY_HASH = _hasher.hash("not a password of anyone")


class Role(StrEnum):
    account_manager = "account-manager"
    legal = "legal"
    admin = "admin"


@dataclass(frozen=True)
class User:
    id: int
    email: str
    role: Role
    language: str


@dataclass(frozen=True)
class LoggedIn:
    user: User
    csrf_token: str


def now_utc() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC).replace(microsecond=0)


def _user(row: WebUserRow) -> User:
    return User(id=row.id, email=row.email, role=Role(row.role), language=row.language)


def add_user(session: Session, email: str, password: str, role: Role, language: str = "en") -> User:
    """Create a user; a clear InputError for a bad e-mail, weak password or duplicate."""
    email = email.strip().lower()
    if not _EMAIL.match(email):
        raise InputError(f"'{email}' is not an e-mail address", field="EMAIL",
                         fix="give the user's work e-mail, e.g. an@provider.example")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InputError(f"the password has fewer than {MIN_PASSWORD_LENGTH} characters",
                         field="password", fix="choose a longer password (a passphrase)")
    if language not in LANGUAGES:
        raise InputError(f"unknown language '{language}'", field="language",
                         fix="use nl, fr or en")
    if session.scalar(select(WebUserRow.id).where(WebUserRow.email == email)) is not None:
        raise InputError(f"a user '{email}' exists already", field="EMAIL",
                         fix="pick another e-mail address")
    row = WebUserRow(email=email, password_hash=_hasher.hash(password), role=role.value,
                     language=language, created_at=now_utc())
    session.add(row)
    session.flush()
    return _user(row)


def list_users(session: Session) -> list[User]:
    return [_user(r) for r in session.scalars(select(WebUserRow).order_by(WebUserRow.email))]


def authenticate(session: Session, email: str, password: str) -> User | None:
    row = session.scalar(select(WebUserRow).where(WebUserRow.email == email.strip().lower()))
    try:
        _hasher.verify(row.password_hash if row else _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        return None
    if row is None:
        return None
    if _hasher.check_needs_rehash(row.password_hash):
        row.password_hash = _hasher.hash(password)
    return _user(row)


def set_language(session: Session, user: User, language: str) -> None:
    row = session.get(WebUserRow, user.id)
    if row is not None and language in LANGUAGES:
        row.language = language


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("ascii")).hexdigest()


def start_session(session: Session, user: User) -> str:
    """A new session for `user`; returns the cookie token (only its hash is stored)."""
    token = secrets.token_urlsafe(32)
    moment = now_utc()
    session.execute(delete(WebSessionRow).where(WebSessionRow.expires_at < moment))
    session.add(WebSessionRow(token_sha256=_digest(token), user_id=user.id,
                              csrf_token=secrets.token_urlsafe(32), created_at=moment,
                              expires_at=moment + SESSION_LIFETIME))
    return token


def find_session(session: Session, token: str) -> LoggedIn | None:
    row = session.get(WebSessionRow, _digest(token))
    if row is None or row.expires_at < now_utc():
        return None
    return LoggedIn(user=_user(row.user), csrf_token=row.csrf_token)


def end_session(session: Session, token: str) -> None:
    session.execute(delete(WebSessionRow).where(WebSessionRow.token_sha256 == _digest(token)))
