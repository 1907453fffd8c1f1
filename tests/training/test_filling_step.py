"""A service's last step is still filling while training runs mid-step: the forecast starts
with that step, so the plan has a floor in force now."""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import pandas as pd

from forecaster.actuators.window import load_window
from forecaster.profiles import ScalingProfile
from forecaster.settings import Settings
from forecaster.storage.db import Database
from forecaster.storage.services import get_service
from forecaster.training.service_data import load_history, without_filling_steps
from forecaster.training.train import train_service
from tests.helpers import clear_of_step_turn, store_service

HOURLY = ScalingProfile(step_seconds=3600, horizon_hours=12, capacity_per_replica=10)


def _minutely_until(now: datetime, days: int = 3) -> pd.Series:
    """Per-minute load over ``days`` up to ``now``: the current hour holds only its first
    minutes, as it would in the middle of an hour."""
    index = pd.date_range(end=pd.Timestamp(now).floor("min"), periods=days * 1440, freq="min")
    hours = index.hour.to_numpy() + index.minute.to_numpy() / 60
    return pd.Series(40 + 20 * np.sin(2 * np.pi * hours / 24), index=index)


def test_an_hourly_service_trained_mid_hour_has_a_floor_in_force_now(
    database: Database, settings: Settings
) -> None:
    now = clear_of_step_turn(3600, 30)  # the hour must not turn during the test
    store_service(database, settings, "chat", _minutely_until(now), HOURLY)
    train_service(database, "chat", settings, model="seasonal_naive_daily")
    this_hour = pd.Timestamp(now).floor("h")
    with database.session() as session:
        service = get_service(session=session, name="chat")
        history = load_history(session=session, service=service, profile=HOURLY, days=7)
        window = load_window(
            session=session,
            service=service,
            profile=HOURLY,
            now=now,
            window_seconds=300 + HOURLY.startup_seconds,
            max_age_seconds=6 * 3600,
            preview=True,  # the default profile is forecast-only
        )
    assert window.active, window.reason
    # a step in force now; the floor covers it (and the next hour's, when the window reaches
    # past the hour: run in an hour's last minutes, the two differed)
    assert window.change_points[0].at <= now
    assert window.floor >= window.change_points[0].replicas
    assert history.index[-1] == this_hour - timedelta(hours=1)  # the filling hour left out


def test_only_trailing_steps_still_filling_are_left_out() -> None:
    index = pd.date_range("2024-05-01 00:00", periods=4, freq="h", tz="UTC")
    history = pd.Series([1.0, 2.0, 3.0, 4.0], index=index)
    mid_last = index[-1] + timedelta(minutes=30)
    kept = without_filling_steps(history, 3600, mid_last)
    assert kept.index[-1] == index[-2] and kept.index.freq == "h"  # models read the step
    assert without_filling_steps(history, 3600, index[-1] + timedelta(hours=1)).equals(history)
    lone = history.iloc[-1:]  # nothing observed would be left: kept as it is
    assert without_filling_steps(lone, 3600, mid_last).equals(lone)
