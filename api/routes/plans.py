"""Read routes for the precomputed forecast and capacity plan of a service."""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import timedelta

from fastapi import APIRouter, Query
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from api.deps import DatabaseDep, SessionDep, SettingsDep
from api.refusals import refusals
from api.routes.services import ServiceName
from api.schemas import ForecastPointPublic, ForecastPublic, Moment, PlanPublic
from forecaster.actuators.window import disabled_note, too_old_note, too_old_reason
from forecaster.errors import InvalidInputError
from forecaster.storage.db import Database
from forecaster.storage.forecasts import forecast_frame
from forecaster.storage.orm import ModelRun
from forecaster.storage.plan_views import (
    current_plan_view,
    peek_current_plan_view,
    refresh_current_plans,
    service_disabled,
)
from forecaster.storage.services import get_service, profile_of
from forecaster.timeutil import (
    as_utc,
    parse_duration,
    refuse_bare_seconds_under_a_step,
    utc_now,
)
from forecaster.training.replan import stale_plan_note
from forecaster.training.service_data import driving_forecast_or_not_ready
from models.base import quantile_name

router = APIRouter(prefix="/v1/services", tags=["plans"])
log = logging.getLogger(__name__)
_rechecks: dict[str, asyncio.Task[None]] = {}  # one re-check in flight per database


def _recheck_in_background(database: Database) -> None:
    """Look up which plans are in force without making the current query wait for it."""
    key = str(database.engine.url)
    if key in _rechecks:
        return

    async def recheck() -> None:
        try:
            await run_in_threadpool(refresh_current_plans, database)
        except Exception:  # database trouble: the plans last seen serve until the stale limit
            log.warning("could not re-check the plans in force", exc_info=True)
        finally:
            _rechecks.pop(key, None)

    _rechecks[key] = asyncio.create_task(recheck())


@router.get("/{name}/forecast", response_model=ForecastPublic, responses=refusals(409))
def get_forecast(session: SessionDep, name: str = ServiceName) -> ForecastPublic:
    """The latest load forecast of the service's driving metric, with its quantiles."""
    service = get_service(session=session, name=name)
    forecast = driving_forecast_or_not_ready(
        session=session, service=service, profile=profile_of(service)
    )
    run = session.get_one(ModelRun, forecast.run_id)
    frame = forecast_frame(session=session, forecast_id=forecast.id)
    if forecast.risk_quantile is not None:  # the fifth quantile goes out as each point's risk
        frame = frame.rename(columns={quantile_name(forecast.risk_quantile): "risk"})
    return ForecastPublic(
        service=name,
        series_id=forecast.series_id,
        forecast_id=forecast.id,
        run_id=forecast.run_id,
        model=run.model,
        created_at=forecast.created_at,
        origin=forecast.origin,
        step_seconds=forecast.step_seconds,
        risk_quantile=forecast.risk_quantile,
        points=[
            ForecastPointPublic(ts=ts, **values)
            for ts, values in zip(
                frame.index.to_pydatetime(), frame.to_dict("records"), strict=True
            )
        ],
    )


@router.get("/{name}/plan", response_model=PlanPublic, responses=refusals(409))
async def get_plan(
    database: DatabaseDep,
    settings: SettingsDep,
    name: str = ServiceName,
    horizon: str = Query(default="24h", description="how far ahead, e.g. 6h, 90min, 2d"),
    start: Moment | None = Query(default=None, description="first step (default: now)"),
) -> Response:
    """The capacity plan in force: replica and GPU floors from ``start`` over ``horizon``."""
    try:
        horizon_seconds = parse_duration(horizon)
    except ValueError as error:
        raise InvalidInputError(f"horizon: {error}") from None
    if horizon_seconds > settings.max_horizon_hours * 3600:
        raise InvalidInputError(f"horizon is longer than {settings.max_horizon_hours:g}h")
    # async with caches: a hit costs no database read and no worker-thread hop
    view, due = peek_current_plan_view(database, name)
    if view is None:
        view = await run_in_threadpool(current_plan_view, database, name)
    elif due:
        _recheck_in_background(database)
    refuse_bare_seconds_under_a_step("horizon", horizon, view.step_seconds)
    now = utc_now()
    begin = as_utc(start) if start is not None else now
    # judged as the actuators judge it: a plan on data older than their limit is not pushed
    too_old = too_old_reason(
        plan_id=view.plan_id,
        generated_at=view.generated_at,
        data_until=view.data_until,
        now=now,
        max_age_seconds=settings.actuation_max_plan_age_seconds,
    )
    disabled = service_disabled(database, name)
    stale = view.ends_at <= now or too_old is not None or disabled
    note = None
    if disabled:  # as the actuators and the KEDA route read it: nothing holds this plan
        note = disabled_note(name)
    elif view.ends_at <= now:  # rare (a plan nobody renewed): one more read says why
        note = await run_in_threadpool(stale_plan_note, database, name, view.ends_at)
    elif too_old is not None:
        note = too_old_note(too_old)
    rows = view.window(begin, begin + timedelta(seconds=horizon_seconds))
    header = {
        "service": name,
        "plan_id": view.plan_id,
        "generated_at": view.generated_at.isoformat(),
        "forecast_id": view.forecast_id,
        "run_id": view.run_id,
        "model": view.model,
        "quantile": view.quantile,
        "step_seconds": view.step_seconds,
        "stale": stale,
        "note": note,
        "total_cost": view.window_cost(rows),
    }
    steps = view.window_json(rows)
    # the steps are encoded once per plan; a query only splices them in (hottest route)
    body = json.dumps(header, separators=(",", ":")).encode()[:-1] + b',"steps":' + steps + b"}"
    return Response(content=body, media_type="application/json")
