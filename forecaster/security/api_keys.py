"""API keys: shown once when created, stored only as a hash, checked in constant time.

Used by the API's auth dependency and by ``forecaster keys create|list|revoke``. A key looks like
``fk_<prefix>_<secret>``; the prefix finds the row, the hash of the whole key proves it.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from forecaster.errors import InvalidInputError, NotFoundError, listing, quoted
from forecaster.storable_text import unstorable_in
from forecaster.storage.orm import ApiKey
from forecaster.timeutil import utc_now

Scope = Literal["ingest", "read", "admin"]
SCOPES: tuple[Scope, ...] = ("ingest", "read", "admin")
KEY_PREFIX = "fk"
PREFIX_BYTES = 4  # a key's prefix: 8 hex digits, shown in listings


@dataclass(frozen=True)
class IssuedKey:
    """A freshly created key: ``secret`` is the only copy of the full key."""

    id: int
    name: str
    prefix: str
    scopes: list[str]
    secret: str


@dataclass(frozen=True)
class Principal:
    """Who a verified request acts as."""

    key_id: int
    name: str
    scopes: frozenset[str]

    def allows(self, scope: str) -> bool:
        """``admin`` implies every other scope."""
        return scope in self.scopes or "admin" in self.scopes


def hash_key(key: str) -> str:
    """SHA-256 of the key: keys are 190 random bits, so a fast hash is not brute-forceable."""
    return hashlib.sha256(key.encode()).hexdigest()


KEY_NAME_MAX_LENGTH = 128  # the column's width


def create_key(*, session: Session, name: str, scopes: list[str]) -> IssuedKey:
    """Create a key with the given scopes; the full key is returned once and never stored."""
    if not name.strip() or len(name) > KEY_NAME_MAX_LENGTH or unstorable_in(name) is not None:
        raise InvalidInputError(
            f"a key's name must be 1 to {KEY_NAME_MAX_LENGTH} characters of text, got {len(name)}"
        )
    unknown = sorted(set(scopes) - set(SCOPES))
    if unknown or not scopes:
        raise InvalidInputError(
            f"scopes must be some of {listing(SCOPES)}, got {listing(scopes) or 'none'}"
        )
    prefix = secrets.token_hex(PREFIX_BYTES)
    secret = f"{KEY_PREFIX}_{prefix}_{secrets.token_urlsafe(24)}"
    row = ApiKey(name=name, prefix=prefix, key_hash=hash_key(secret), scopes=sorted(set(scopes)))
    session.add(row)
    session.flush()
    return IssuedKey(id=row.id, name=name, prefix=prefix, scopes=row.scopes, secret=secret)


def verify_key(*, session: Session, presented: str) -> Principal | None:
    """The principal of a valid, unrevoked key, else None. Comparison is constant-time."""
    parts = presented.split("_", 2)
    # a quoted cookie can spell NUL (\000): no key holds one, and PostgreSQL would refuse the lookup
    if len(parts) != 3 or parts[0] != KEY_PREFIX or unstorable_in(presented) is not None:
        return None
    row = session.execute(select(ApiKey).where(ApiKey.prefix == parts[1])).scalar_one_or_none()
    expected = row.key_hash if row is not None else hash_key("no such key")
    matches = hmac.compare_digest(expected, hash_key(presented))
    if row is None or not matches or row.revoked_at is not None:
        return None
    return Principal(key_id=row.id, name=row.name, scopes=frozenset(row.scopes))


def touch_key(*, session: Session, key_id: int, when: datetime) -> None:
    """Record when a key was last used (callers throttle this to spare the database)."""
    row = session.get(ApiKey, key_id)
    if row is not None:
        row.last_used_at = when


def _given(prefix: str, whole: bool) -> str:
    """What a refusal may say of the prefix asked for: a key pasted without its ``fk_`` start
    is no prefix, and was echoed secret and all."""
    if whole:
        return f"the key given (prefix {quoted(prefix)})"
    if len(prefix) == 2 * PREFIX_BYTES and all(c in "0123456789abcdef" for c in prefix):
        return f"prefix {quoted(prefix)}"
    return (
        f"the prefix given (not repeated: a prefix is {2 * PREFIX_BYTES} hex digits, as "
        "`forecaster keys list` shows, and this may be part of a key)"
    )


def list_keys(*, session: Session) -> list[ApiKey]:
    """Every key, newest first (hashes stay in the database; listings show prefixes)."""
    return list(session.execute(select(ApiKey).order_by(ApiKey.id.desc())).scalars())


def revoke_key(*, session: Session, prefix: str) -> ApiKey:
    """Revoke the key with this prefix (or this whole key, pasted from where it is kept: its
    prefix); revoking twice keeps the first revocation time. A message never repeats a whole
    key: the refusal of one had echoed the secret to the terminal and its logs."""
    parts = prefix.split("_", 2)
    whole = len(parts) == 3 and parts[0] == KEY_PREFIX
    if whole:
        prefix = parts[1]
    row = session.execute(select(ApiKey).where(ApiKey.prefix == prefix)).scalar_one_or_none()
    if row is None:
        raise NotFoundError(f"no API key with {_given(prefix, whole)}")
    if row.revoked_at is None:
        row.revoked_at = utc_now()
    return row
