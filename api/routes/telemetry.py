"""``/metrics``: forecaster's own health in Prometheus text format (not the ingested metrics);
``/v1/plans/metrics``: what each service's plan in force says for now, behind a read key."""

from __future__ import annotations

import logging
from datetime import datetime

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST

from api.deps import DatabaseDep, SessionDep, SettingsDep
from forecaster.review.overview import ALERTED_JOBS, failed_jobs
from forecaster.storage.failures import DATABASE_ERRORS, classify
from forecaster.storage.forecasts import newest_forecast_times
from forecaster.storage.plans import steps_in_force
from forecaster.storage.services import enabled_service_names, forecast_only, read_services
from forecaster.telemetry import forecast_age_exposition, own_metrics, plans_exposition
from forecaster.timeutil import utc_now

router = APIRouter(tags=["health"])
log = logging.getLogger(__name__)


# each enabled service's newest forecast as last read: through a database outage the ages
# go on growing from it, as the forecasts themselves age
_newest_forecasts: dict[str, datetime] = {}


@router.get("/metrics", response_class=Response)
def metrics(database: DatabaseDep) -> Response:
    """Prometheus metrics: ingest rate, job durations, actuation outcomes, forecast staleness.

    A database outage is when these matter most, so the process's own figures are served
    through it, and the forecast ages grow from the newest forecasts last read. A disabled
    service is left out: nothing refreshes its forecast, and its age would alert for ever."""
    global _newest_forecasts
    try:
        with database.session() as session:
            newest = newest_forecast_times(session=session)
            # by name alone: a damaged profile (a row changed by hand) froze every age
            enabled = set(enabled_service_names(session=session))
        _newest_forecasts = {name: made for name, made in newest.items() if name in enabled}
    except DATABASE_ERRORS as error:
        if (failure := classify(error)) is None:
            raise
        if failure.passes:
            log.warning(
                "/metrics: database unavailable (%s); forecast ages grow from the last read",
                failure.reason,
            )
        else:
            log.error("/metrics: database unusable (%s); %s", failure.reason, failure.fix)
    now = utc_now()
    ages = {name: now - made for name, made in _newest_forecasts.items()}
    return Response(own_metrics() + forecast_age_exposition(ages), media_type=CONTENT_TYPE_LATEST)


@router.get("/v1/plans/metrics", response_class=Response)
def plans_metrics(session: SessionDep, settings: SettingsDep) -> Response:
    """Each service's plan in force, for Prometheus: the replica and GPU floor it sets now and
    the forecast it covers by quantile (services without a step in force now are absent), and
    for every enabled service whether a plan is in force at all (as the actuators judge it: not
    on data older than the actuation age limit; a forecast-only service is left out of that
    gauge, its plan only shown) and whether its latest training, refresh and actuation
    failed. A disabled service is absent: nothing plans or pushes for it, by choice. Behind a
    key, as the plans themselves are: scrape it with a `read` key."""
    now = utc_now()
    max_age = settings.actuation_max_plan_age_seconds
    steps = steps_in_force(session=session, now=now, max_age_seconds=max_age)
    # a disabled service is left out: nothing plans or pushes for it, by choice. A damaged row
    # hides no other (it was a 503 for all): its failing runs say why, and whether a plan of
    # it is in force is left unsaid, as nothing pushes one until it is mended
    read = read_services(session=session)
    enabled = [service for service in read.loaded if service.enabled]
    damaged = [name for name, row in read.damaged.items() if row.enabled]
    failing = {
        service: {run.job for run in runs}
        for service, runs in failed_jobs(session=session, now=now, jobs=ALERTED_JOBS).items()
    }
    exposition = plans_exposition(
        steps,
        sorted([service.name for service in enabled] + damaged),
        failing,
        ALERTED_JOBS,
        shown_only={service.name for service in enabled if forecast_only(service)} | set(damaged),
    )
    return Response(exposition, media_type=CONTENT_TYPE_LATEST)
