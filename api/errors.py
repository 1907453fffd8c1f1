"""Map forecaster's deliberate errors to HTTP answers: a clear 4xx, never a 500."""

from __future__ import annotations

import math
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import OperationalError

from forecaster.errors import (
    ForecasterError,
    InvalidInputError,
    NotFoundError,
    NotReadyError,
    PayloadTooLargeError,
)

STATUS_BY_ERROR: dict[type[ForecasterError], int] = {
    InvalidInputError: 422,
    NotFoundError: 404,
    NotReadyError: 409,
    PayloadTooLargeError: 413,
}


async def _forecaster_error(_request: Request, error: Exception) -> JSONResponse:
    status = next((code for kind, code in STATUS_BY_ERROR.items() if isinstance(error, kind)), 400)
    return JSONResponse({"detail": str(error)}, status_code=status)


async def _database_unavailable(_request: Request, _error: Exception) -> JSONResponse:
    # the database went away (restart, failover): the client should retry; nothing was stored
    return JSONResponse(
        {"detail": "database unavailable, nothing was stored; retry shortly"},
        status_code=503,
        headers={"Retry-After": "1"},
    )


async def _validation_error(_request: Request, error: Exception) -> JSONResponse:
    # FastAPI's own handler echoes the bad input back, and a NaN or Infinity in it (JSON bodies
    # may carry them) cannot be written as strict JSON: that became a 500
    assert isinstance(error, RequestValidationError)
    return JSONResponse({"detail": _finite(jsonable_encoder(error.errors()))}, status_code=422)


def _finite(value: Any) -> Any:
    """``value`` with every non-finite float written as text (``"nan"``, ``"inf"``)."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(item) for item in value]
    return value


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(ForecasterError, _forecaster_error)
    app.add_exception_handler(OperationalError, _database_unavailable)
