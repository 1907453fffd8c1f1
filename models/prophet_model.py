"""Prophet: daily and weekly seasonality, country (and regional) holidays and declared events as
regressors.

With two weeks of history there are two daily cycles, one for weekdays and one for weekends.

Prophet fits a curve (MAP, no sampling: MCMC cost 40-140x for no accuracy gain here) on blocks
of at most 48 a day and the last few months, which keeps a fit under a second or two. Its own
intervals are badly calibrated on traffic, so the engine replaces them with conformal bands.
Non-negative traffic is modelled on log(1 + y) (``ForecastModel.log_scale``: multiplicative
seasonality), where the forecast holds the last fitted trend value rather than compound it.
"""

from __future__ import annotations

import contextlib
import logging
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from models.base import DAY_SECONDS, WEEK_SECONDS, ForecastModel, season_steps
from models.calendar import holiday_region
from models.naive import empirical_offsets
from models.resample import blocks_needed, coarse_factor, coarsen, refine

MAX_BLOCKS_PER_DAY = 48
MAX_HISTORY_DAYS = 84
DAILY_ORDER = 4  # Prophet's own default for a daily cycle
DAY_KINDS = ("weekday", "weekend")


def _quiet() -> None:
    """cmdstanpy and prophet log every fit at INFO; keep the CLI and the job log readable."""
    from cmdstanpy.utils.logging import get_logger

    get_logger().setLevel(logging.ERROR)  # creates its handler first, then we quieten it
    for name in ("prophet", "prophet.plot"):
        logging.getLogger(name).setLevel(logging.ERROR)


def _with_day_kinds(frame: pd.DataFrame) -> pd.DataFrame:
    """The condition columns of the weekday and weekend daily cycles (Saturday and Sunday, on
    the clock of ``ds``); a model fitted on under two weeks, or stored before they existed,
    ignores them."""
    weekend = np.asarray(pd.DatetimeIndex(frame["ds"]).day_of_week >= 5)
    return frame.assign(weekday=~weekend, weekend=weekend)


