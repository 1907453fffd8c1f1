"""Bearer-key authentication for every route, with the scope decided by what the route does.

Installed once as ASGI middleware, so new routers are protected without opting in: ingestion
paths need ``ingest``, other reads need ``read``, anything that changes state needs ``admin``
(which implies the others). Health probes, the service's own /metrics and the OpenAPI pages
are open.

Middleware, not a dependency: FastAPI reads and parses a route's body before it runs the
route's dependencies, so a request with no key still had its body parsed before its 401 (a
32 MB JSON array took 8-10 s and ~800 MB of the API's memory; found by a security review).
"""

from __future__ import annotations

import time

from fastapi import HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from api.errors import database_unavailable
from forecaster.errors import listing, quoted
from forecaster.security.api_keys import Principal, hash_key, touch_key, verify_key
from forecaster.settings import Settings
from forecaster.storage.db import Database
from forecaster.storage.failures import DATABASE_ERRORS
from forecaster.timeutil import utc_now

OPEN_PATHS = frozenset(
    {"/healthz", "/readyz", "/metrics", "/favicon.ico"}
    | {"/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"}  # what the API is, no data
)
# page shells and assets carry no data; the JSON they fetch needs a read key
OPEN_PREFIXES = ("/static/", "/dashboard/")  # every page under /dashboard/, or its 404 page
INGEST_PATHS = ("/v1/metrics", "/api/v1/write")
READ_ONLY_POSTS = ("/v1/simulations",)  # what-if computations change nothing
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
TOUCH_EVERY_SECONDS = 60.0
VERIFIED_TTL_SECONDS = 1.0

_last_touch: dict[int, float] = {}
_verified: dict[tuple[str, str], tuple[float, Principal]] = {}


def required_scope(method: str, path: str) -> str | None:
    """The scope a request needs, or None for open paths."""
    bare = path.rstrip("/") or "/"  # "/docs/" is redirected to "/docs", which is open
    if bare in OPEN_PATHS or path.startswith(OPEN_PREFIXES) or bare in ("/", "/dashboard"):
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


class KeyCheckMiddleware:
    """Refuse a request whose key does not allow its route (401/403) before its body is read."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            refusal = await _refusal(Request(scope))
            if refusal is not None:
                await refusal(scope, receive, send)
                return
        await self.app(scope, receive, send)


async def _refusal(request: Request) -> Response | None:
    """The answer refusing this request, or None to serve it."""
    try:
        await authenticate(request, request.app.state.database, request.app.state.settings)
    except HTTPException as refused:
        return JSONResponse(
            {"detail": refused.detail}, status_code=refused.status_code, headers=refused.headers
        )
    except DATABASE_ERRORS as error:  # the keys' table is unreadable: as
        return await database_unavailable(request, error)  # on any route, retry or the fix
    return None


async def authenticate(
    request: Request, database: Database, settings: Settings
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
