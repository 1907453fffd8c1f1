"""Features for direct multi-step forecasting with gradient boosting, free of look-ahead.

One row describes "standing at origin ``o`` with data up to and including ``o``, predict step
``o + k``". Every value feature reads an index ``<= o`` (lags are taken a whole number of days
or weeks back, far enough to be known at the origin), so a row never sees the future it
predicts. Values are divided by the series' recent level at the origin, which lets one global
model learn from many series of different sizes. What is read a day or more back, and the
scale, come from the despiked series (``models.naive.despiked``), so a one-off spike is neither
repeated the next day nor swells every feature's scale. Used by ``models.lightgbm_model``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from models.base import DAY_SECONDS, WEEK_SECONDS, fill_gaps, season_steps
from models.naive import despiked

FEATURE_NAMES: tuple[str, ...] = (
    "hours_ahead",
    "time_of_day",
    "day_of_week",
    "holiday",
    "last",
    "level_short",
    "level_hour",
    "level_6h",
    "level_day",
    "day_lag",
    "day_lag_smooth",
    "day_average",
    "week_lag",
    "week_average",
    "day_change",
)


@dataclass(frozen=True)
class Layout:
    """Steps per day and week, and the trailing windows (in steps) for level features."""

    step_seconds: float
    day: int
    week: int
    short: int
    hour: int
    six_hours: int
    smooth: int

    @classmethod
    def for_step(cls, step_seconds: float) -> Layout:
        def steps(seconds: float) -> int:
            return max(1, round(seconds / step_seconds))

        return cls(
            step_seconds=step_seconds,
            day=season_steps(step_seconds, DAY_SECONDS),
            week=season_steps(step_seconds, WEEK_SECONDS),
            short=steps(900),
            hour=steps(3600),
            six_hours=steps(6 * 3600),
            smooth=steps(DAY_SECONDS / 96),
        )


def trailing_mean(values: np.ndarray, window: int) -> np.ndarray:
    """Mean of the last ``window`` observed values up to each index (NaN-aware, no look-ahead)."""
    observed = ~np.isnan(values)
    sums = np.concatenate([[0.0], np.cumsum(np.where(observed, values, 0.0))])
    counts = np.concatenate([[0], np.cumsum(observed)])
    ends = np.arange(1, len(values) + 1)
    starts = np.maximum(ends - window, 0)
    n = counts[ends] - counts[starts]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n > 0, (sums[ends] - sums[starts]) / np.maximum(n, 1), np.nan)


def seasonal_average(values: np.ndarray, period: int, count: int) -> np.ndarray:
    """At each index, the mean of the value there and ``count - 1`` periods before (NaN-aware)."""
    n = len(values)
    stacked = np.full((count, n), np.nan)
    for j in range(count):  # a handful of shifted copies, not a loop over points
        shift = j * period
        if shift < n:
            stacked[j, shift:] = values[: n - shift]
    observed = ~np.isnan(stacked)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(
            observed.any(axis=0),
            np.nansum(stacked, axis=0) / np.maximum(observed.sum(axis=0), 1),
            np.nan,
        )


@dataclass
class Prepared:
    """Per-index arrays of one series from which rows are gathered."""

    values: np.ndarray
    settled: np.ndarray  # despiked: what lags a day or a week back read
    start_seconds: float
    smooth: np.ndarray
    level_short: np.ndarray
    level_hour: np.ndarray
    level_6h: np.ndarray
    level_day: np.ndarray
    day_average: np.ndarray
    week_average: np.ndarray
    scale: np.ndarray
    holidays: np.ndarray  # sorted epoch days that are public holidays


def prepare(
    values: np.ndarray, start_seconds: float, layout: Layout, holiday_days: np.ndarray
) -> Prepared:
    """Precompute the trailing statistics of a series once, so rows are cheap gathers."""
    values = np.asarray(values, dtype="float64")
    # one-off spikes and drops must not be carried a day or a week on, nor swell the scale
    settled = despiked(values, layout.day, layout.step_seconds)
    # levels over hours and days read gaps filled from the day before: skipped, a missing night
    # hour raised the day's level by 3 % and the trees read a day-on-day change into it (a
    # 09:00 ramp forecast at 20 and 66 against 101 for two days)
    settled = np.where(np.isnan(values), fill_gaps(settled, layout.day), settled)
    smooth = trailing_mean(settled, layout.smooth)
    level_week = trailing_mean(np.abs(settled), layout.week)
    # a week with no data keeps the last level seen: a scale of 1 put every forecast from
    # inside a trailing week-long gap near zero (1.1 a day against 1,700)
    carried = pd.Series(level_week).ffill().to_numpy()
    scale = np.where(np.isfinite(carried) & (carried > 1e-9), carried, 1.0)
    return Prepared(
        values=values,
        settled=settled,
        start_seconds=start_seconds,
        smooth=smooth,
        level_short=trailing_mean(values, layout.short),
        level_hour=trailing_mean(values, layout.hour),
        level_6h=trailing_mean(settled, layout.six_hours),
        level_day=trailing_mean(settled, layout.day),
        day_average=seasonal_average(smooth, layout.day, 7),
        week_average=seasonal_average(smooth, layout.week, 4),
        scale=scale,
        holidays=np.asarray(holiday_days, dtype="int64"),
    )


def _take(array: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """``array[positions]`` with NaN where a position falls before the start."""
    valid = positions >= 0
    out = np.full(len(positions), np.nan)
    out[valid] = array[positions[valid]]
    return out


def rows(
    prepared: Prepared, layout: Layout, origins: np.ndarray, horizons: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Feature matrix (one row per origin/horizon pair) and the scale of each row.

    Every value read here sits at an index ``<= origin``; only the calendar of the target
    step looks forward, and the calendar is known in advance.
    """
    origins = np.asarray(origins, dtype="int64")
    horizons = np.asarray(horizons, dtype="int64")
    targets = origins + horizons
    scale = prepared.scale[origins]
    seconds = prepared.start_seconds + targets * layout.step_seconds
    days = np.floor(seconds / DAY_SECONDS)
    day_back = targets - layout.day * np.ceil(horizons / layout.day).astype("int64")
    week_back = targets - layout.week * np.ceil(horizons / layout.week).astype("int64")
    settled = getattr(prepared, "settled", prepared.values)  # models stored before: raw values
    day_lag = _take(settled, day_back)
    columns = [
        horizons * layout.step_seconds / 3600.0,
        (seconds - days * DAY_SECONDS) / DAY_SECONDS,
        (days + 3) % 7,  # 1970-01-01 was a Thursday; Monday is 0
        np.isin(days.astype("int64"), prepared.holidays).astype("float64"),
        prepared.values[origins] / scale,
        prepared.level_short[origins] / scale,
        prepared.level_hour[origins] / scale,
        prepared.level_6h[origins] / scale,
        prepared.level_day[origins] / scale,
        day_lag / scale,
        _take(prepared.smooth, day_back) / scale,
        _take(prepared.day_average, day_back) / scale,
        _take(settled, week_back) / scale,
        _take(prepared.week_average, week_back) / scale,
        (prepared.level_day[origins] - _take(prepared.level_day, origins - layout.day)) / scale,
    ]
    return np.column_stack(columns), scale


def training_pairs(
    n: int, layout: Layout, horizon: int, max_rows: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Origin/horizon pairs to learn from: origins after a warm-up, horizons up to ``horizon``,
    more of them near the origin (where errors differ most), all targets inside the history."""
    warm_up = min(layout.week, n // 3)
    origins = np.arange(warm_up, n - 1)
    if len(origins) == 0:
        return np.empty(0, dtype="int64"), np.empty(0, dtype="int64")
    per_origin = max(1, min(horizon, max_rows // len(origins) + 1))
    size = min(max_rows, len(origins) * per_origin)
    chosen = rng.choice(origins, size=size, replace=size > len(origins))
    reach = np.minimum(horizon, n - 1 - chosen)
    uniform = rng.random(size)
    # half the horizons uniform, half log-uniform: short horizons are the hardest to get right
    log_scaled = np.exp(uniform * np.log(np.maximum(reach, 1)))
    spread = np.where(rng.random(size) < 0.5, uniform * reach, log_scaled)
    horizons = np.clip(np.ceil(spread).astype("int64"), 1, reach)
    return chosen, horizons
