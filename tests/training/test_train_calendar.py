"""The train job honours exclusions and events, stores a leaderboard, and refreshes forecasts
from the stored champion (on SQLite and PostgreSQL)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from forecaster.ingestion.batch import SeriesPoints, ingest_batch
from forecaster.profiles import ScalingProfile
from forecaster.settings import Settings
from forecaster.storage.calendar import add_event, add_exclusion
from forecaster.storage.db import Database
from forecaster.storage.forecasts import forecast_frame, latest_training_runs
from forecaster.storage.services import get_service, upsert_service
from forecaster.timeutil import utc_now
from forecaster.training.service_data import driving_series_id
from forecaster.training.train import forecast_service, train_service

PROFILE = ScalingProfile(step_seconds=3600, horizon_hours=24, capacity_per_replica=10)
NAIVE = "seasonal_naive_daily"


def _load(database: Database, settings: Settings, spike: bool = False) -> pd.DatetimeIndex:
    """Five days of a clean hourly cycle ending now; optionally a x10 incident of 12 hours
    yesterday (longer than the few hours seasonal-naive's despiking removes by itself)."""
    end = pd.Timestamp(utc_now()).floor("h")
    index = pd.date_range(end=end, periods=24 * 5, freq="h")
    values = 100 + 50 * np.sin(2 * np.pi * index.hour.to_numpy() / 24)
    if spike:
        yesterday = (index >= end - pd.Timedelta(hours=21)) & (index < end - pd.Timedelta(hours=9))
        values = np.where(yesterday, values * 10, values)
    with database.session() as session:
        upsert_service(session=session, name="chat", profile=PROFILE)
        item = SeriesPoints(
            service="chat",
            metric="requests_per_second",
            timestamps=[ts.isoformat() for ts in index],
            values=values.tolist(),
        )
        ingest_batch(session=session, batch=[item], settings=settings)
    return index


def _forecast(database: Database, forecast_id: int) -> pd.DataFrame:
    with database.session() as session:
        return forecast_frame(session=session, forecast_id=forecast_id)


def test_exclusions_keep_an_incident_out_of_the_forecast(
    database: Database, settings: Settings
) -> None:
    index = _load(database, settings, spike=True)
    spiked = _forecast(database, train_service(database, "chat", settings, model=NAIVE).forecast_id)
    end = index[-1]
    with database.session() as session:
        service = get_service(session=session, name="chat")
        add_exclusion(
            session=session,
            service_id=service.id,
            start=(end - pd.Timedelta(hours=21)).to_pydatetime(),
            end=(end - pd.Timedelta(hours=9)).to_pydatetime(),
            reason="incident",
        )
    clean = _forecast(database, train_service(database, "chat", settings, model=NAIVE).forecast_id)
    window = slice(8, 14)  # 24 h after the incident's second half: steps 9..14 ahead
    assert spiked["p50"].iloc[window].mean() > 5 * clean["p50"].iloc[window].mean()
    assert clean["p50"].max() < 200


def test_declared_event_multiplies_the_forecast_in_its_window(
    database: Database, settings: Settings
) -> None:
    index = _load(database, settings)
    plain = _forecast(database, train_service(database, "chat", settings, model=NAIVE).forecast_id)
    start = index[-1] + pd.Timedelta(hours=6)
    for _declared in ("once", "again, as a retry would"):  # the same event: not 2 x 2
        with database.session() as session:
            service = get_service(session=session, name="chat")
            add_event(
                session=session,
                service_id=service.id,
                name="launch",
                start=start.to_pydatetime(),
                end=(start + pd.Timedelta(hours=3)).to_pydatetime(),
                multiplier=2.0,
            )
    boosted = _forecast(database, forecast_service(database, "chat", settings).forecast_id)
    inside = (boosted.index >= start) & (boosted.index < start + pd.Timedelta(hours=3))
    assert inside.sum() == 3
    assert np.allclose(boosted["p50"][inside], 2 * plain["p50"][inside])
    assert np.allclose(boosted["p50"][~inside], plain["p50"][~inside])


def test_training_stores_the_leaderboard_and_a_reloadable_champion(
    database: Database, settings: Settings
) -> None:
    _load(database, settings)
    result = train_service(database, "chat", settings)
    with database.session() as session:
        service = get_service(session=session, name="chat")
        series_id = driving_series_id(session=session, service=service, profile=PROFILE)
        runs = latest_training_runs(session=session, series_id=series_id)
    assert runs[0].is_champion and runs[0].model == result.model
    assert sum(run.is_champion for run in runs) == 1
    assert {"seasonal_naive_daily", "holt_winters", "lightgbm"} <= {run.model for run in runs}
    assert any(run.status == "skipped" for run in runs)  # weekly naive waits for 8 days
    assert all("coverage" in run.scores for run in runs if run.status == "ok")
    refreshed = forecast_service(database, "chat", settings)
    assert refreshed.run_id == result.run_id and "without refitting" in refreshed.message
