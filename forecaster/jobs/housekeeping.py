"""Housekeeping: drop old records that only say a routine job ran, and old forecasts and plans.

Job runs (``GET /v1/jobs``) and "unchanged" actuation records pile up with the schedules (a
minutely pull, a five-minute actuation); past ``retention_records_days`` they are deleted.
Actuations that changed, restored or failed stay: they are the audit trail. Forecasts, plans
(every 15-minute refresh writes one of each, a horizon of steps apiece) and model runs (with
their fitted models) go past ``retention_forecast_days``, except what is still in use: each
service's plan in force, its newest forecast and its champion with the rest of its training.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select

from forecaster.leadership import check_leading
from forecaster.settings import Settings
from forecaster.storage.actuations import prune_unchanged_actuations
from forecaster.storage.db import Database
from forecaster.storage.forecasts import prune_forecasts, prune_model_runs
from forecaster.storage.jobs import prune_job_runs, recorded_job
from forecaster.storage.orm import Service
from forecaster.storage.plans import prune_plans
from forecaster.storage.services import series_ids_of
from forecaster.timeutil import utc_now

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Pruned:
    job_runs: int
    unchanged_actuations: int
    plans: int = 0
    forecasts: int = 0
    model_runs: int = 0


def prune_records(database: Database, settings: Settings) -> Pruned:
    """Delete job runs and unchanged actuations older than ``retention_records_days`` (one
    transaction), then each service's forecasts, plans and model runs older than
    ``retention_forecast_days`` (one transaction per service, so the first pass after months
    holds no lock for long); recorded as a ``prune`` job run (which is itself kept)."""
    now = utc_now()
    before = now - timedelta(days=settings.retention_records_days)
    with recorded_job(database.sessions, "prune") as details:
        with database.session() as session:
            job_runs = prune_job_runs(session=session, before=before)
            unchanged = prune_unchanged_actuations(session=session, before=before)
        plans = forecasts = model_runs = 0
        outputs_before = now - timedelta(days=settings.retention_forecast_days)
        with database.session() as session:
            services = list(session.execute(select(Service.id)).scalars())
        for done, service_id in enumerate(services):
            check_leading(done, len(services))
            with database.session() as session:
                series_ids = series_ids_of(session=session, service_id=service_id)
                plans += prune_plans(session=session, service_id=service_id, before=outputs_before)
                if series_ids:
                    forecasts += prune_forecasts(
                        session=session, series_ids=series_ids, before=outputs_before
                    )
                    model_runs += prune_model_runs(
                        session=session, series_ids=series_ids, before=outputs_before
                    )
        pruned = Pruned(job_runs, unchanged, plans, forecasts, model_runs)
        details.update(
            job_runs=job_runs,
            unchanged_actuations=unchanged,
            plans=plans,
            forecasts=forecasts,
            model_runs=model_runs,
        )
    log.info("pruned %s", pruned)
    return pruned
