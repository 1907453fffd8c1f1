"""Read routes for the precomputed forecast and capacity plan of a service."""

from __future__ import annotations

from datetime import datetime, timedelta

from fastapi import APIRouter, Query

from api.deps import SessionDep, SettingsDep
from api.routes.services import ServiceName
from api.schemas import ForecastPointPublic, ForecastPublic, PlanPublic, PlanStepPublic
from forecaster.errors import InvalidInputError, NotReadyError
from forecaster.storage.forecasts import forecast_frame, latest_forecast
from forecaster.storage.orm import Forecast, ModelRun
from forecaster.storage.plans import latest_plan, plan_end, plan_steps
from forecaster.storage.services import get_service, profile_of
from forecaster.timeutil import as_utc, parse_duration, utc_now
from forecaster.training.train import driving_series_id

router = APIRouter(prefix="/v1/services", tags=["plans"])


@router.get("/{name}/forecast", response_model=ForecastPublic)
def get_forecast(session: SessionDep, name: str = ServiceName) -> ForecastPublic:
    """The latest load forecast of the service's driving metric, with its quantiles."""
    service = get_service(session=session, name=name)
    series_id = driving_series_id(session=session, service=service, profile=profile_of(service))
    forecast = latest_forecast(session=session, series_id=series_id)
    if forecast is None:
        raise NotReadyError(f"service {name!r} has no forecast yet; train it first")
    run = session.get_one(ModelRun, forecast.run_id)
    frame = forecast_frame(session=session, forecast_id=forecast.id)
    return ForecastPublic(
        service=name,
        series_id=series_id,
        forecast_id=forecast.id,
        run_id=forecast.run_id,
        model=run.model,
        created_at=forecast.created_at,
        origin=forecast.origin,
        step_seconds=forecast.step_seconds,
        points=[
            ForecastPointPublic(ts=ts, p50=row.p50, p90=row.p90, p95=row.p95, p99=row.p99)
            for ts, row in zip(frame.index.to_pydatetime(), frame.itertuples(), strict=True)
        ],
    )


@router.get("/{name}/plan", response_model=PlanPublic)
def get_plan(
    session: SessionDep,
    settings: SettingsDep,
    name: str = ServiceName,
    horizon: str = Query(default="24h", description="how far ahead, e.g. 6h, 90min, 2d"),
    start: datetime | None = Query(default=None, description="first step (default: now)"),
) -> PlanPublic:
    """The capacity plan in force: replica and GPU floors from ``start`` over ``horizon``."""
    try:
        horizon_seconds = parse_duration(horizon)
    except ValueError as error:
        raise InvalidInputError(f"horizon: {error}") from None
    if horizon_seconds > settings.max_horizon_hours * 3600:
        raise InvalidInputError(f"horizon is longer than {settings.max_horizon_hours:g}h")
    service = get_service(session=session, name=name)
    plan = latest_plan(session=session, service_id=service.id)
    if plan is None:
        raise NotReadyError(f"service {name!r} has no plan yet; train it first")
    now = utc_now()
    begin = as_utc(start) if start is not None else now
    # the step in force at ``begin`` started up to one step earlier
    first = begin - timedelta(seconds=plan.step_seconds)
    steps = plan_steps(
        session=session,
        plan_id=plan.id,
        start=first,
        end=begin + timedelta(seconds=horizon_seconds),
    )
    steps = [step for step in steps if step.ts + timedelta(seconds=plan.step_seconds) > begin]
    forecast = session.get(Forecast, plan.forecast_id) if plan.forecast_id else None
    run = session.get(ModelRun, forecast.run_id) if forecast else None
    ends_at = plan_end(session=session, plan_id=plan.id)
    return PlanPublic(
        service=name,
        plan_id=plan.id,
        generated_at=plan.generated_at,
        forecast_id=plan.forecast_id,
        run_id=run.id if run else None,
        model=run.model if run else None,
        quantile=plan.quantile,
        step_seconds=plan.step_seconds,
        stale=ends_at is None or ends_at <= now,
        total_cost=plan.total_cost,
        steps=[
            PlanStepPublic(
                ts=step.ts,
                replicas=step.replicas,
                gpus=step.gpus,
                load=step.load,
                tier=step.tier,
                cost_per_hour=step.cost_per_hour,
                reason=step.reason,
            )
            for step in steps
        ],
    )
