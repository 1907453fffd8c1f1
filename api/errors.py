"""Map forecaster's deliberate errors to HTTP answers: a clear 4xx, never a 500."""

from __future__ import annotations

import json
import logging
import math
from html import escape
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from sqlalchemy.exc import DataError
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect

from api.content_type import as_sent, is_json, media_type
from api.middleware import BodyTooLargeError
from forecaster.errors import (
    AlreadyRunningError,
    CandidatesFailedError,
    ForecasterError,
    InUseError,
    InvalidInputError,
    NotFoundError,
    NotReadyError,
    PayloadTooLargeError,
    listing,
    utf8_writable,
)
from forecaster.storage.failures import DATABASE_ERRORS, classify

log = logging.getLogger("forecaster.api")

STATUS_BY_ERROR: dict[type[ForecasterError], int] = {
    AlreadyRunningError: 409,
    CandidatesFailedError: 503,
    InUseError: 409,
    InvalidInputError: 422,
    NotFoundError: 404,
    NotReadyError: 409,
    PayloadTooLargeError: 413,
}


async def _forecaster_error(_request: Request, error: Exception) -> JSONResponse:
    status = next((code for kind, code in STATUS_BY_ERROR.items() if isinstance(error, kind)), 400)
    return JSONResponse({"detail": str(error)}, status_code=status)


async def database_unavailable(request: Request, error: Exception) -> JSONResponse:
    """503 for a database that failed under a request, in the driver's words, logged. A
    failure that passes (a restart, a failover, a lock, a pool all busy) says to retry, with
    Retry-After; one only an operator can mend (a schema not migrated, a read-only or damaged
    file: ``classify``) names the fix and has no Retry-After, and is logged as an error: every
    such write was answered "retry shortly", and clients retried for ever what no retry could
    store."""
    failure = classify(error)
    if failure is None:  # a mistake in our own SQL or a rule broken, not the database: a 500
        raise error
    where = f"{request.method} {request.url.path}"
    stored = "" if request.method in ("GET", "HEAD") else ", nothing was stored"
    if failure.passes:
        log.warning("database unavailable on %s: %s", where, failure.reason)
        return JSONResponse(
            {"detail": f"database unavailable ({failure.reason}){stored}; retry shortly"},
            status_code=503,
            headers={"Retry-After": "1"},
        )
    log.error("database unusable on %s: %s; %s", where, failure.reason, failure.fix)
    return JSONResponse(
        {"detail": f"database unusable ({failure.reason}){stored}; {failure.fix}"},
        status_code=503,
    )


async def _value_not_storable(_request: Request, error: Exception) -> JSONResponse:
    # last resort for a value request validation let through and the database refused (a NUL
    # in text on PostgreSQL, a number out of a column's range): the session dependency has
    # rolled the transaction back, so the request is refused whole
    assert isinstance(error, DataError)
    reason = str(error.orig).splitlines()[0] if error.orig is not None else "invalid value"
    detail = f"the database cannot store a value of this request: {reason}; nothing was stored"
    return JSONResponse({"detail": detail}, status_code=422)


# an echoed input longer than this (as Python writes it) is cut to its start
MAX_ECHO_CHARS = 500


async def _validation_error(request: Request, error: Exception) -> JSONResponse:
    # FastAPI's own handler echoes the bad input back, and a NaN or Infinity in it (JSON bodies
    # may carry them) cannot be written as strict JSON, nor half of a surrogate pair ("\ud800")
    # as UTF-8: each became a 500
    assert isinstance(error, RequestValidationError)
    if isinstance(error.__cause__, json.JSONDecodeError):  # FastAPI's list said "JSON decode error"
        return not_json(error.__cause__)
    media = media_type(request.headers.get("content-type"))
    unread = any(  # a body sent but not read as JSON (none at all is "missing", as before)
        tuple(problem.get("loc", ())) == ("body",) and problem.get("type") != "missing"
        for problem in error.errors()
    )
    if unread and request.method in ("POST", "PUT") and not is_json(media):
        # FastAPI reads a body as JSON only under a JSON Content-Type; otherwise it said
        # "Input should be a valid dictionary", echoing the very JSON it did not read
        sent = as_sent(media)
        detail = (
            f"send the body as JSON with Content-Type: application/json; the request has {sent}"
        )
        return JSONResponse({"detail": detail}, status_code=415)
    problems = [_short_echo(problem) for problem in error.errors()]
    return JSONResponse({"detail": _writable(jsonable_encoder(problems))}, status_code=422)


