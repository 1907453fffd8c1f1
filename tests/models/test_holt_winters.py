"""Holt-Winters: the seasonal cycle, short histories, and a cheap update."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from models.holt_winters import MAX_DAMPING, HoltWinters, forecast_ahead, smooth
from tests.helpers import synthetic_traffic
from tests.models.cases import (
    assert_a_young_spike_is_not_a_new_level,
    assert_forecasts_past_a_missing_end,
    assert_recovers_daily_cycle,
    assert_survives_gaps,
    daily_cycle,
)


def test_recovers_cycle() -> None:
    assert_recovers_daily_cycle(HoltWinters())


def test_survives_gaps() -> None:
    assert_survives_gaps(HoltWinters())


def test_under_two_days_it_forecasts_a_level_without_season() -> None:
    series = synthetic_traffic(days=1, step_seconds=60, seed=5)
    model = HoltWinters().fit(series)
    assert model.params_["seasonal"] is False
    frame = model.predict(30)
    assert frame["p50"].between(0.3 * series.mean(), 2 * series.mean()).all()


def test_two_days_of_history_fit_no_season_that_the_level_must_undo() -> None:
    """QA: fitted on the first two days of a 5-minute trace whose second day ran at a fifth of
    the first, the season started from the first day alone and the level went negative to
    undo it: the next day's median and p95 were 0 all day (the plan fell to min_replicas)."""
    index = pd.date_range("2024-03-01", periods=576, freq="5min", tz="UTC")
    hours = np.arange(576) / 12
    level = np.where(hours < 24, 50.0, 10.0)
    series = pd.Series(level * (1 + 0.8 * np.sin(2 * np.pi * hours / 24)) + 1, index=index)
    frame = HoltWinters().fit(series).predict(288)
    assert (frame["p50"] > 0.5 * series.min()).all()
    assert (frame["p95"] >= series.iloc[-288:].quantile(0.5)).all()


def test_a_short_climb_is_not_extrapolated_all_day() -> None:
    """Fifty minutes of a steady climb, forecast a day ahead: the damped trend runs out."""
    index = pd.date_range("2026-01-01", periods=10, freq="5min", tz="UTC")
    climb = pd.Series(np.arange(1.0, 11.0), index=index)
    model = HoltWinters().fit(climb)
    assert model.params_["damping_trend"] is None  # no trend under three days: a level
    ahead = model.predict(288)["p50"].to_numpy()
    assert ahead.max() <= climb.iloc[-1] + 0.5 and np.ptp(ahead) < 0.5
    # with a season (three days and more), a trend, damped within the usual cap
    seasonal = HoltWinters().fit(daily_cycle(days=4))
    assert 0 < seasonal.params_["damping_trend"] <= MAX_DAMPING


def test_a_day_of_history_carries_no_evenings_fall_through_the_night() -> None:
    """QA: a day of hourly history ending in an evening's fall: the damped trend ran it down
    to 0 by 01:00 and held it there, and the next day came out at half of yesterday."""
    index = pd.date_range("2026-01-05 20:00", periods=24, freq="1h", tz="UTC")  # to 19:00
    hours = index.hour.to_numpy()
    day = 20 + 800 * np.exp(-(((hours - 17) / 3.0) ** 2))  # an evening peak, falling to 20
    frame = HoltWinters().fit(pd.Series(day, index=index)).predict(24)
    assert frame["p50"].min() >= day.min() * 0.5


def test_update_keeps_parameters_and_follows_new_data() -> None:
    series = daily_cycle(days=10)
    rng = np.random.default_rng(0)
    drifting = series * np.exp(np.cumsum(rng.normal(0, 0.03, len(series))))  # a wandering level
    model = HoltWinters().fit(drifting.iloc[:-24])
    params = dict(model.params_)
    assert params["smoothing_level"] > 0.05
    shifted = drifting.copy()
    shifted.iloc[-24:] *= 1.5  # a level shift in the newest half day
    model.update(shifted)
    assert model.params_ == params
    assert model.last_timestamp_ == series.index[-1]
    moved = model.predict(12)["p50"].mean()
    unshifted = HoltWinters().fit(drifting).predict(12)["p50"].mean()
    assert moved > 1.2 * unshifted  # the update saw the shift


@pytest.mark.parametrize(("length", "season"), [(48 * 20, 48), (300, 1), (40, 48), (3, 1)])
def test_forecast_from_final_states_matches_statsmodels(length: int, season: int) -> None:
    rng = np.random.default_rng(3)
    steps = np.arange(length)
    values = 100 + 20 * np.sin(2 * np.pi * steps / 48) + 0.02 * steps + rng.normal(0, 3, length)
    fitted, _ = smooth(values, season, None)
    ours = forecast_ahead(fitted, 100)
    theirs = np.asarray(fitted.forecast(100))
    ahead = np.arange(1, 101)
    if not fitted.model.seasonal:
        np.testing.assert_allclose(ours, theirs, rtol=1e-9)
        return
    # statsmodels takes the season one cycle older at whole cycles ahead; the textbook
    # forecast (and ours) uses the latest seasonal state there
    inside = ahead % season != 0
    np.testing.assert_allclose(ours[inside], theirs[inside], rtol=1e-9)
    phi = fitted.params["damping_trend"]
    latest = (
        np.asarray(fitted.level)[-1]
        + np.sum(phi ** np.arange(1, season + 1)) * np.asarray(fitted.trend)[-1]
        + np.asarray(fitted.season)[-1]
    )
    assert ours[season - 1] == pytest.approx(latest)


def test_forecasts_past_a_missing_end() -> None:
    assert_forecasts_past_a_missing_end(HoltWinters)


def test_a_young_spike_is_not_a_new_level() -> None:
    assert_a_young_spike_is_not_a_new_level(HoltWinters)
