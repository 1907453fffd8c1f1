"""The ensemble averages its members and fits/updates them together."""

from __future__ import annotations

import numpy as np

from models.ensemble import Ensemble
from models.holt_winters import HoltWinters
from models.naive import SeasonalNaiveDaily, SeasonalNaiveWeekly
from tests.helpers import synthetic_traffic
from tests.models.cases import assert_forecasts_past_a_missing_end, assert_recovers_daily_cycle


def test_recovers_cycle() -> None:
    assert_recovers_daily_cycle(Ensemble([SeasonalNaiveDaily(), SeasonalNaiveDaily()]))


def test_median_is_the_mean_of_the_members() -> None:
    series = synthetic_traffic(days=15, step_seconds=3600, weekly_amplitude=0.3, seed=9)
    daily = SeasonalNaiveDaily().fit(series).predict(24)["p50"].to_numpy()
    weekly = SeasonalNaiveWeekly().fit(series).predict(24)["p50"].to_numpy()
    ensemble = Ensemble([SeasonalNaiveDaily(), SeasonalNaiveWeekly()]).fit(series)
    assert np.allclose(ensemble.predict(24)["p50"].to_numpy(), (daily + weekly) / 2)
    ensemble.update(series.iloc[:-5])
    assert all(m.last_timestamp_ == series.index[-6] for m in ensemble.members)


def test_members_forecast_past_a_missing_end() -> None:
    assert_forecasts_past_a_missing_end(lambda: Ensemble([HoltWinters(), SeasonalNaiveWeekly()]))
