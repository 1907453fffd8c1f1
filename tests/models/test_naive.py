"""Seasonal-naive: the baseline, the MASE yardstick and the fallback."""

from __future__ import annotations

import numpy as np

from models.naive import SeasonalNaiveDaily, SeasonalNaiveWeekly
from tests.helpers import synthetic_traffic
from tests.models.cases import assert_recovers_daily_cycle, assert_survives_gaps


def test_daily_recovers_cycle() -> None:
    assert_recovers_daily_cycle(SeasonalNaiveDaily())


def test_survives_gaps() -> None:
    assert_survives_gaps(SeasonalNaiveDaily())


def test_weekly_copies_the_same_day_last_week() -> None:
    series = synthetic_traffic(days=15, step_seconds=3600, weekly_amplitude=0.4, seed=3)
    frame = SeasonalNaiveWeekly().fit(series).predict(24)
    week_ago = series.iloc[-168:-144].to_numpy()
    assert np.allclose(frame["p50"].to_numpy(), week_ago)


def test_short_history_repeats_the_last_value_with_wide_bands() -> None:
    series = synthetic_traffic(days=0.5, step_seconds=3600, seed=4)
    frame = SeasonalNaiveDaily().fit(series).predict(6)
    assert np.allclose(frame["p50"], series.iloc[-1])
    assert (frame["p95"] - frame["p50"] > 0.2 * series.mean()).all()
