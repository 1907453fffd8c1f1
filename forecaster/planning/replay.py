"""Turn a load trace of any step into the simulator's tick grid (15 s by default).

A trace value at ``ts`` is the mean load over ``[ts, ts + step)`` (the convention of the whole
project). Finer traces (1 s request counts) are averaged into ticks; coarser ones (5 min,
30 min, 1 h) are held flat over their steps, so no tick's load depends on a row stamped after
it. (Interpolated between the middles of their steps, as they first were, the load climbed
towards a row half a step before it: on hourly rows stepping from 50 to 500 the reactive HPA
was short 0.005 % of the time, against 0.977 % on the same load as 15-second rows.) Missing
steps are replayed as zero load: a gap is an outage, which is exactly what a reactive
autoscaler must recover from. A trace whose step changes (days of 5-minute rows retention
rolled up, then 1-minute rows) holds each row over its own step, not the trace's finest.
Called by the simulator, its CLI and API.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from forecaster.errors import InvalidInputError
from forecaster.timeutil import freq_alias, spoken_duration
from forecaster.training.history import infer_step_seconds, regularise

# the replay's tick unless one is asked for (the emulated HPA syncs every 15 s)
DEFAULT_TICK_SECONDS = 15.0
# about 4.7 years at 15 s: beyond it a replay is refused rather than exhausting memory
MAX_TICKS = 10_000_000
# each row counts until the next: rows further apart than a day are not a load trace
MAX_STEP_SECONDS = 86_400
# a row's own step is the median spacing of this many rows about it
OWN_STEP_ROWS = 11


@dataclass(frozen=True)
class Trace:
    """Load per tick: ``load[i]`` is the mean over ``[start + i*tick, start + (i+1)*tick)``."""

    start: pd.Timestamp
    tick_seconds: float
    load: np.ndarray
    source_step_seconds: float
    missing_ticks: int

    @property
    def index(self) -> pd.DatetimeIndex:
        return self.index_of(0, len(self.load))

    def index_of(self, begin: int, end: int) -> pd.DatetimeIndex:
        """Timestamps of ticks ``[begin, end)`` (without building the whole index)."""
        first = self.start + pd.Timedelta(seconds=begin * self.tick_seconds)
        return pd.date_range(first, periods=max(0, end - begin), freq=freq_alias(self.tick_seconds))

    def window(self, begin: int, end: int | None = None) -> Trace:
        """Ticks ``[begin, end)`` as a trace of their own."""
        return Trace(
            start=self.start + pd.Timedelta(seconds=begin * self.tick_seconds),
            tick_seconds=self.tick_seconds,
            load=self.load[begin:end],
            source_step_seconds=self.source_step_seconds,
            missing_ticks=self.missing_ticks,
        )


def to_ticks(points: pd.Series, *, tick_seconds: float = DEFAULT_TICK_SECONDS) -> Trace:
    """Replay grid of a ``timestamp -> load`` series (UTC index, any regular-ish step)."""
    points = points.dropna()
    if len(points) < 2:
        raise InvalidInputError("a trace needs at least two points")
    wrong = (points < 0) | ~np.isfinite(points.to_numpy(dtype="float64"))
    if wrong.any():  # named, so a broken export can be found (a counter reset, a delta)
        first = wrong.idxmax()
        raise InvalidInputError(
            f"trace values must be finite and not negative (the first of {int(wrong.sum())}: "
            f"{points[first]:g} at {first.isoformat()})"
        )
    try:
        step = infer_step_seconds(pd.DatetimeIndex(points.index))
    except ValueError as error:
        raise InvalidInputError(str(error)) from None
    if step > MAX_STEP_SECONDS:  # two points 100 days apart replayed 100 days after the last
        raise InvalidInputError(
            f"the trace's rows are {spoken_duration(step)} apart: a replay needs a row a day "
            "or more often"
        )
    start = pd.Timestamp(points.index[0])
    span = (pd.Timestamp(points.index[-1]) - start).total_seconds() + step
    if span / tick_seconds > MAX_TICKS:
        raise InvalidInputError(
            f"the trace spans {span / 86_400:.4g} days: more than {MAX_TICKS} ticks of "
            f"{tick_seconds:g}s; replay a shorter window or a longer tick"
        )
    if step < tick_seconds:
        ticks = held_over_own_steps(regularise(points, tick_seconds, anchor=start))
        missing = int(ticks.isna().sum())
        return Trace(start, tick_seconds, ticks.fillna(0.0).to_numpy(), step, missing)
    # the trace's own grid, each row counting for its nearest step: on a grid through the first
    # row, a row stamped a second earlier than that one fell into the step before, leaving its
    # own step empty (replayed as an outage)
    steps = held_over_own_steps(regularise(points, step))
    start = pd.Timestamp(steps.index[0])
    missing_steps = steps.isna().to_numpy()
    values = steps.fillna(0.0).to_numpy()
    n_ticks = int(round(len(values) * step / tick_seconds))
    load = _held_flat(values, step, n_ticks, tick_seconds)
    missing = int(missing_steps.sum() * round(step / tick_seconds))
    return Trace(start, tick_seconds, load, step, missing)


def held_over_own_steps(grid: pd.Series) -> pd.Series:
    """``grid`` (one value per step, NaN where no row fell) with each row's value held over
    the empty steps after it, up to the row's own step: the median spacing of the rows about
    it. Read on the finest step alone, a trace of 5-minute rows (retention's roll-up) then
    1-minute rows replayed four minutes of every five as outages (630 oracle scale events on
    the saw-tooth); a row missing among rows of one step is still a gap. The last row is held
    over its own step too."""
    observed = np.flatnonzero(grid.notna().to_numpy())
    spacing = pd.Series(np.diff(observed, append=np.nan))  # to the next row; none after the last
    own_step = spacing.rolling(OWN_STEP_ROWS, center=True, min_periods=1).median()
    own = np.maximum(1, np.round(own_step.fillna(1).to_numpy())).astype("int64")
    length = max(len(grid), int(observed[-1] + own[-1]))
    positions = np.arange(length)
    row = np.searchsorted(observed, positions, side="right") - 1  # the row each step follows
    held = positions - observed[row] < own[row]
    values = np.where(held, grid.to_numpy(dtype="float64")[observed[row]], np.nan)
    index = pd.date_range(grid.index[0], periods=length, freq=grid.index.freq)
    return pd.Series(values, index=index, name=grid.name)


def _held_flat(values: np.ndarray, step: float, n_ticks: int, tick: float) -> np.ndarray:
    """Each tick's mean of the step function that holds ``values[k]`` over step ``k``: the
    integral of a step function is piecewise linear, so interpolating it at the tick edges
    is exact (a tick straddling a step edge takes both steps' shares)."""
    step_edges = np.arange(len(values) + 1) * step
    integral = np.concatenate([[0.0], np.cumsum(values * step)])
    tick_edges = np.minimum(np.arange(n_ticks + 1) * tick, step_edges[-1])
    return np.diff(np.interp(tick_edges, step_edges, integral)) / tick


def step_means(trace: Trace, step_seconds: float) -> pd.Series:
    """Mean load per plan step (whole steps from the trace's start): the history a forecaster
    sees. A trailing partial step is left out."""
    per_step = round(step_seconds / trace.tick_seconds)
    if per_step < 1 or abs(per_step * trace.tick_seconds - step_seconds) > 1e-6:
        raise InvalidInputError(
            f"plan step {step_seconds:g}s must be a whole number of {trace.tick_seconds:g}s ticks"
        )
    whole = len(trace.load) // per_step
    means = trace.load[: whole * per_step].reshape(whole, per_step).mean(axis=1)
    index = pd.date_range(trace.start, periods=whole, freq=freq_alias(step_seconds))
    return pd.Series(means, index=index, name="value")
