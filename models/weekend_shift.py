"""Weekends moved onto the weekdays' level, and a model that forecasts them back.

With about a week of history no backtest can weigh a weekly model, and the daily models
forecast Saturday like Friday and Monday like Sunday. When the history shows that its weekends
stand apart (``forecaster.training.weekend``), training moves each Saturday and Sunday step by
that day's mean difference from the weekdays at that time of day, so the daily models learn
one kind of day, and :class:`WeekendShifted` adds the difference back to the weekend steps it
forecasts, its bands widened by how far the weekend days strayed from their mean. Half-hourly
electricity demand from a week of history, averaged with last week's same day as before: 2.6x
the error of last week's same day alone, 1.1x moved (docs/forecasting.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import tzinfo

import numpy as np
import pandas as pd

from models.base import DAY_SECONDS, ForecastModel, step_seconds_of
from models.calendar import Calendar

# the weekend's difference is averaged over about this much of the clock around each slot:
# a weekend or two give few values per slot
SMOOTHING_SECONDS = 3_600
SATURDAY, SUNDAY = 5, 6


@dataclass(frozen=True)
class WeekendShift:
    """Saturday's and Sunday's mean difference from the weekdays per slot of the day
    (``offsets``: two rows of ``slot_seconds``-long slots), on ``zone``'s clock (an IANA name;
    None: UTC)."""

    offsets: np.ndarray
    spread: np.ndarray  # how far weekend days stray from the weekends' mean, per slot: what
    # one day's level is unsure by, an error the backtest of weekdays cannot show
    slot_seconds: float
    zone: str | None = None
    # how far one day's level lies from another's of its kind (a log ratio, from
    # ``forecaster.training.weekend.day_level_spread``), and the weekdays' mean per slot it
    # scales: the moved weekend copies the weekdays' level, so the backtest residuals the bands
    # are calibrated on never show a new day's level straying
    day_spread: float = 0.0
    level: np.ndarray | None = None

    @classmethod
    def of(
        cls, history: pd.Series, zone: str | None = None, day_spread: float = 0.0
    ) -> WeekendShift:
        """Estimated from a regular history of steps under a day holding weekdays and weekend
        days. Saturday and Sunday each get their own offsets (on half-hourly electricity
        demand Sunday runs well below Saturday); a slot one of them was not observed in takes
        the weekend's, and a slot no weekend or no weekday was observed in moves nothing."""
        index = pd.DatetimeIndex(history.index)
        slots = max(1, round(DAY_SECONDS / step_seconds_of(index)))
        day, slot = _day_and_slot(index, Calendar(timezone=zone).clock_at(index[-1]), slots)
        values = history.to_numpy(dtype="float64")
        observed = np.isfinite(values)
        width = max(1, round(SMOOTHING_SECONDS / (DAY_SECONDS / slots))) // 2 * 2 + 1

        def mean_by_slot(days: np.ndarray, of: np.ndarray) -> np.ndarray:
            chosen = days & observed
            total = np.bincount(slot[chosen], weights=of[chosen], minlength=slots)
            count = np.bincount(slot[chosen], minlength=slots).astype("float64")
            total, count = _circular_sum(total, width), _circular_sum(count, width)
            return np.divide(total, count, out=np.full(slots, np.nan), where=count > 0)

        weekend = day >= SATURDAY
        weekday_mean, weekend_mean = mean_by_slot(~weekend, values), mean_by_slot(weekend, values)
        weekend_offsets = np.nan_to_num(weekend_mean - weekday_mean)
        own = [mean_by_slot(day == each, values) - weekday_mean for each in (SATURDAY, SUNDAY)]
        offsets = np.vstack([np.where(np.isfinite(o), o, weekend_offsets) for o in own])
        strays = (values - weekend_mean[slot]) ** 2
        spread = np.sqrt(np.nan_to_num(mean_by_slot(weekend, strays)))
        return cls(
            offsets=offsets,
            spread=spread,
            slot_seconds=DAY_SECONDS / slots,
            zone=zone,
            day_spread=day_spread,
            level=np.abs(np.nan_to_num(weekday_mean)),
        )

    def at(self, index: pd.DatetimeIndex, latest: pd.Timestamp) -> np.ndarray:
        """The amount each step of ``index`` is moved by: its day's offset for its slot on
        Saturdays and Sundays, 0 on weekdays. ``index`` is on the clock of a history ending at
        ``latest`` (a forecast's steps on the clock of the history before them)."""
        day, slot = self._day_and_slot(index, latest)
        row = np.clip(day - SATURDAY, 0, 1)
        return np.where(day >= SATURDAY, self.offsets[row, slot], 0.0)

    def spread_at(self, index: pd.DatetimeIndex, latest: pd.Timestamp) -> np.ndarray:
        """The ``spread`` of each step's slot on weekend days, 0 on weekdays, and on every day
        the weekdays' level times ``day_spread`` (``latest``: as :meth:`at`)."""
        day, slot = self._day_and_slot(index, latest)
        weekend = np.where(day >= SATURDAY, self.spread[slot], 0.0)
        level = getattr(self, "level", None)  # shifts stored before it: None
        if level is None:
            return weekend
        return np.hypot(weekend, level[slot] * getattr(self, "day_spread", 0.0))

    def removed(self, history: pd.Series) -> pd.Series:
        """``history`` (on the clock of its last row) with its weekends moved onto the
        weekdays' level."""
        index = pd.DatetimeIndex(history.index)
        return history - self.at(index, index[-1])

    def _day_and_slot(
        self, index: pd.DatetimeIndex, latest: pd.Timestamp
    ) -> tuple[np.ndarray, np.ndarray]:
        clock = Calendar(timezone=self.zone).clock_at(latest)
        return _day_and_slot(index, clock, round(DAY_SECONDS / self.slot_seconds))


