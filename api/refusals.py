"""The refusals each operation can give, written into the OpenAPI spec.

FastAPI documents a route's success and the 422 of request validation only; forecaster's own
answers (``api/errors.py``: 404 for an unknown service, 409 before a first training, 503 while
the database is away, ...) went undocumented, so a client generated from the spec knew nothing
of them. :func:`document_refusals` adds them from what each route reads (a path parameter, a
body, the database, a key) to what it declares with :func:`refusals`; the app factory calls
it on each router and :func:`document_message_details` once, which also declares the keys.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from api.auth import required_scope
from api.deps import get_body, get_database, get_decoded_body, get_one_file, get_session
from api.schemas import RefusalPublic

REASONS: dict[int, str] = {
    400: "the body cannot be read in its format (not snappy-compressed, a broken multipart"
    " form); a JSON body that cannot be parsed is a 422",
    401: "keys required (FORECASTER_AUTH_ENABLED): no API key, or an unknown or revoked one",
    403: "keys required (FORECASTER_AUTH_ENABLED): the key lacks the scope this route needs",
    404: "no such service (or event, exclusion, forecast)",
    409: "not ready (no samples, forecast or plan yet) or in use (a service deleted while it"
    " has autoscaler targets, a target another service already scales) or busy (a training"
    " of the service already going on, its job run named); the message says which and what"
    " to do",
    413: "the body, batch or simulation is larger than the limits",
    415: "a JSON body sent without a JSON Content-Type, or with a Content-Encoding not undone",
    429: "as many simulations as FORECASTER_SIMULATION_MAX_RUNNING are replaying: retry later",
    503: "the database is unavailable, nothing was stored: retry shortly (Retry-After); without"
    " Retry-After, an operator must act first (a schema not migrated, a read-only file, a full"
    " disk, damaged data): the message names the fix",
}
BODY_READERS = {get_body, get_decoded_body, get_one_file}
DATABASE_READERS = {get_session, get_database}


def refusals(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for refusals; a route passes those only it knows it gives (409,
    say) as its ``responses=``."""
    return {status: {"model": RefusalPublic, "description": REASONS[status]} for status in statuses}


def document_refusals(router: APIRouter) -> None:
    """Add to every operation of ``router`` the refusals its kind of route gives (idempotent:
    the routers are module-level and every app built in a process includes them)."""
    for route in router.routes:
        if isinstance(route, APIRoute):
            route.responses = refusals(*_generic_statuses(route)) | route.responses


def _generic_statuses(route: APIRoute) -> list[int]:
    calls = set(_own_calls(route.dependant))
    statuses = []
    if route.body_field is not None or calls & BODY_READERS:
        statuses += [400, 413]
    if route.body_field is not None:  # a JSON model: api.errors names a wrong Content-Type
        statuses.append(415)
    if any(required_scope(method, route.path) for method in route.methods or ()):
        statuses += [401, 403]
    if "{" in route.path and route.methods != {"PUT"}:  # PUT creates what it names
        statuses.append(404)
    if calls & DATABASE_READERS:
        statuses.append(503)
    return statuses


def _own_calls(dependant: Dependant) -> Iterator[Callable[..., Any]]:
    """Every dependency the route uses (the key check, middleware, is covered by 401/403)."""
    for dependency in dependant.dependencies:
        if dependency.call is not None:
            yield dependency.call
            yield from _own_calls(dependency)


def document_message_details(app: FastAPI) -> None:
    """A 422 is a list of field problems when the request's shape is wrong and a sentence when
    its meaning is (an unreadable horizon, an end before its start). FastAPI documents the list
    alone, so a client generated from the spec (and schemathesis' response check) rejected
    every sentence."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        fresh = app.openapi_schema is None
        spec = generate()  # FastAPI's, cached after the first call
        schemas = spec.get("components", {}).get("schemas", {})
        if fresh and "HTTPValidationError" in schemas:
            schemas["HTTPValidationError"]["properties"]["detail"] = MESSAGE_OR_PROBLEMS
        if fresh:
            declare_keys(spec)
        return spec

    app.openapi = openapi  # type: ignore[method-assign]


KEY_SCHEME = "apiKey"


def declare_keys(spec: dict[str, Any]) -> None:
    """Declare the bearer key and, on each operation that needs one, the scope it needs (the
    role names OpenAPI 3.1 allows for an HTTP scheme): without them Swagger UI had no
    Authorize button and a generated client sent no key, so every call it made was a 401."""
    spec.setdefault("components", {})["securitySchemes"] = {
        KEY_SCHEME: {
            "type": "http",
            "scheme": "bearer",
            "description": "an API key from `forecaster keys create`, when "
            "FORECASTER_AUTH_ENABLED; scopes: read, ingest, admin (admin implies the others)",
        }
    }
    for path, operations in spec.get("paths", {}).items():
        for method, operation in operations.items():
            scope = required_scope(method.upper(), path)
            if scope is not None:
                operation["security"] = [{KEY_SCHEME: [scope]}]


MESSAGE_OR_PROBLEMS: dict[str, Any] = {
    "title": "Detail",
    "description": "what is wrong: one sentence, or one problem per field that failed validation",
    "anyOf": [
        {"type": "string"},
        {"type": "array", "items": {"$ref": "#/components/schemas/ValidationError"}},
    ],
}
