"""The forecasting model interface every model in this package implements.

``fit(history)`` takes a regularly spaced ``pd.Series`` (UTC ``DatetimeIndex`` with a freq,
NaN where a point is missing) and returns ``self``; ``predict(horizon, quantiles)`` returns a
frame indexed by the next ``horizon`` timestamps with one column per quantile (``p50``, ``p95``).
Fitted state lives in trailing-underscore attributes, as in scikit-learn and statsforecast.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import ClassVar, Self

import numpy as np
import pandas as pd

from models.calendar import Calendar

DAY_SECONDS = 86_400
WEEK_SECONDS = 7 * DAY_SECONDS
DEFAULT_QUANTILES: tuple[float, ...] = (0.5, 0.9, 0.95, 0.99)


# the value shares of a step that count as whole requests (see log_unit), and the share of the
# values that must be whole multiples of one for it to be the unit
LOG_UNIT_DIVISORS = (1, 2, 3, 4, 5, 6, 10, 12, 15, 20, 30, 60, 120, 300, 900, 1800, 3600)
LOG_UNIT_SHARE = 0.99


def log_unit(values: pd.Series, step_seconds: float) -> float:
    """The unit ``u`` of the log scale log(1 + y / u): one request. The largest 1/d (d in
    :data:`LOG_UNIT_DIVISORS` up to the step, or the step itself) that 99 % of the values are
    whole multiples of, else one request a step as a rate a second (1 / step_seconds). Counts
    give 1, as before; counts a second over 5 minutes are multiples of 1/300, and 5-minute
    counts averaged onto 15 minutes of 1/3: each is modelled as the counts it comes from. With
    u = 1 for all, requests a second of a quiet service (0.05 = 15 requests in 5 minutes) were
    modelled nearly additively, unlike the same load counted (QA: a trace given per second was
    forecast 30 % higher by MSTL). Read off most values, not the least gap between any two: one
    averaged bucket among counts had moved the whole forecast (review)."""
    observed = values.dropna().to_numpy(dtype="float64")
    finest = max(round(step_seconds), 1)
    if len(observed) == 0:
        return 1.0
    for divisor in sorted({d for d in LOG_UNIT_DIVISORS if d < finest} | {finest}):
        scaled = observed * divisor
        whole = np.abs(scaled - np.round(scaled)) <= 1e-9 * np.maximum(1.0, np.abs(scaled))
        if whole.mean() >= LOG_UNIT_SHARE:
            return 1.0 / divisor
    return 1.0 / finest


def quantile_name(q: float) -> str:
    """Column name of a quantile: 0.5 -> ``p50``, 0.975 -> ``p97.5``."""
    pct = q * 100
    return f"p{round(pct)}" if abs(pct - round(pct)) < 1e-9 else f"p{pct:g}"


class HistoryTooShortError(ValueError):
    """The history is too short for this model yet: in a backtest fold, a wait on the
    cold-start ladder (the candidate is skipped), not a broken model."""


def step_seconds_of(index: pd.DatetimeIndex) -> float:
    """The spacing of a regular index, in seconds."""
    if index.freq is not None:
        return float(pd.Timedelta(index.freq).total_seconds())
    if len(index) < 2:
        raise ValueError("history needs a frequency or at least two points")
    return float(np.median(np.diff(index.as_unit("ns").asi8)) / 1e9)


def season_steps(step_seconds: float, period_seconds: int) -> int:
    """Number of steps in a seasonal period (daily/weekly), at least 1."""
    return max(1, round(period_seconds / step_seconds))


def fill_gaps(values: np.ndarray, season: int) -> np.ndarray:
    """Fill NaNs: from one season earlier where known (outages keep their shape), else linearly."""
    filled = np.asarray(values, dtype="float64").copy()
    if not np.isnan(filled).any():
        return filled
    if 1 < season < len(filled):
        for _ in range(
            4
        ):  # a few passes cover multi-season outages without a Python loop per point
            missing = np.isnan(filled)
            missing[:season] = False
            if not missing.any():
                break
            shifted = np.roll(filled, season)
            filled[missing] = shifted[missing]
    missing = np.isnan(filled)
    if missing.all():
        return np.zeros_like(filled)
    if missing.any():
        positions = np.arange(len(filled))
        filled[missing] = np.interp(positions[missing], positions[~missing], filled[~missing])
    return filled


class ForecastModel(ABC):
    """Base class: validates history, remembers the grid, builds the output frame."""

    alias: ClassVar[str]
    # history a model needs before it is worth backtesting (the cold-start ladder reads it)
    min_history_seconds: ClassVar[float] = 0.0
    # whether the model learns declared events without a multiplier (as regressors) itself
    learns_events: ClassVar[bool] = False
    # backtests refit a model this often as their origins move on (as the train job would);
    # None: ``update`` keeps the model current, so one fit at the first origin serves them all
    backtest_refit_seconds: ClassVar[float | None] = None
    # fit on log(1 + y) when the history has no negative values: traffic's daily swing grows
    # with its level (twice the users, twice the peak-to-trough), which a season added to
    # the level misses after a shift; quantiles survive the monotone back-transform
    log_scale: ClassVar[bool] = False
    # a gap at the end longer than this is trimmed: the model fits on the history up to its
    # last observed value and forecasts the missing steps after it too (dropped from the
    # output), as a state-space model skips the updates it has no observation for: a gap at
    # the end filled from the day before was read as the latest level and trend (Holt-Winters,
    # 15 min missing at 5 minutes: next day's mean 98 -> 81). Longer for models that read past
    # missing steps themselves, up to how far they can; infinite for wrappers of fitted models
    reads_missing_end_seconds: ClassVar[float] = 0.0

    # context the training engine may give before fitting (see :meth:`configure`)
    calendar: Calendar = Calendar()
    horizon_hint: int | None = None

    step_seconds_: float
    last_timestamp_: pd.Timestamp
    n_obs_: int
    # steps missing after the last observed value, forecast and dropped (a gap longer than
    # ``reads_missing_end_seconds``)
    missing_end_: int = 0

    def configure(self, *, calendar: Calendar | None = None, horizon: int | None = None) -> Self:
        """Tell the model the holidays/events it may use and the horizon it will be asked for.

        Models that ignore either simply keep them; direct multi-step models (LightGBM) learn
        horizons up to ``horizon``.
        """
        if calendar is not None:
            self.calendar = calendar
        if horizon is not None:
            self.horizon_hint = horizon
        return self

    def fit(self, history: pd.Series) -> Self:
        """Fit on a regular series; subclasses implement :meth:`_fit` on the gap-filled values."""
        self._remember_grid(history)
        values = self._observed_end(history.astype("float64"))
        self.logged_ = self.log_scale and bool((values.dropna() >= 0).all())
        self.log_unit_ = log_unit(values, self.step_seconds_) if self.logged_ else 1.0
        self._fit(self._model_scale(values))
        return self

    def update(self, history: pd.Series) -> Self:
        """Condition on newer history, keeping the fitted parameters where the model allows.

        The scheduled forecast job and the replay simulator call this between refits; the
        default simply refits, which is right for cheap models. Models that can do better
        override :meth:`_update`.
        """
        if not hasattr(self, "step_seconds_"):
            return self.fit(history)
        self._remember_grid(history)
        values = self._observed_end(history.astype("float64"))
        if self._logged() and bool((values.dropna() < 0).any()):
            return self.fit(history)  # negative values: the log scale no longer fits
        self._update(self._model_scale(values))
        return self

    def _observed_end(self, values: pd.Series) -> pd.Series:
        """``values`` up to the last observed one when the gap after it is longer than the
        model reads through (``reads_missing_end_seconds``), else all of them, recording how
        many steps are left out (``missing_end_``)."""
        observed = np.flatnonzero(values.notna().to_numpy())
        last = int(observed[-1])
        if (len(values) - 1 - last) * self.step_seconds_ <= self.reads_missing_end_seconds:
            last = len(values) - 1
        self.missing_end_ = len(values) - 1 - last
        return values.iloc[: last + 1]

    def _logged(self) -> bool:
        return getattr(self, "logged_", False)  # models stored before the log scale: False

    def _model_scale(self, values: pd.Series) -> pd.Series:
        return np.log1p(values / self._log_unit()) if self._logged() else values

    def _log_unit(self) -> float:
        return float(getattr(self, "log_unit_", 1.0))  # models stored before it: counts

    def forecast_parts(
        self, horizon: int, quantiles: tuple[float, ...]
    ) -> tuple[np.ndarray, dict[float, np.ndarray]]:
        """The median path and per-quantile offsets on the data's own scale (wrappers that
        combine or recalibrate models read these rather than :meth:`predict`'s frame)."""
        skip = self.missing_end_  # from the last observed value to the last step
        median, offsets = self._predict(skip + horizon, quantiles)
        median, offsets = median[skip:], {q: offset[skip:] for q, offset in offsets.items()}
        if not self._logged():
            return median, offsets
        unit = self._log_unit()
        natural = np.expm1(median) * unit
        return natural, {
            q: np.expm1(median + offset) * unit - natural for q, offset in offsets.items()
        }

    def _remember_grid(self, history: pd.Series) -> None:
        """Validate the history and record its step, last timestamp and observed count."""
        if not isinstance(history.index, pd.DatetimeIndex):
            raise TypeError("history must have a DatetimeIndex")
        if len(history) == 0:
            raise ValueError("history is empty")
        self.step_seconds_ = step_seconds_of(history.index)
        self.last_timestamp_ = history.index[-1]
        self.n_obs_ = int(history.notna().sum())
        if self.n_obs_ == 0:
            raise ValueError("history has no observed values")

    def _remember_clock(self) -> None:
        """Fix the clock the model reads days on to its calendar's, when fitting
        (:meth:`_clock_offset`)."""
        self.clock_zone_ = self.calendar.timezone
        self.clock_of_ = self.calendar.clock_of

    def _clock_offset(self, latest: pd.Timestamp) -> pd.Timedelta:
        """How far the clock of a history ending at ``latest`` stands ahead of UTC, on the zone
        and reading the model was fitted with (``Calendar.clock_offset``), at each fit, update
        and forecast alike: a calendar given later (an ensemble's, to a global model fitted
        without one) must not move the days off what the model learnt."""
        zone, since = self._clock_zone(), getattr(self, "clock_of_", None)
        return Calendar(timezone=zone, clock_of=since).clock_offset(latest)

    def _clock_zone(self) -> str | None:
        return getattr(self, "clock_zone_", None)  # models stored before it: UTC

    def _update(self, history: pd.Series) -> None:
        """Condition on newer history; the default re-estimates everything."""
        self._fit(history)

    @property
    def update_keeps_fit(self) -> bool:
        """Whether :meth:`update` keeps fitted parameters (which then age) instead of refitting."""
        return type(self)._update is not ForecastModel._update

    def rolled_medians(self, history: pd.Series, origins: np.ndarray, horizon: int) -> np.ndarray:
        """Medians (``origins x horizon``) forecast from each origin in turn, the model already
        standing at ``origins[0]`` and updated at each later one: what a backtest and the
        short-horizon calibration need. Models that can read every origin at once override it.
        """
        medians = np.full((len(origins), horizon), np.nan)
        for row, origin in enumerate(origins):
            if row:
                self.update(history.iloc[: int(origin) + 1])
            medians[row] = self.predict(horizon, (0.5,))["p50"].to_numpy()
        return medians

    def predict(self, horizon: int, quantiles: Sequence[float] = DEFAULT_QUANTILES) -> pd.DataFrame:
        """Quantile forecasts for the next ``horizon`` steps, never negative."""
        if horizon < 1:
            raise ValueError("horizon must be at least one step")
        median, offsets = self.forecast_parts(horizon, tuple(quantiles))
        frame = pd.DataFrame(index=self.future_index(horizon))
        for q in quantiles:
            frame[quantile_name(q)] = np.maximum(median + offsets[q], 0.0)
        # quantile columns must not cross, whatever the model's own bands did
        ordered = np.sort(frame.to_numpy(), axis=1)
        if list(quantiles) == sorted(quantiles):
            frame.loc[:, :] = ordered
        return frame

    def extra_spread(self, index: pd.DatetimeIndex) -> np.ndarray:
        """One standard deviation of error, per future step of ``index``, that a backtest of
        this model cannot show (and calibrated bands add): none, but for wrappers that forecast
        what the backtest never saw."""
        return np.zeros(len(index))

    def future_index(self, horizon: int) -> pd.DatetimeIndex:
        """Timestamps of the next ``horizon`` steps after the last observed one."""
        step = pd.Timedelta(seconds=self.step_seconds_)
        return pd.date_range(self.last_timestamp_ + step, periods=horizon, freq=step)

    @abstractmethod
    def _fit(self, history: pd.Series) -> None:
        """Fit on the float history (NaNs allowed; use :func:`fill_gaps` as suits the model)."""

    @abstractmethod
    def _predict(
        self, horizon: int, quantiles: tuple[float, ...]
    ) -> tuple[np.ndarray, dict[float, np.ndarray]]:
        """The median path and, per quantile, the offset to add to it."""
