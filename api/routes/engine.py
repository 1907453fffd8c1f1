"""Forecasting-engine routes of a service: declared events, excluded windows, and the model
leaderboard of its latest training. Handlers parse, call ``forecaster.storage``, and format."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response
from pydantic import BaseModel

from api.deps import SessionDep, row_id
from api.json_route import Utf8JsonRoute
from api.routes.services import ServiceName
from api.schemas import (
    EventCreate,
    EventPublic,
    EventsPublic,
    ExclusionCreate,
    ExclusionPublic,
    ExclusionsPublic,
    ModelRunPublic,
    ModelRunsPublic,
)
from forecaster.storage.calendar import (
    add_event,
    add_exclusion,
    delete_event,
    delete_exclusion,
    list_events,
    list_exclusions,
)
from forecaster.storage.orm import ModelRun
from forecaster.storage.services import get_service, profile_of
from forecaster.training.service_data import driving_training_runs

router = APIRouter(prefix="/v1/services", tags=["forecasting"], route_class=Utf8JsonRoute)


def _declaring(model: type[BaseModel], again: str) -> dict[str, Any]:
    """A declaring POST's route options: 201 for a new row, 200 when the same window again
    updated the stored one (``again`` says how)."""
    return {
        "response_model": model,
        "status_code": 201,
        "responses": {200: {"model": model, "description": again}},
    }


@router.post("/{name}/events", **_declaring(EventPublic, "the same event again: updated"))
def post_event(
    body: EventCreate, session: SessionDep, response: Response, name: str = ServiceName
) -> EventPublic:
    """Declare an event; the next training uses it (multiplier or learned regressor). The same
    name and window again is the same event (200, its multiplier replaced): a retry never
    doubles it."""
    service = get_service(session=session, name=name)
    event, created = add_event(session=session, service_id=service.id, **body.model_dump())
    response.status_code = 201 if created else 200
    return EventPublic.model_validate(event, from_attributes=True)


@router.get("/{name}/events", response_model=EventsPublic)
def get_events(session: SessionDep, name: str = ServiceName) -> EventsPublic:
    """The service's declared events, by start time."""
    service = get_service(session=session, name=name)
    events = [
        EventPublic.model_validate(event, from_attributes=True)
        for event in list_events(session=session, service_id=service.id)
    ]
    return EventsPublic(data=events, count=len(events))


@router.delete("/{name}/events/{event_id}", status_code=204)
def remove_event(
    session: SessionDep, name: str = ServiceName, event_id: int = row_id("the event's")
) -> Response:
    """Delete one declared event."""
    service = get_service(session=session, name=name)
    delete_event(session=session, service_id=service.id, event_id=event_id)
    return Response(status_code=204)


@router.post("/{name}/exclusions", **_declaring(ExclusionPublic, "the same window again: updated"))
def post_exclusion(
    body: ExclusionCreate, session: SessionDep, response: Response, name: str = ServiceName
) -> ExclusionPublic:
    """Exclude a window (incident, outage) from training; the same window again is the same
    exclusion (200, its reason replaced)."""
    service = get_service(session=session, name=name)
    exclusion, created = add_exclusion(session=session, service_id=service.id, **body.model_dump())
    response.status_code = 201 if created else 200
    return ExclusionPublic.model_validate(exclusion, from_attributes=True)


@router.get("/{name}/exclusions", response_model=ExclusionsPublic)
def get_exclusions(session: SessionDep, name: str = ServiceName) -> ExclusionsPublic:
    """The service's excluded windows, by start time."""
    service = get_service(session=session, name=name)
    exclusions = [
        ExclusionPublic.model_validate(exclusion, from_attributes=True)
        for exclusion in list_exclusions(session=session, service_id=service.id)
    ]
    return ExclusionsPublic(data=exclusions, count=len(exclusions))


@router.delete("/{name}/exclusions/{exclusion_id}", status_code=204)
def remove_exclusion(
    session: SessionDep, name: str = ServiceName, exclusion_id: int = row_id("the exclusion's")
) -> Response:
    """Delete one excluded window."""
    service = get_service(session=session, name=name)
    delete_exclusion(session=session, service_id=service.id, exclusion_id=exclusion_id)
    return Response(status_code=204)


def run_public(run: ModelRun) -> ModelRunPublic:
    scores = run.scores or {}
    return ModelRunPublic(
        id=run.id,
        model=run.model,
        status=run.status,
        champion=run.is_champion,
        mase=scores.get("mase"),
        pinball=scores.get("pinball") or {},
        coverage=scores.get("coverage") or {},
        fit_seconds=run.fit_seconds,
        message=run.message,
        members=scores.get("members") or [],
        train_start=run.train_start,
        train_end=run.train_end,
        created_at=run.created_at,
    )


@router.get("/{name}/runs", response_model=ModelRunsPublic)
def get_runs(session: SessionDep, name: str = ServiceName) -> ModelRunsPublic:
    """Leaderboard of the latest training: every candidate's backtest scores, champion first."""
    service = get_service(session=session, name=name)
    series_id, found = driving_training_runs(
        session=session, service=service, profile=profile_of(service)
    )
    runs = [run_public(run) for run in found]
    return ModelRunsPublic(service=name, series_id=series_id, data=runs, count=len(runs))
