"""The signed link to a customer's notice page that every notice e-mail carries.

A link names one change and one customer, signed with the installation's secret
($DPA_SECRET_KEY, else a random secret stored once in the database's meta table) and valid
until the customer's deadline plus a grace period. The notice makes the link; the notice page
(`dpa_engine.customers.portal`) reads it back.

The token holds no time of issue: for a notice with a deadline it is a function of (change,
customer, deadline), and a notice with no deadline is valid from the Brussels day it is
rendered on, so every rendering of one message on one day carries the same link.
"""

from __future__ import annotations

import datetime
import hashlib
import os
import secrets

from itsdangerous import URLSafeSerializer
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ..storage import Database
from ..storage.schema import Meta
from .errors import NoticeError
from .register import now_utc

SECRET_ENV = "DPA_SECRET_KEY"
# the address customers reach the web app at: notice e-mails link to it, the public pages
# and feeds name it (the one setting for both)
PUBLIC_URL_ENV = "DPA_PUBLIC_URL"
# A link stays usable this long after the deadline (to see the outcome, or answer LATE).
GRACE = datetime.timedelta(days=60)
# An informational notice has no deadline: its link lasts this long from when it was made.
INFORMATIONAL_VALIDITY = datetime.timedelta(days=120)


def public_url(explicit: str | None = None) -> str | None:
    """Where customers reach the web app: `explicit`, else $DPA_PUBLIC_URL; None when unset
    (then notice e-mails carry no link)."""
    value = (explicit or os.environ.get(PUBLIC_URL_ENV) or "").strip().rstrip("/")
    if value and not value.startswith(("https://", "http://")):
        raise NoticeError(f"'{value[:80]}' is not a web address", field=PUBLIC_URL_ENV,
                          fix="give the full address, e.g. https://dpa.example.com")
    return value or None


def portal_secret(db: Database) -> str:
    """$DPA_SECRET_KEY, else the secret stored in the meta table (created once, race-free)."""
    try:
        with db.transaction() as session:
            return stored_secret(session)
    except IntegrityError:  # another process created it first: use theirs
        with db.transaction() as session:
            return stored_secret(session)


def stored_secret(session: Session) -> str:
    """The secret, in the caller's transaction: $DPA_SECRET_KEY, else the stored one (stored
    now when there is none yet: the caller's transaction must commit for links to hold)."""
    if os.environ.get(SECRET_ENV):
        return os.environ[SECRET_ENV]
    row = session.get(Meta, "portal-secret")
    if row is None:
        row = Meta(key="portal-secret", value={"key": secrets.token_hex(32)})
        session.add(row)
        session.flush()
    return str(row.value["key"])


def link_serializer(secret: str | bytes) -> URLSafeSerializer:
    return URLSafeSerializer(secret, salt="dpa-notice-page",
                             signer_kwargs={"digest_method": hashlib.sha256})


def notice_token(secret: str | bytes, change_id: int, customer_key: str,
                 expires_at: datetime.datetime) -> str:
    return str(link_serializer(secret).dumps(
        [change_id, customer_key, int(expires_at.timestamp())]))


def notice_url(base_url: str, change_id: int, customer_key: str,
               deadline: datetime.datetime | None, *, secret: str | bytes | None = None,
               issued_at: datetime.datetime | None = None) -> str:
    """The customer's notice page for one change: `{base_url}/notice/{token}`.

    `secret`: the installation's (`portal_secret(db)`); default $DPA_SECRET_KEY."""
    key = secret if secret is not None else os.environ.get(SECRET_ENV)
    if not key:
        raise NoticeError("no secret to sign notice links", field=SECRET_ENV,
                          fix="set DPA_SECRET_KEY, or pass secret=portal_secret(db)")
    issued = issued_at or now_utc()
    expires = deadline + GRACE if deadline is not None else issued + INFORMATIONAL_VALIDITY
    return f"{base_url.rstrip('/')}/notice/{notice_token(key, change_id, customer_key, expires)}"
