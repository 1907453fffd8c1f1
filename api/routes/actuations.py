"""Actuation routes: the audit trail of a service's pushes, and on-demand (dry) runs."""

from __future__ import annotations

from fastapi import APIRouter, Query

from api.deps import DatabaseDep, SessionDep, SettingsDep
from api.routes.services import ServiceName
from api.schemas import ActuationPublic, ActuationRunPublic, ActuationsPublic
from forecaster.actuators.run import actuate_service
from forecaster.storage.actuations import list_actuations
from forecaster.storage.services import get_service

router = APIRouter(prefix="/v1/services", tags=["actuations"])


@router.get("/{name}/actuations", response_model=ActuationsPublic)
def get_actuations(
    session: SessionDep,
    name: str = ServiceName,
    limit: int = Query(default=100, ge=1, le=1000),
    outcome: str | None = Query(default=None, pattern=r"^(applied|unchanged|restored|failed)$"),
) -> ActuationsPublic:
    """Recent pushes of the service's plans to its targets, newest first."""
    service = get_service(session=session, name=name)
    rows = list_actuations(session=session, service_id=service.id, limit=limit, outcome=outcome)
    return ActuationsPublic(data=[ActuationPublic.model_validate(r) for r in rows], count=len(rows))


@router.post("/{name}/actuate", response_model=ActuationRunPublic)
def post_actuate(
    database: DatabaseDep,
    settings: SettingsDep,
    name: str = ServiceName,
    dry_run: bool = Query(default=False, description="show what would change, write nothing"),
) -> ActuationRunPublic:
    """Push the service's plan to its targets now (a dry run previews even forecast-only ones)."""
    done = actuate_service(database, name, settings, dry_run=dry_run, actor="api")
    data = [ActuationPublic.model_validate(r) for r in done.records]
    return ActuationRunPublic(
        service=name, dry_run=dry_run, window=done.window.summary(), data=data, count=len(data)
    )