class Prophet(ForecastModel):
    """Meta's Prophet on aggregated history; events without a multiplier become regressors."""

    alias = "prophet"
    log_scale = True
    min_history_seconds = 2 * DAY_SECONDS
    learns_events = True

    def _fit(self, history: pd.Series) -> None:
        from prophet import Prophet as ProphetModel

        _quiet()
        day = season_steps(self.step_seconds_, DAY_SECONDS)
        self.factor_ = coarse_factor(day, MAX_BLOCKS_PER_DAY)
        keep = MAX_HISTORY_DAYS * day
        values = history.to_numpy(dtype="float64")[-keep:]
        coarse = coarsen(values, self.factor_)
        block = pd.Timedelta(seconds=self.step_seconds_ * self.factor_)
        # a block is stamped with its first fine step
        first = history.index[-1] - (len(coarse) * self.factor_ - 1) * pd.Timedelta(
            seconds=self.step_seconds_
        )
        stamps = pd.date_range(first, periods=len(coarse), freq=block)
        span = len(values) * self.step_seconds_
        # Prophet reads days (the weekend's, the holidays') off ds: the service's own clock,
        # where in UTC a Tokyo weekend began at 09:00 on Saturday (QA)
        self._remember_clock()
        frame = pd.DataFrame({"ds": self._local(stamps), "y": coarse})
        # one regressor per event name that occurs in the history (else nothing to learn from)
        self.regressors_ = [
            name
            for name in self.calendar.regressor_names()
            if self.calendar.regressor_flags(name, stamps).any()
        ]
        frame = _with_day_kinds(self._with_regressors(frame, stamps))
        weekly = span >= 2 * WEEK_SECONDS
        model = ProphetModel(
            daily_seasonality=span >= 2 * DAY_SECONDS and not weekly,
            weekly_seasonality=weekly,
            yearly_seasonality=False,
            uncertainty_samples=0,
            holidays=self._subdivision_holidays(stamps),
        )
        if weekly:
            # weekends have their own daily shape (later, flatter peaks), which one daily cycle
            # times a weekly one cannot draw: on the shared traces' development window Prophet's
            # 24 h error fell from 0.89 to 0.78 of seasonal-naive's (taylor 1.19 -> 0.82)
            for kind in DAY_KINDS:
                model.add_seasonality(
                    f"daily_{kind}", period=1, fourier_order=DAILY_ORDER, condition_name=kind
                )
        for i in range(len(self.regressors_)):
            model.add_regressor(f"event_{i}")
        # prophet trips pandas deprecation warnings, and says on stderr that some countries'
        # holidays are known only for some years (India's from 2001 to 2035)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if self.calendar.holiday_country:
                region = holiday_region(self.calendar.holiday_country)
                if region.subdivision is None:  # a subdivision's are all in the frame
                    model.add_country_holidays(country_name=region.country)
            try:
                model.fit(frame.dropna(subset=["y"]))
            finally:
                remove_run_files(model)
            in_sample = model.predict(frame)
        fitted = in_sample["yhat"].to_numpy()
        # on the log scale a trend compounds (a month of growth, forecast four weeks on, came
        # out at 2x the last value on a daily trace): the forecast holds the last fitted trend
        self.held_trend_ = float(in_sample["trend"].iloc[-1]) if self._logged() else None
        self.model_ = model
        self.block_ = block
        self.next_stamp_ = history.index[-1] + pd.Timedelta(seconds=self.step_seconds_)
        self.last_block_ = float(coarse[-1])
        self.errors_ = coarse - fitted

    def _subdivision_holidays(self, stamps: pd.DatetimeIndex) -> pd.DataFrame | None:
        """A subdivision's holidays (``DE-BY``: Germany's and Bavaria's Epiphany) as Prophet's
        holiday frame, to a year past the history (the train job refits long before): Prophet
        adds a country's holidays by its code (``add_country_holidays``) but knows no
        subdivision, and the country's are not all the region's (California keeps no Columbus
        Day)."""
        if not self.calendar.holiday_country:
            return None
        if holiday_region(self.calendar.holiday_country).subdivision is None:
            return None
        span = pd.DatetimeIndex([stamps[0], stamps[-1] + pd.Timedelta(days=366)])
        days = self.calendar.holiday_names(span)
        if not days:
            return None
        return pd.DataFrame({"ds": pd.to_datetime(list(days)), "holiday": list(days.values())})

    def _update(self, history: pd.Series) -> None:
        """Prophet's curve does not depend on recent data: move the origin, keep the fit (the
        train job refits on schedule); the last block still anchors the first steps."""
        tail = history.to_numpy(dtype="float64")[-self.factor_ :]
        if np.isfinite(tail).any():
            self.last_block_ = float(np.nanmean(tail))
        self.next_stamp_ = history.index[-1] + pd.Timedelta(seconds=self.step_seconds_)

    def _local(self, stamps: pd.DatetimeIndex) -> pd.DatetimeIndex:
        """``stamps`` (UTC, on the clock the history is on) as Prophet's naive ``ds`` on the
        service's clock, read at each fit, update and forecast (``_clock_offset``): a shift
        fixed at the fit put every forecast after a daylight-saving change an hour off until
        the next refit."""
        return (stamps + self._clock_offset(self.last_timestamp_)).tz_localize(None)

    def _clock_zone(self) -> str | None:
        """Models stored with a shift fixed at their fit (``local_shift_``) had read their
        calendar's zone, those before it UTC."""
        if hasattr(self, "clock_zone_") or not hasattr(self, "local_shift_"):
            return super()._clock_zone()
        return self.calendar.timezone

    def _with_regressors(self, frame: pd.DataFrame, stamps: pd.DatetimeIndex) -> pd.DataFrame:
        for i, name in enumerate(self.regressors_):
            frame[f"event_{i}"] = self.calendar.regressor_flags(name, stamps)
        return frame

    def _predict(
        self, horizon: int, quantiles: tuple[float, ...]
    ) -> tuple[np.ndarray, dict[float, np.ndarray]]:
        steps = blocks_needed(horizon, self.factor_)
        stamps = pd.date_range(self.next_stamp_, periods=steps, freq=self.block_)
        future = pd.DataFrame({"ds": self._local(stamps)})
        future = _with_day_kinds(self._with_regressors(future, stamps))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            predicted = self.model_.predict(future)
        coarse = predicted["yhat"].to_numpy()
        held = getattr(self, "held_trend_", None)
        if held is not None:
            coarse = coarse - predicted["trend"].to_numpy() + held
        median = refine(self.last_block_, coarse, self.factor_, horizon)
        return median, empirical_offsets(self.errors_, quantiles, horizon, 0.0)


def remove_run_files(model: Any) -> None:
    """Delete the CSV, log and folder cmdstanpy wrote for a fit (the fitted parameters are in
    the model by then). It keeps them under /tmp until the process exits: a server gathered
    16 files a training for as long as it ran, and kept them after a SIGTERM."""
    backend = model.stan_backend
    fit = getattr(backend, "stan_fit", None)
    if fit is None:
        return
    folders = {Path(name).parent for name in fit.runset.csv_files}
    backend.cleanup()
    for folder in folders:
        with contextlib.suppress(OSError):  # not empty: something else lives there
            folder.rmdir()
