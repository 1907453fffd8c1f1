"""Does a history of about a week show a weekend? For a champion that cannot know about weeks.

From about nine days of history the backtest decides whether last week's same day beats the
daily models (``seasonal_naive_weekly`` is one of the candidates). With one week to eight days
nothing can be backtested at a weekly lag, and a champion of daily models forecasts Saturday
like Friday and Monday like Sunday: on half-hourly electricity demand 4.5x the error of last
week's same day. The history can still show that weekends differ: then its weekends are moved
onto the weekdays' level for the models and back in the forecast (``models.weekend_shift``), and
the champion is averaged with last week's same day (``forecaster.training.forecasting``), as
later while no backtest fold has forecast a weekend day.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from models.base import DAY_SECONDS, WEEK_SECONDS, step_seconds_of

# the weekend's mean daily level must differ from the weekdays' mean by this many standard
# deviations of the weekdays' daily levels: day-to-day noise, or a trend, rarely does
WEEKEND_CONTRAST = 3.0
# a calendar day counts when it holds at least this share of the fullest day's points
FULL_DAY_SHARE = 0.9


def weekend_contrast(history: pd.Series, zone: str | None = None) -> float:
    """How many weekday standard deviations the weekend's mean daily level lies from the
    weekdays' (calendar days in ``zone``, the profile's ``timezone``, else UTC; whole days
    only); 0 when that cannot be told: under a week of history, steps of a day or more, or no
    whole weekend day and three weekdays. Far from UTC, UTC days cut each weekend in two (in
    Auckland, Saturday is two thirds UTC Friday) and dilute the contrast."""
    history = history.set_axis(_in_zone(pd.DatetimeIndex(history.index), zone))
    index = pd.DatetimeIndex(history.index)
    if len(history) < 2:
        return 0.0
    step = step_seconds_of(index)
    if step >= DAY_SECONDS or (index[-1] - index[0]).total_seconds() < WEEK_SECONDS - step:
        return 0.0
    by_day = history.resample("D")
    counts = by_day.count()
    levels = by_day.mean()[counts >= FULL_DAY_SHARE * counts.max()]
    weekend = pd.DatetimeIndex(levels.index).day_of_week >= 5
    weekdays, weekends = levels[~weekend], levels[weekend]
    if len(weekends) < 1 or len(weekdays) < 3:
        return 0.0
    spread = float(weekdays.std(ddof=1))
    gap = abs(float(weekends.mean()) - float(weekdays.mean()))
    if spread <= 1e-9 * max(abs(float(weekdays.mean())), 1e-12):
        return float("inf") if gap > 0 else 0.0
    return gap / spread


def forecasts_a_weekend(target_seconds: np.ndarray, zone: str | None = None) -> bool:
    """Whether any of these target times (epoch seconds) falls on a Saturday or Sunday, in
    ``zone`` (else UTC)."""
    seconds = np.asarray(target_seconds, dtype="float64").ravel()
    stamps = _in_zone(pd.DatetimeIndex(pd.to_datetime(seconds, unit="s", utc=True)), zone)
    return bool((stamps.day_of_week >= 5).any())


def _in_zone(index: pd.DatetimeIndex, zone: str | None) -> pd.DatetimeIndex:
    """``index`` on ``zone``'s clock (UTC without one; training drops a zone this installation
    does not know, see ``history.zone_problem``)."""
    return index.tz_convert(zone) if zone else index
