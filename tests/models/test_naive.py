"""Seasonal-naive: the baseline, the MASE yardstick and the fallback."""

from __future__ import annotations

import numpy as np

from models.base import ForecastModel
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


def test_rolled_medians_equal_updating_origin_by_origin() -> None:
    """The gather fast path gives what the generic update loop gives: across the one-season
    mark (last value before it, the last day after) and around a gap (the loop's filling)."""
    series = synthetic_traffic(days=4, step_seconds=3600, seed=5)
    series.iloc[40:43] = np.nan
    origins = np.arange(10, 90, 3)
    for model_class in (SeasonalNaiveDaily, SeasonalNaiveWeekly):
        fast = model_class().fit(series.iloc[: origins[0] + 1])
        slow = model_class().fit(series.iloc[: origins[0] + 1])
        rolled = fast.rolled_medians(series, origins, 30)
        looped = ForecastModel.rolled_medians(slow, series, origins, 30)
        assert np.allclose(rolled, looped)
        assert fast.last_timestamp_ == series.index[origins[-1]]
