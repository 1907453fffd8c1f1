"""JSON behind the dashboard: load history for display, forecast review, overview, service page.

Each route parses, calls ``forecaster.review`` and formats; the pages fetch these.
"""

from __future__ import annotations

from fastapi import APIRouter, Query

from api.deps import SessionDep, SettingsDep, row_id
from api.routes.services import ServiceName
from api.schemas import (
    ForecastReviewPublic,
    ForecastsPublic,
    ForecastSummaryPublic,
    HistoryPublic,
    Moment,
    OverviewPublic,
    ServiceDetailPublic,
    ServiceSummaryPublic,
)
from forecaster.review.accuracy import review_forecast, service_forecasts
from forecaster.review.detail import service_detail
from forecaster.review.history import DEFAULT_POINTS, MAX_POINTS, service_history
from forecaster.review.overview import summarize_services
from forecaster.timeutil import utc_now

router = APIRouter(tags=["dashboard"])

ForecastId = row_id("a forecast's")


@router.get("/v1/services/{name}/history", response_model=HistoryPublic)
def get_history(
    session: SessionDep,
    name: str = ServiceName,
    start: Moment | None = Query(default=None, description="default: a week before end"),
    end: Moment | None = Query(default=None, description="default: now"),
    points: int = Query(default=DEFAULT_POINTS, ge=10, le=MAX_POINTS, description="at most"),
) -> HistoryPublic:
    """The driving metric over a window, bucketed on the server: mean and max per bucket."""
    metric, history = service_history(
        session=session, name=name, start=start, end=end, points=points, now=utc_now()
    )
    return HistoryPublic(
        service=name,
        metric=metric,
        start=history.start,
        end=history.end,
        bucket_seconds=history.bucket_seconds,
        resolution_seconds=history.resolution_seconds,
        ts=history.ts,
        mean=history.mean,
        max=history.max,
    )


@router.get("/v1/services/{name}/forecasts", response_model=ForecastsPublic)
def get_forecasts(
    session: SessionDep,
    name: str = ServiceName,
    limit: int = Query(default=50, ge=1, le=500),
) -> ForecastsPublic:
    """The service's stored forecasts, newest first (without their points)."""
    rows = service_forecasts(session=session, name=name, limit=limit)
    data = [ForecastSummaryPublic.model_validate(row) for row in rows]
    return ForecastsPublic(data=data, count=len(data))


@router.get("/v1/forecasts/{forecast_id}", response_model=ForecastReviewPublic)
def get_forecast_review(session: SessionDep, forecast_id: int = ForecastId) -> ForecastReviewPublic:
    """One stored forecast with the actual load over its steps, and how often it was exceeded."""
    return ForecastReviewPublic.model_validate(
        review_forecast(session=session, forecast_id=forecast_id)
    )


@router.get("/v1/dashboard/overview", response_model=OverviewPublic)
def get_overview(session: SessionDep, settings: SettingsDep) -> OverviewPublic:
    """Every service: load now, forecast ahead, plan, champion, last actuation, warnings."""
    now = utc_now()
    max_age = settings.actuation_max_plan_age_seconds
    summaries = summarize_services(session=session, now=now, max_plan_age_seconds=max_age)
    data = [ServiceSummaryPublic.model_validate(summary) for summary in summaries]
    return OverviewPublic(generated_at=now, data=data, count=len(data))


@router.get("/v1/dashboard/services/{name}", response_model=ServiceDetailPublic)
def get_service_detail(
    session: SessionDep, settings: SettingsDep, name: str = ServiceName
) -> ServiceDetailPublic:
    """A service's page: summary, profile, plan with capacity and reasons, leaderboard, logs."""
    max_age = settings.actuation_max_plan_age_seconds
    return ServiceDetailPublic.model_validate(
        service_detail(session=session, name=name, now=utc_now(), max_plan_age_seconds=max_age)
    )
