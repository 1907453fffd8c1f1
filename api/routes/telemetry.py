"""``/metrics``: forecaster's own health in Prometheus text format (not the ingested metrics)."""

from __future__ import annotations

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from api.deps import SessionDep
from forecaster.storage.forecasts import newest_forecast_times
from forecaster.telemetry import FORECAST_AGE
from forecaster.timeutil import utc_now

router = APIRouter(tags=["health"])


@router.get("/metrics", response_class=Response)
def metrics(session: SessionDep) -> Response:
    """Prometheus metrics: ingest rate, job durations, actuation outcomes, forecast staleness."""
    now = utc_now()
    for service, created in newest_forecast_times(session=session).items():
        FORECAST_AGE.labels(service=service).set((now - created).total_seconds())
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
