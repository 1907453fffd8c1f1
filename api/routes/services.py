"""Service routes: scaling profiles, and on-demand training."""

from __future__ import annotations

from fastapi import APIRouter, Path, Response

from api.deps import DatabaseDep, SessionDep, SettingsDep
from api.json_route import Utf8JsonRoute
from api.refusals import refusals
from api.schemas import PlanChange, ServiceCreate, ServicePublic, ServicesPublic, TrainPublic
from forecaster.errors import NotReadyError
from forecaster.jobs.tasks import train_on_demand
from forecaster.profiles import ScalingProfile
from forecaster.storage.orm import Service
from forecaster.storage.plan_views import forget_current_plan
from forecaster.storage.services import (
    SERVICE_NAME_MAX_LENGTH,
    SERVICE_NAME_PATTERN,
    DamagedRow,
    delete_service,
    get_service,
    profile_of,
    read_services,
    upsert_service,
)
from forecaster.training.replan import replan_after_store

router = APIRouter(prefix="/v1/services", tags=["services"], route_class=Utf8JsonRoute)

ServiceName = Path(min_length=1, max_length=SERVICE_NAME_MAX_LENGTH, pattern=SERVICE_NAME_PATTERN)


def to_public(service: Service) -> ServicePublic:
    """A service as the API shows it; one whose stored profile no longer validates is shown
    with the problem, so it neither hides the others from a listing nor its own name."""
    profile, problem = None, None
    try:
        profile = profile_of(service)
    except NotReadyError as error:
        problem = str(error)
    return ServicePublic(
        name=service.name,
        enabled=service.enabled,
        profile=profile,
        problem=problem,
        created_at=service.created_at,
        updated_at=service.updated_at,
    )


@router.put(
    "/{name}",
    response_model=ServicePublic,
    responses={201: {"model": ServicePublic, "description": "created"}, **refusals(409)},
)
def put_service(
    body: ServiceCreate,
    session: SessionDep,
    database: DatabaseDep,
    response: Response,
    name: str = ServiceName,
) -> ServicePublic:
    """Create or replace a service's scaling profile; a changed profile is re-planned at once
    from the latest forecast, so actuators never push a plan sized for the old one."""
    profile = ScalingProfile.model_validate(body.model_dump(exclude={"enabled"}))
    service, replaced = upsert_service(
        session=session, name=name, profile=profile, enabled=body.enabled
    )
    response.status_code = 201 if replaced is None else 200
    public = to_public(service)
    changed = replan_after_store(
        session=session, service=service, profile=profile, replaced=replaced
    )
    if changed is not None:
        public.plan_change = PlanChange(plan_id=changed[0], message=changed[1])
    # before the plan query's cache forgets: it must read this plan, and whether it is enabled
    session.commit()
    forget_current_plan(database, name)
    return public


def damaged_public(name: str, row: DamagedRow) -> ServicePublic:
    """A service whose stored row is damaged, shown with what mends it: one such row had
    turned the whole listing into a 503."""
    return ServicePublic(
        name=name,
        enabled=row.enabled,
        profile=None,
        problem=str(row.failure),
        created_at=None,
        updated_at=None,
    )


@router.get("", response_model=ServicesPublic)
def get_services(session: SessionDep) -> ServicesPublic:
    """List every service and its profile."""
    read = read_services(session=session)
    services = [to_public(service) for service in read.loaded]
    if read.damaged:
        services += [damaged_public(name, row) for name, row in read.damaged.items()]
        services.sort(key=lambda service: service.name)
    return ServicesPublic(data=services, count=len(services))


@router.get("/{name}", response_model=ServicePublic)
def get_one_service(session: SessionDep, name: str = ServiceName) -> ServicePublic:
    """One service and its profile."""
    return to_public(get_service(session=session, name=name))


@router.delete("/{name}", status_code=204, responses=refusals(409))
def delete_one_service(session: SessionDep, database: DatabaseDep, name: str = ServiceName) -> None:
    """Delete a service and everything stored for it (samples, forecasts, plans, records).
    409 while it has autoscaler targets: drop them first, so their baselines are restored."""
    delete_service(session=session, name=name)
    session.commit()
    forget_current_plan(database, name)


@router.post("/{name}/train", response_model=TrainPublic, responses=refusals(409))
def post_train(
    database: DatabaseDep, settings: SettingsDep, name: str = ServiceName
) -> TrainPublic:
    """Train the service's forecaster now, then forecast and plan (normally a scheduled job)."""
    result = train_on_demand(database, name, settings)
    forget_current_plan(database, name)
    return TrainPublic(**result.__dict__)
