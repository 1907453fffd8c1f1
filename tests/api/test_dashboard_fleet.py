"""The overview of a fleet larger than one query's worth of terms: SQLite refuses an ``OR`` of
1,000 terms (its expression depth limit), so an overview reading 1,100 services in single
queries answered 500.

The fleet is written straight into the tables (no training): each service has a label set with
samples, a champion's forecast covering now, and a plan, so every bulk read is reached.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import httpx
from sqlalchemy import insert

from api.app import create_app
from forecaster.profiles import ScalingProfile
from forecaster.settings import Settings
from forecaster.storage.db import Database
from forecaster.storage.orm import (
    Forecast,
    ForecastPoint,
    ModelRun,
    Plan,
    PlanStep,
    Sample,
    Series,
    Service,
)
from forecaster.timeutil import utc_now
from tests.helpers import live_server

FLEET = 1_100
STEP = 300
PROFILE = ScalingProfile.model_validate({"capacity_per_replica": 10, "step_seconds": STEP})


def _seed_fleet(database: Database, now: datetime) -> None:
    """``FLEET`` services (ids 1...) with samples over the last hour, a forecast and a plan."""
    base = now.replace(second=0, microsecond=0) - timedelta(minutes=now.minute % 5)
    steps = [base + timedelta(seconds=STEP * k) for k in range(-12, 12)]
    ids = range(1, FLEET + 1)
    profile = PROFILE.model_dump(mode="json")
    with database.session() as session:
        for table, rows in [
            (Service, [{"id": i, "name": f"svc-{i}", "profile": profile} for i in ids]),
            (Series, [{"id": i, "service_id": i, "metric": PROFILE.metric} for i in ids]),
            (
                Sample,
                [
                    {"series_id": i, "ts_ms": int(ts.timestamp() * 1000), "value": 8.0}
                    for i in ids
                    for ts in steps[:12]
                ],
            ),
            (
                ModelRun,
                [
                    {
                        "id": i,
                        "series_id": i,
                        "model": "seasonal_naive",
                        "step_seconds": STEP,
                        "status": "ok",
                        "is_champion": True,
                    }
                    for i in ids
                ],
            ),
            (
                Forecast,
                [
                    {"id": i, "run_id": i, "series_id": i, "origin": steps[0], "step_seconds": STEP}
                    for i in ids
                ],
            ),
            (
                ForecastPoint,
                [
                    {"forecast_id": i, "ts": ts, "p50": 8.0, "p90": 9.0, "p95": 9.5, "p99": 10.0}
                    for i in ids
                    for ts in steps
                ],
            ),
            (
                Plan,
                [
                    {
                        "id": i,
                        "service_id": i,
                        "forecast_id": i,
                        "step_seconds": STEP,
                        "quantile": 0.9,
                    }
                    for i in ids
                ],
            ),
            (
                PlanStep,
                [
                    {"plan_id": i, "ts": ts, "replicas": 1, "gpus": 1, "load": 8.0}
                    for i in ids
                    for ts in steps[12:]
                ],
            ),
        ]:
            session.execute(insert(table), rows)


def test_the_overview_of_a_fleet_past_one_querys_terms(
    settings: Settings, database: Database
) -> None:
    now = utc_now()
    _seed_fleet(database, now)
    with (
        live_server(create_app(settings, database)) as base,
        httpx.Client(base_url=base, timeout=60) as http,
    ):
        response = http.get("/v1/dashboard/overview")

    assert response.status_code == 200, response.text
    services = response.json()["data"]
    assert len(services) == FLEET
    assert response.json()["count"] == FLEET
    assert all(one["last_sample_at"] is not None for one in services)
    assert all(one["forecast_id"] is not None for one in services)
    assert all(one["plan"] is not None and one["band"] is not None for one in services)
