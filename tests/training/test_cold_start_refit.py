"""A new service climbs the cold-start ladder the same day: the 15-minute refresh refits a
champion that learnt from less than a day once its history has doubled."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd

from forecaster.profiles import ScalingProfile
from forecaster.settings import Settings
from forecaster.storage.db import Database
from forecaster.storage.orm import ModelRun
from forecaster.timeutil import utc_now
from forecaster.training.train import forecast_service, outgrown, train_service
from tests.helpers import store_points, store_service

PROFILE = ScalingProfile(step_seconds=300, horizon_hours=2, capacity_per_replica=10)


def minutes(start: pd.Timestamp, count: int) -> pd.Series:
    index = pd.date_range(start, periods=count, freq="5min")
    return pd.Series(50 + 10 * np.sin(np.arange(count) / 5), index=index)


def test_the_refresh_refits_a_champion_whose_history_has_doubled(
    database: Database, settings: Settings
) -> None:
    now = pd.Timestamp(utc_now()).floor("5min")
    first_hour = minutes(now - pd.Timedelta(hours=2), 12)
    store_service(database, settings, "chat", first_hour, PROFILE)
    trained = train_service(database, "chat", settings)
    assert forecast_service(database, "chat", settings).run_id == trained.run_id  # no growth

    store_points(database, settings, "chat", minutes(now - pd.Timedelta(hours=1), 13))
    refitted = forecast_service(database, "chat", settings)
    assert refitted.run_id != trained.run_id  # history 2 h against 55 min: a new champion
    # the refresh's job run says it refitted, and why (it read like any other refresh)
    assert refitted.message.startswith("the champion learnt from under a day of history")
    assert forecast_service(database, "chat", settings).run_id == refitted.run_id


def test_a_refresh_that_trains_in_full_says_why(database: Database, settings: Settings) -> None:
    now = pd.Timestamp(utc_now()).floor("5min")
    store_service(database, settings, "chat", minutes(now - pd.Timedelta(hours=3), 36), PROFILE)
    first = forecast_service(database, "chat", settings)
    assert first.message.startswith("no champion yet: trained in full")
    coarser = PROFILE.model_copy(update={"step_seconds": 900})
    store_service(database, settings, "chat", minutes(now - pd.Timedelta(hours=3), 36), coarser)
    assert forecast_service(database, "chat", settings).message.startswith(
        "the champion forecasts 300s steps and the profile plans 900s: refitted"
    )


def run_over(days: float, step: int = 300) -> ModelRun:
    end = datetime(2024, 1, 10, tzinfo=UTC)
    return ModelRun(train_start=end - timedelta(days=days), train_end=end, step_seconds=step)


def history_over(days: float) -> pd.Series:
    index = pd.date_range(end="2024-01-20", periods=int(days * 288) + 1, freq="5min", tz="UTC")
    return pd.Series(1.0, index=index)


def test_only_short_champions_are_outgrown() -> None:
    assert outgrown(run_over(0.25), history_over(0.5))
    assert not outgrown(run_over(0.25), history_over(0.45))
    assert not outgrown(run_over(1.0), history_over(5))  # a day or more: the nightly job's
    # a champion from one point is refitted once the history spans two steps, not before
    assert not outgrown(run_over(0), history_over(1 / 288))
    assert outgrown(run_over(0), history_over(2 / 288))


def test_the_refresh_reads_a_trailing_outage_as_missing_as_training_does(
    database: Database, settings: Settings
) -> None:
    """The 15-min refresh is what runs while a service is down: an hour of zeros logged at the
    end is read as missing there too, and said, without a refit."""
    last = pd.Timestamp(utc_now()).floor("5min") - pd.Timedelta(minutes=5)  # complete
    index = pd.date_range(end=last - pd.Timedelta(hours=1), periods=3 * 288, freq="5min")
    load = pd.Series(50 + 10 * np.sin(2 * np.pi * np.arange(len(index)) / 288), index=index)
    store_service(database, settings, "chat", load, PROFILE)
    trained = train_service(database, "chat", settings)
    outage = pd.Series(0.0, index=pd.date_range(end=last, periods=12, freq="5min"))
    store_points(database, settings, "chat", outage)
    refreshed = forecast_service(database, "chat", settings)
    assert refreshed.run_id == trained.run_id
    assert "the last 1 h of zeros read as an outage" in refreshed.message