def not_json(cause: BaseException) -> JSONResponse:
    """The answer to a JSON body that cannot be parsed, on every route that takes one: a 422
    saying why, worded as ``POST /v1/metrics`` words it. FastAPI answered a syntax error 422 but
    a body not UTF-8 or nested too deeply 400, and /v1/metrics answered all three 422 (QA).
    A body refused by our own check (``utf8_json``, UTF-16 say) is worded in full already."""
    if isinstance(cause, InvalidInputError):
        return JSONResponse({"detail": str(cause)}, status_code=422)
    reason = (
        str(cause)
        if isinstance(cause, json.JSONDecodeError)
        else f"{type(cause).__name__}: {cause}"
    )
    return JSONResponse({"detail": f"body is not valid JSON: {reason}"[:300]}, status_code=422)


def _short_echo(problem: dict[str, Any]) -> dict[str, Any]:
    """``problem`` with a long ``input`` cut to its start: a check on the whole body (points and
    service both given to a simulation) echoed all of it, 3 MB for 190,000 points, to say one
    line. ``repr`` measures it at C speed; what is cut is text, so it is written as is."""
    if "input" not in problem:
        return problem
    text = repr(problem["input"])
    if len(text) <= MAX_ECHO_CHARS:
        return problem
    return {**problem, "input": f"{text[:MAX_ECHO_CHARS]}... ({len(text):,} characters)"}


def _writable(value: Any) -> Any:
    """``value`` with every non-finite float written as text (``"nan"``, ``"inf"``) and every
    lone surrogate as its escape (``"\\ud800"``)."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, str):
        return utf8_writable(value)
    if isinstance(value, dict):
        return {_writable(key): _writable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_writable(item) for item in value]
    return value


async def _http_error(request: Request, error: Exception) -> Response:
    # FastAPI answers a body it cannot decode (invalid UTF-8, nesting too deep) with a bare
    # "There was an error parsing the body"; the cause it chains says what is wrong
    assert isinstance(error, HTTPException)
    cause = error.__cause__
    if isinstance(cause, BodyTooLargeError):  # FastAPI read the body for a model: the
        raise cause  # size limit's middleware answers 413, as on the routes that read it raw
    encoding = request.headers.get("content-encoding", "identity").strip().lower()
    if error.status_code == 400 and encoding not in ("", "identity"):
        # only the ingest routes undo a Content-Encoding: here a gzip body read as it came
        # failed as "UnicodeDecodeError ... 0x8b"
        detail = f"Content-Encoding {encoding} is not supported on this route; send the body plain"
        return JSONResponse({"detail": detail}, status_code=415)
    if error.status_code == 400 and cause is not None:  # not UTF-8, nested too deeply
        return not_json(cause)
    if error.status_code == 404 and _wants_a_page(request):
        return _missing_page(request.url.path)
    if error.status_code == 405:
        allowed = _allowed_methods(request)
        error.headers = {"Allow": ", ".join(allowed)}
        method = "HEAD" if request.scope.get("head") else request.method
        error.detail = f"{method} is not served at this path; it takes {listing(allowed)}"
    return await http_exception_handler(request, error)


def _wants_a_page(request: Request) -> bool:
    """A person's browser asking for a dashboard address: it should read a page, not JSON."""
    accept = request.headers.get("accept", "")
    return request.url.path.startswith("/dashboard/") and "text/html" in accept


def _missing_page(path: str) -> HTMLResponse:
    """A 404 a person can act on: which address has no page, and the way back."""
    body = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>forecaster · no such page</title>
<link rel="stylesheet" href="/dashboard/static/dashboard.css"></head>
<body><main><p>There is no dashboard page at <code>{escape(path)}</code>.
<a href="/dashboard">The overview</a> lists every service.</p></main></body></html>"""
    return HTMLResponse(body, status_code=404)


def _allowed_methods(request: Request) -> list[str]:
    """Every method some route serves at this path. Starlette's 405 names only the first route
    it tried, so a path served by GET and PUT routes answered an OPTIONS with ``Allow: PUT``."""
    path = request.url.path
    methods = {
        method
        for route in request.app.state.api_routes
        if route.path_regex.match(path)
        for method in route.methods or ()
    }
    return sorted(methods | {"HEAD"} if "GET" in methods else methods)


async def _client_gone(request: Request, _error: Exception) -> Response:
    # the client hung up while sending its body (a CSV upload cut short): nothing was stored
    # and nobody waits for the answer; it was logged as an unhandled error and a 500
    log.info("client left during %s %s; nothing was stored", request.method, request.url.path)
    return Response(status_code=400)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ClientDisconnect, _client_gone)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(ForecasterError, _forecaster_error)
    for database_error in DATABASE_ERRORS:  # PostgreSQL's missing table is a programming one
        app.add_exception_handler(database_error, database_unavailable)
    app.add_exception_handler(DataError, _value_not_storable)
