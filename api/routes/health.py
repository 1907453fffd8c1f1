"""Liveness and readiness probes for Kubernetes and load balancers."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy import text

from api.deps import DatabaseDep

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """The process is alive."""
    return {"status": "ok"}


@router.get("/readyz", response_model=None)
def readyz(database: DatabaseDep) -> JSONResponse:
    """The database answers and its schema is at the newest migration."""
    try:
        with database.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        problem = database.schema_problem()
    except Exception as error:  # noqa: BLE001 - any failure here means not ready
        return JSONResponse({"status": "unavailable", "reason": str(error)[:200]}, status_code=503)
    if problem is not None:
        status, reason = problem
        return JSONResponse({"status": status, "reason": reason}, status_code=503)
    return JSONResponse({"status": "ok"})
