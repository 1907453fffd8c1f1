"""Declared events without a multiplier, at the level their past windows ran at.

An event declared without a multiplier is left to the models, and only Prophet learns one (as a
regressor): every other champion trained with its windows blanked and forecast the next one as
ordinary load. When the history holds earlier windows of the same name (last year's launch, last
month's sale), their load against the same hours a week before and after (a day, on under two
weeks of history) says what the event does. Every window of that name then carries that
multiplier, which every model honours, as the history's holidays do (``holiday_effect``).
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pandas as pd

from forecaster.errors import listing
from forecaster.training.history import exclude_windows
from forecaster.training.holiday_effect import LEAST_EFFECT, with_learned_holidays
from models.base import DAY_SECONDS, step_seconds_of
from models.calendar import Calendar, EventWindow

# fewer observed steps than this in an event's past windows (with a baseline beside them) say
# too little to set a level on
LEAST_STEPS = 3
# an ended window whose load ran this many times above or below its declared multiplier is
# read at the level it ran at
MISMATCH = 3.0


def with_learned_levels(
    history: pd.Series, calendar: Calendar, horizon: int
) -> tuple[Calendar, str]:
    """``calendar`` with its holidays and its events without a multiplier given the levels the
    history ran at on their past days and windows, and a note saying what was read."""
    calendar, holiday_note = with_learned_holidays(history, calendar, horizon)
    calendar, event_note = with_learned_events(history, calendar)
    calendar, mismatch_note = with_past_windows_as_they_ran(history, calendar)
    return calendar, "; ".join(filter(None, [holiday_note, event_note, mismatch_note]))


def with_past_windows_as_they_ran(history: pd.Series, calendar: Calendar) -> tuple[Calendar, str]:
    """Each ended window whose load ran :data:`MISMATCH` times off its declared multiplier
    takes the level it ran at, with a note: the history is divided by the multiplier, so a
    maintenance declared at 0.01 that was called off made an ordinary hour a 100x spike, and
    the plan went to max_replicas (QA). Future and ongoing windows keep the declared one."""
    index = pd.DatetimeIndex(history.index)
    if len(history) < 2 or not calendar.events or step_seconds_of(index) > DAY_SECONDS:
        return calendar, ""
    spans = [(event.start, event.end) for event in calendar.events]
    ordinary = exclude_windows(history.astype("float64"), spans)
    events, read = [], []
    for event in calendar.events:
        declared = event.multiplier
        level = math.nan
        if declared is not None and event.end <= index[-1]:
            level = _window_level(history, ordinary, event)
        if declared is not None and math.isfinite(level) and _apart(level, declared):
            events.append(replace(event, multiplier=level))
            read.append(
                f"{event.name} {event.start:%Y-%m-%d %H:%M} ran at {level:.2g}x, "
                f"not the declared {declared:.2g}x"
            )
        else:
            events.append(event)
    if not read:
        return calendar, ""
    note = f"past event windows taken at the level they ran at: {listing(read)}"
    return replace(calendar, events=tuple(events)), note


def with_learned_events(history: pd.Series, calendar: Calendar) -> tuple[Calendar, str]:
    """Each event name without a multiplier whose past windows the history measures gets their
    level (the median over its windows) as the multiplier of all its windows; a level within
    :data:`LEAST_EFFECT` of ordinary load leaves the event to the models."""
    names = calendar.regressor_names()
    if not names or len(history) < 2:
        return calendar, ""
    index = pd.DatetimeIndex(history.index)
    if step_seconds_of(index) > DAY_SECONDS:
        return calendar, ""
    # the load outside every event (and holiday): what baselines come from
    spans = [(event.start, event.end) for event in calendar.events]
    ordinary = exclude_windows(history.astype("float64"), spans)
    levels = {}
    for name in names:
        windows = [e for e in calendar.regressor_events() if e.name == name]
        measured = [
            level
            for level in (_window_level(history, ordinary, window) for window in windows)
            if math.isfinite(level)
        ]
        if measured:
            level = float(np.median(measured))
            if abs(math.log(level)) >= math.log(LEAST_EFFECT):
                levels[name] = (level, len(measured))
    if not levels:
        return calendar, ""
    events = tuple(
        replace(event, multiplier=levels[event.name][0])
        if event.multiplier is None and event.name in levels
        else event
        for event in calendar.events
    )
    read = [
        f"{name} {level:.2g}x ({count} window{'' if count == 1 else 's'})"
        for name, (level, count) in sorted(levels.items())
    ]
    note = f"events read at the level their past windows ran at: {listing(read)}"
    return replace(calendar, events=events), note


def _apart(level: float, declared: float) -> bool:
    return abs(math.log(level / declared)) > math.log(MISMATCH)


def _window_level(history: pd.Series, ordinary: pd.Series, window: EventWindow) -> float:
    """The load over ``window``'s observed steps against the ordinary load at the same hours a
    week before and after (a day, where the history is under two weeks); NaN when the history
    holds too little of either."""
    index = pd.DatetimeIndex(history.index)
    inside = window.mask(index)
    if not inside.any():
        return math.nan
    steps = index[inside]
    span = index[-1] - index[0]
    offset = pd.Timedelta(days=7 if span >= pd.Timedelta(days=14) else 1)
    around = np.vstack([ordinary.reindex(steps + shift).to_numpy() for shift in (-offset, offset)])
    seen = np.isfinite(around).sum(axis=0)
    baseline = np.where(seen > 0, np.nansum(around, axis=0) / np.maximum(seen, 1), np.nan)
    actual = history.to_numpy(dtype="float64")[inside]
    both = np.isfinite(actual) & np.isfinite(baseline)
    if both.sum() < min(LEAST_STEPS, len(steps)) or baseline[both].sum() <= 0:
        return math.nan
    level = float(actual[both].sum() / baseline[both].sum())
    return level if level > 0 else math.nan
