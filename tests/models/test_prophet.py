"""Prophet: seasonality, holidays and declared events as regressors (small data, MAP fits)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from models.calendar import Calendar, EventWindow
from models.prophet_model import Prophet
from tests.helpers import synthetic_traffic
from tests.models.cases import (
    assert_a_climb_does_not_compound,
    assert_recovers_daily_cycle,
    assert_swing_follows_a_level_shift,
)


def test_recovers_cycle() -> None:
    assert_recovers_daily_cycle(Prophet())


def test_daily_swing_grows_with_the_level() -> None:
    assert_swing_follows_a_level_shift(Prophet())


def test_on_the_log_scale_a_climb_does_not_compound() -> None:
    assert_a_climb_does_not_compound(Prophet())


def test_learns_a_recurring_event_as_a_regressor() -> None:
    series = synthetic_traffic(days=14, step_seconds=3600, weekly_amplitude=0.0, noise=0.02)
    starts = [series.index[0] + pd.Timedelta(days=d, hours=10) for d in (2, 5, 8, 11, 14)]
    events = tuple(EventWindow("promo", s, s + pd.Timedelta(hours=4)) for s in starts)
    boosted = series.copy()
    for event in events[:-1]:
        boosted[event.mask(pd.DatetimeIndex(boosted.index))] *= 2.0
    plain = Prophet().fit(boosted).predict(24)
    aware = Prophet().configure(calendar=Calendar(events=events)).fit(boosted).predict(24)
    inside = events[-1].mask(pd.DatetimeIndex(aware.index))
    assert inside.any()
    ratio = aware["p50"][inside].mean() / plain["p50"][inside].mean()
    assert ratio > 1.4  # the regressor carries the learned effect into the future window


def test_country_holidays_are_used() -> None:
    index = pd.date_range("2024-12-01", periods=24 * 40, freq="3600s", tz="UTC")
    hours = index.hour.to_numpy()
    values = 100 + 40 * np.sin(2 * np.pi * hours / 24)
    christmas = (index.month == 12) & (index.day == 25)
    values = np.where(christmas, values * 0.3, values)
    series = pd.Series(values, index=index)
    model = Prophet().configure(calendar=Calendar(holiday_country="US"))
    model.fit(series.iloc[: 24 * 38])
    assert "Christmas Day" in set(model.model_.train_holiday_names)