class WeekendShifted(ForecastModel):
    """A model fitted on a history whose weekends were moved (:meth:`WeekendShift.removed`):
    it reads newer history moved the same way and forecasts weekend steps moved back. Its bands
    are the base model's, calibrated on the moved history."""

    alias = "weekend_shifted"
    reads_missing_end_seconds = float("inf")  # its base model does

    def __init__(self, base: ForecastModel, shift: WeekendShift) -> None:
        """``base`` already fitted on a moved history, when it has been fitted at all."""
        self.base = base
        self.shift = shift
        if hasattr(base, "step_seconds_"):
            self.step_seconds_ = base.step_seconds_
            self.last_timestamp_ = base.last_timestamp_
            self.n_obs_ = base.n_obs_

    def _fit(self, history: pd.Series) -> None:
        self.base.fit(self.shift.removed(history))

    def _update(self, history: pd.Series) -> None:
        self.base.update(self.shift.removed(history))

    def _predict(
        self, horizon: int, quantiles: tuple[float, ...]
    ) -> tuple[np.ndarray, dict[float, np.ndarray]]:
        median, offsets = self.base.forecast_parts(horizon, quantiles)
        moved_back = self.shift.at(self.future_index(horizon), self.last_timestamp_)
        return median + moved_back, offsets

    def extra_spread(self, index: pd.DatetimeIndex) -> np.ndarray:
        """On weekend steps, how far the weekend days strayed from their mean."""
        spread = self.shift.spread_at(index, self.last_timestamp_)
        return np.hypot(self.base.extra_spread(index), spread)


def _day_and_slot(
    index: pd.DatetimeIndex, clock: tzinfo | None, slots: int
) -> tuple[np.ndarray, np.ndarray]:
    """Each step's day of the week (Monday 0) and which of a day's ``slots`` it falls in, on
    ``clock`` (a fixed offset, ``Calendar.clock_at``; None: UTC)."""
    local = index.tz_convert(clock) if clock else index
    since_midnight = (local - local.normalize()).total_seconds().to_numpy()
    slot = np.floor(since_midnight * slots / DAY_SECONDS + 1e-9).astype(int)
    return np.asarray(local.day_of_week), np.minimum(slot, slots - 1)


def _circular_sum(values: np.ndarray, width: int) -> np.ndarray:
    """Each slot's sum over the ``width`` slots centred on it, the day wrapping round."""
    half = width // 2
    padded = np.concatenate([values[-half:], values, values[:half]]) if half else values
    return np.convolve(padded, np.ones(width), mode="valid")
