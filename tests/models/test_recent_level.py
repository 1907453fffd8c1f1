"""Recent level: the flat median forecast for short, noisy histories without a season yet."""

from __future__ import annotations

import numpy as np
import pandas as pd

from models.naive import SeasonalNaiveDaily
from models.recent_level import MAX_POINTS, RecentLevel
from tests.models.cases import assert_forecasts_past_a_missing_end, assert_survives_gaps


def _per_second(values: np.ndarray) -> pd.Series:
    index = pd.date_range("2024-01-01", periods=len(values), freq="1s", tz="UTC")
    return pd.Series(values.astype("float64"), index=index)


def test_sparse_bursty_counts_get_their_median_not_the_last_burst() -> None:
    """Mostly-zero counts with bursts: the median (0) beats repeating the last value."""
    rng = np.random.default_rng(0)
    values = np.where(rng.random(4_200) < 0.3, rng.poisson(8, 4_200), 0)
    values[3_599] = 40  # the last observed second is a burst
    train, test = _per_second(values[:3_600]), values[3_600:]
    level = RecentLevel().configure(horizon=600).fit(train).predict(600)
    naive = SeasonalNaiveDaily().fit(train).predict(600)
    assert np.allclose(level["p50"], 0.0)
    assert np.abs(test - level["p50"].to_numpy()).mean() < 0.5 * np.abs(test - 40).mean()
    assert np.abs(test - naive["p50"].to_numpy()).mean() > 30
    # the band still covers the bursts it has seen: most seconds fall under the p95
    assert np.mean(test <= level["p95"].to_numpy()) >= 0.9


def test_a_drifting_level_is_followed_with_a_short_window() -> None:
    """A level that climbed from 4 to 12 during the hour: the forecast sits near the new level,
    not at the hour's median (8)."""
    rng = np.random.default_rng(1)
    trend = np.concatenate([np.linspace(4, 12, 3_000), np.full(600, 12.0)])
    train = _per_second(rng.poisson(trend))
    model = RecentLevel().configure(horizon=300).fit(train)
    assert abs(float(model.predict(300)["p50"].iloc[0]) - 12) <= 1.5
    assert model.window_ <= 900


def test_survives_gaps() -> None:
    assert_survives_gaps(RecentLevel())


def test_an_all_missing_recent_window_keeps_an_earlier_level() -> None:
    train = _per_second(np.r_[np.full(1_000, 5.0), np.full(200, np.nan)])
    frame = RecentLevel().fit(train).predict(10)
    assert np.allclose(frame["p50"], 5.0)


def test_only_the_latest_points_are_read() -> None:
    """Days-old history does not move the level or the bands (and costs nothing to refit)."""
    rng = np.random.default_rng(2)
    values = rng.poisson(6, MAX_POINTS + 5_000).astype("float64")
    older = values.copy()
    older[:5_000] *= 10
    fresh = RecentLevel().configure(horizon=60).fit(_per_second(values)).predict(60)
    stale = RecentLevel().configure(horizon=60).fit(_per_second(older)).predict(60)
    assert np.allclose(fresh.to_numpy(), stale.to_numpy())


def test_forecasts_past_a_missing_end() -> None:
    assert_forecasts_past_a_missing_end(RecentLevel)
