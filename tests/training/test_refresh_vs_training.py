"""The 15-minute refresh forecasts from the champion it read; a training that replaces that
champion meanwhile keeps its own forecast and plan in force (SQLite and PostgreSQL)."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

import forecaster.training.train as train_module
from forecaster.profiles import ScalingProfile
from forecaster.settings import Settings
from forecaster.storage.db import Database
from forecaster.storage.orm import Forecast, Service
from forecaster.storage.plans import latest_plan
from forecaster.training.train import forecast_service, train_service
from tests.helpers import ending_now, store_service, synthetic_traffic

PROFILE = ScalingProfile(step_seconds=3600, horizon_hours=24, capacity_per_replica=10)
MODEL = "seasonal_naive_daily"  # quick to fit, and forecasts again from its stored champion


def test_a_refresh_whose_champion_a_training_replaced_stores_nothing(
    database: Database, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """QA: the refresh stored its forecast and plan from the old champion after the training
    had stored the new one's, and that plan stayed in force until the next refresh."""
    trace = ending_now(synthetic_traffic(days=4, step_seconds=3600), step="1h")
    store_service(database, settings, "chat", trace, PROFILE)
    old = train_service(database, "chat", settings, model=MODEL)
    fit = train_module.run_at_idle_priority
    trained = []

    def trained_while_forecasting(function: Any, *args: Any, **kwargs: Any) -> Any:
        made = fit(function, *args, **kwargs)
        if function is train_module._champion_forecast:  # an on-demand training, meanwhile
            trained.append(train_service(database, "chat", settings, model=MODEL))
        return made

    monkeypatch.setattr(train_module, "run_at_idle_priority", trained_while_forecasting)
    refreshed = forecast_service(database, "chat", settings)

    (new,) = trained
    assert (refreshed.run_id, refreshed.forecast_id, refreshed.plan_id) == (
        new.run_id,
        new.forecast_id,
        new.plan_id,
    )
    assert f"champion run {old.run_id} was replaced by run {new.run_id}" in refreshed.message
    with database.session() as session:
        service = session.execute(select(Service).where(Service.name == "chat")).scalar_one()
        in_force = latest_plan(session=session, service_id=service.id)
        assert in_force is not None and in_force.id == new.plan_id
        newest = session.execute(select(Forecast).order_by(Forecast.id.desc()).limit(1))
        assert newest.scalar_one().run_id == new.run_id  # the refresh's was not kept either
