"""A recent, lasting rise is levelled into the history; events, dips, trends and holidays not."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from forecaster.training.forecasting import make_forecast
from forecaster.training.history import read_as_load
from forecaster.training.level_shift import with_recent_rise_levelled
from tests.helpers import synthetic_traffic, with_end_scaled

DAY = 86_400


def _shifted(factor: float, days_ago: float, *, step: int = 3600, days: float = 28) -> pd.Series:
    return with_end_scaled(factor, days_ago * DAY, step=step, days=days)


@pytest.mark.parametrize("step", [300, 3600])
@pytest.mark.parametrize("days_ago", [1, 2, 5])
def test_a_lasting_doubling_lifts_the_history_before_it(step: int, days_ago: float) -> None:
    history = _shifted(2.0, days_ago, step=step)
    start = len(history) - round(days_ago * DAY / step)
    levelled, note = with_recent_rise_levelled(history)
    assert "rose 2x" in note and history.index[start].isoformat() in note
    pd.testing.assert_series_equal(levelled.iloc[start:], history.iloc[start:])
    ratio = levelled.iloc[:start].to_numpy() / history.iloc[:start].to_numpy()
    assert np.allclose(ratio, ratio[0]) and 1.9 < ratio[0] < 2.1


def test_a_lasting_rise_of_forty_percent_is_levelled_too() -> None:
    """A QA pass on traces unlike the shared ones: 1.4x held for five days was under the
    1.5x this rule asked, and ``auto`` (an ensemble pulled down by LightGBM's week-old lags)
    forecast the next day 18 % low, p90/p95 coverage 0.28/0.56; levelled, -1 %, 0.85/0.92."""
    history = _shifted(1.4, 3, step=300)
    start = len(history) - round(3 * DAY / 300)
    levelled, note = with_recent_rise_levelled(history)
    assert "rose 1.4x" in note
    ratio = levelled.iloc[:start].to_numpy() / history.iloc[:start].to_numpy()
    assert 1.33 < ratio[0] < 1.47


def _fading_event(peak: float, half_life_days: float) -> pd.Series:
    history = synthetic_traffic(days=28, step_seconds=3600, seed=5, noise=0.08)
    start = len(history) - 2 * 24
    days = np.arange(len(history) - start) / 24
    history.iloc[start:] *= 1 + (peak - 1) * 0.5 ** (days / half_life_days)
    return history


def _holiday_fortnight() -> pd.Series:
    """Two weeks at half the traffic, then back to normal for two days."""
    history = synthetic_traffic(days=35, step_seconds=3600, seed=5, noise=0.08)
    history.iloc[-16 * 24 : -2 * 24] *= 0.5
    return history


def _growing(per_day: float) -> pd.Series:
    history = synthetic_traffic(days=28, step_seconds=3600, seed=5, noise=0.08)
    return history * (1 + per_day) ** (np.arange(len(history)) / 24)


@pytest.mark.parametrize(
    "history",
    [
        synthetic_traffic(days=28, step_seconds=3600, seed=5, noise=0.08),  # nothing happened
        _shifted(2.0, 0.75),  # 18 hours at the new level: could still be news
        _shifted(2.0, 8),  # a week on, the week-old values are at the new level themselves
        _shifted(1.2, 3),  # too small to be sure of
        _shifted(0.5, 3),  # a fall: levelling it down would risk the floor on a holiday dip
        _fading_event(3.0, 1.0),  # news: the last hours are well below the first
        _holiday_fortnight(),  # back to the level of three weeks before: no rise over it
        _growing(0.04),  # steady growth, no step
        _shifted(2.0, 3, step=DAY, days=120),  # daily steps: events look like levels
    ],
    ids=["flat", "18-hours", "week-old", "small", "fall", "fading", "holidays", "trend", "daily"],
)
def test_what_is_not_a_lasting_rise_is_left_alone(history: pd.Series) -> None:
    assert with_recent_rise_levelled(history) == (history, "")


def test_training_reads_the_rise_and_says_so() -> None:
    """Two days after a doubling, a day ahead: the forecast is at the new level (without the
    levelling ``auto`` forecast 175 against 210, p90 coverage 0.33, on this series)."""
    full = _shifted(2.0, 3)
    history, truth = full.iloc[:-24], full.iloc[-24:].to_numpy()
    outcome = make_forecast(history, 24)
    assert "rose 2x" in outcome.message
    assert abs(outcome.frame["p50"].mean() / truth.mean() - 1) < 0.1
    assert (truth <= outcome.frame["p90"].to_numpy()).mean() >= 0.75


def test_outages_are_read_before_the_rise_and_both_notes_kept() -> None:
    history = _shifted(2.0, 3)
    history.iloc[-3:] = 0.0
    cleaned, note = read_as_load(history)
    assert cleaned.iloc[-3:].isna().all()
    assert "outage" in note and "rose 2x" in note
