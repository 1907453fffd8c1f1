"""Public holidays as events, at the level the history's own holidays ran at.

With a holiday country, Prophet learns holidays and LightGBM reads a holiday flag, but the
other candidates (MSTL, Holt-Winters, seasonal naive) do not know them: a QA pass on 5-minute
traffic whose major US holidays ran at 0.4x forecast Christmas at the level of an ordinary day
from four months of history (MSTL, +164 %), with or without the country. When the history
holds whole holidays, each one's mean level against the same weekday a week before and after
says what it does to this service. Every holiday from the history's start to the forecast's
end then becomes an event with a multiplier, which every model honours (the history's
holidays divided by it, the forecast's multiplied): the level of the same holiday in an
earlier year when the history holds one, else the median of the holidays it holds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from forecaster.training.weekend import whole_day_means
from models.base import DAY_SECONDS, step_seconds_of
from models.calendar import Calendar, EventWindow

# a holiday level within 15 % of an ordinary day's is left to the models (noise, or a holiday
# this service does not keep)
LEAST_EFFECT = 1.15


@dataclass(frozen=True)
class _Holiday:
    name: str
    start: pd.Timestamp  # the UTC start of its local day
    local: pd.Timestamp  # its local midnight


def with_learned_holidays(
    history: pd.Series, calendar: Calendar, horizon: int
) -> tuple[Calendar, str]:
    """``calendar`` with its holidays added as events at the level past ones ran at, and a
    note saying so; unchanged (and ``""``) without a country, a whole past holiday, or steps
    under a day."""
    if not calendar.holiday_country or len(history) < 2:
        return calendar, ""
    step = step_seconds_of(pd.DatetimeIndex(history.index))
    if step > DAY_SECONDS:
        return calendar, ""
    end = history.index[-1] + pd.Timedelta(seconds=step * (horizon + 1))
    try:
        holidays = _holidays(calendar, history.index[0], end)
    except ValueError:  # a stored country the package no longer knows: the models say so
        return calendar, ""
    levels = _levels(holidays, whole_day_means(history, calendar.timezone))
    if not levels:
        return calendar, ""
    pooled = float(np.median(list(levels.values())))
    by_name = {holiday.name: level for holiday, level in levels.items()}
    added = []
    for holiday in holidays:
        factor = by_name.get(holiday.name, pooled)
        overlaps = any(
            e.start < holiday.start + pd.Timedelta(days=1) and holiday.start < e.end
            for e in calendar.events
        )
        if abs(math.log(factor)) >= math.log(LEAST_EFFECT) and not overlaps:
            window_end = holiday.start + pd.Timedelta(days=1)
            added.append(EventWindow(f"holiday: {holiday.name}", holiday.start, window_end, factor))
    if not added:
        return calendar, ""
    note = (
        f"public holidays ({calendar.holiday_country}) read at the level the {len(levels)} in "
        f"the history ran at (median {pooled:.2g}x an ordinary day)"
    )
    return replace(calendar, events=calendar.events + tuple(added)), note


def _holidays(calendar: Calendar, first: pd.Timestamp, last: pd.Timestamp) -> list[_Holiday]:
    """The holidays whose local day (the profile's time zone, else UTC) overlaps
    ``[first, last)``."""
    zone = calendar.timezone or "UTC"
    found = []
    span = pd.DatetimeIndex([first, last])
    for day, name in sorted(calendar.holiday_names(span).items()):
        local = pd.Timestamp(day).tz_localize(zone)
        start = local.tz_convert("UTC")
        if start + pd.Timedelta(days=1) > first and start < last:
            found.append(_Holiday(name, start, local))
    return found


def _levels(holidays: list[_Holiday], daily: pd.Series) -> dict[_Holiday, float]:
    """Each whole holiday of the history's level against the mean of the same weekday a week
    before and after (those observed and not holidays themselves)."""
    days = {holiday.local for holiday in holidays}
    levels = {}
    for holiday in holidays:
        level = daily.get(holiday.local, math.nan)
        around = (holiday.local - pd.Timedelta(days=7), holiday.local + pd.Timedelta(days=7))
        ordinary = [daily[day] for day in around if day in daily.index and day not in days]
        if math.isfinite(level) and ordinary and float(np.mean(ordinary)) > 0 and level > 0:
            levels[holiday] = float(level) / float(np.mean(ordinary))
    return levels
