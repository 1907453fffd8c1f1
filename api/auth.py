"""Bearer-key authentication for every route, with the scope decided by what the route does.

Installed once as an app-wide dependency, so new routers are protected without opting in:
ingestion paths need ``ingest``, other reads need ``read``, anything that changes state needs
``admin`` (which implies the others). Health probes and the service's own /metrics are open.
"""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.concurrency import run_in_threadpool

from api.deps import DatabaseDep, SettingsDep
from forecaster.errors import listing, quoted
from forecaster.security.api_keys import Principal, hash_key, touch_key, verify_key
from forecaster.storage.db import Database
from forecaster.timeutil import utc_now

OPEN_PATHS = frozenset({"/healthz", "/readyz", "/metrics", "/favicon.ico"})
# page shells and assets carry no data; the JSON they fetch needs a read key
OPEN_PREFIXES = ("/static/", "/dashboard/static/", "/dashboard/services/")
INGEST_PATHS = ("/v1/metrics", "/api/v1/write")
READ_ONLY_POSTS = ("/v1/simulations",)  # what-if computations change nothing
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
TOUCH_EVERY_SECONDS = 60.0
VERIFIED_TTL_SECONDS = 1.0

_last_touch: dict[int, float] = {}
_verified: dict[tuple[str, str], tuple[float, Principal]] = {}


def required_scope(method: str, path: str) -> str | None:
    """The scope a request needs, or None for open paths."""
    if path in OPEN_PATHS or path.startswith(OPEN_PREFIXES) or path in ("/", "/dashboard"):
        return None
    if path.startswith(INGEST_PATHS) and method == "POST":
        return "ingest"
    if method in SAFE_METHODS or (method == "POST" and path.startswith(READ_ONLY_POSTS)):
        return "read"
    return "admin"


def _bearer(request: Request, scope: str) -> str | None:
    """The key a request presents: its Authorization header, or for reading only the
    dashboard's cookie. A browser sends the cookie with any request to this host, one a page
    elsewhere made too (SameSite does not cover other ports or sibling subdomains): honoured
    on a write, an admin key pasted into the dashboard let such a page actuate a service."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    cookie = request.cookies.get("forecaster_key") if scope == "read" else None
    return cookie or None


async def authenticate(
    request: Request, database: DatabaseDep, settings: SettingsDep
) -> Principal | None:
    """Check the request's key against the scope its route needs; 401/403 with a reason.

    A key verified in the last second is trusted without another database read (so a revoked
    key is refused within a second); otherwise the check runs off the event loop.
    """
    if not settings.auth_enabled:
        return None
    scope = required_scope(request.method, request.url.path)
    if scope is None:
        return None
    presented = _bearer(request, scope)
    if presented is None:
        # only a write gets here with the cookie: _bearer takes it for reading
        cookie = request.cookies.get("forecaster_key")
        hint = " (the dashboard's cookie is taken for reading only)" if cookie else ""
        raise HTTPException(
            status_code=401,
            detail=f"this route needs an API key with scope {quoted(scope)}: "
            'send "Authorization: Bearer <key>" (create one with `forecaster keys create`)' + hint,
            headers={"WWW-Authenticate": "Bearer"},
        )
    principal = _recently_verified(database, presented)
    if principal is None:
        principal = await run_in_threadpool(_verify, database, presented)
    if principal is None:
        raise HTTPException(
            status_code=401,
            detail="API key is unknown or revoked",
            headers={"WWW-Authenticate": "Bearer"},
        )
    if not principal.allows(scope):
        raise HTTPException(
            status_code=403,
            detail=f"key {quoted(principal.name)} lacks scope {quoted(scope)} "
            f"(has {listing(sorted(principal.scopes))})",
        )
    request.state.principal = principal
    return principal


def _verify(database: Database, presented: str) -> Principal | None:
    """Check a key in the database, remember it, then note its use (at most once a minute).

    The key is remembered before the use is written: that write may wait for another writer
    (a training pass storing its results), and until the key is remembered every request
    carrying it would come here too.
    """
    with database.session() as session:
        principal = verify_key(session=session, presented=presented)
    if principal is None:
        return None
    _verified[(str(database.engine.url), hash_key(presented))] = (time.monotonic(), principal)
    if _due_for_touch(principal.key_id):
        with database.session() as session:
            touch_key(session=session, key_id=principal.key_id, when=utc_now())
    return principal


def _recently_verified(database: Database, presented: str) -> Principal | None:
    hit = _verified.get((str(database.engine.url), hash_key(presented)))
    if hit is not None and time.monotonic() - hit[0] < VERIFIED_TTL_SECONDS:
        return hit[1]
    return None


def _due_for_touch(key_id: int) -> bool:
    now = time.monotonic()
    if now - _last_touch.get(key_id, 0.0) < TOUCH_EVERY_SECONDS:
        return False
    _last_touch[key_id] = now
    return True


PrincipalDep = Annotated[Principal | None, Depends(authenticate)]
