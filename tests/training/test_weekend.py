"""A week of history that shows a weekend: the champion is averaged with last week's same day
while the history is too short to backtest a weekly model."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from forecaster.training.forecasting import make_forecast
from forecaster.training.weekend import WEEKEND_CONTRAST, weekend_contrast
from tests.helpers import synthetic_traffic

WEEKEND_LEVEL = 0.6


def _office_traffic(days: float, *, weekend: float = WEEKEND_LEVEL, seed: int = 0) -> pd.Series:
    """Daily-cycled load from Saturday 2024-01-06 whose weekends run at ``weekend`` x."""
    series = synthetic_traffic(days, 1800, weekly_amplitude=0.0, seed=seed, start="2024-01-06")
    weekends = pd.DatetimeIndex(series.index).day_of_week >= 5
    return series * np.where(weekends, weekend, 1.0)


def test_weekend_contrast_tells_a_weekend_from_day_to_day_noise() -> None:
    assert weekend_contrast(_office_traffic(8)) > 10 * WEEKEND_CONTRAST
    assert weekend_contrast(_office_traffic(8, weekend=1.0)) < WEEKEND_CONTRAST
    assert weekend_contrast(_office_traffic(6)) == 0.0  # under a week: cannot tell
    daily = _office_traffic(60).resample("D").mean()
    assert weekend_contrast(daily) == 0.0  # steps of a day: no day to average within


@pytest.mark.parametrize("weekend", [WEEKEND_LEVEL, 1.0])
def test_a_week_with_a_weekend_forecasts_saturday_partly_from_last_saturday(
    weekend: float,
) -> None:
    full = _office_traffic(8, weekend=weekend, seed=3)
    history, saturday = full.iloc[: 7 * 48], full.iloc[7 * 48 :]  # ends on Friday night

    def error(outcome) -> float:
        return float(np.mean(np.abs(outcome.frame["p50"].to_numpy() - saturday.to_numpy())))

    auto = make_forecast(history, 48)
    daily_only = make_forecast(history, 48, model="holt_winters")  # asked for: left alone
    assert "averaged" not in daily_only.message
    if weekend < 1.0:
        assert "averaged with seasonal_naive_weekly" in auto.message
        # the daily model forecasts a weekday, about 40 % too high; the average half of that
        assert error(daily_only) > 0.3 * saturday.mean()
        assert error(auto) < 0.7 * error(daily_only)
    else:
        assert "averaged" not in auto.message
