"""LightGBM direct multi-step forecaster, per series or global across many series.

One booster predicts every step of the horizon from features known at the origin
(``models.features``); the horizon is a feature, so there is no recursion and no leak. Values
are scaled by each series' recent level, so :meth:`LightGBM.fit_many` can train one *global*
booster on a whole deployment (faster and, on traffic, more accurate than one model per series).
``update`` only swaps in newer history: forecasts follow the data without refitting.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Self

import numpy as np
import pandas as pd

from models.base import DAY_SECONDS, ForecastModel, HistoryTooShortError
from models.features import FEATURE_NAMES, Layout, Prepared, prepare, rows, training_pairs
from models.naive import empirical_offsets

DEFAULT_HORIZON_SECONDS = 2 * 86_400
MIN_TRAINING_ROWS = 30
# four weeks of weekly averages plus the week lag before them, and a margin
HISTORY_WEEKS_KEPT = 5
RESIDUAL_SAMPLE = 5_000


def booster_params(rows_count: int) -> dict[str, Any]:
    """Small, regularised trees; one thread (LightGBM/OpenMP hangs after fork, see PITFALLS)."""
    return {
        "objective": "l1",
        "learning_rate": 0.05,
        "num_leaves": 31,
        "min_data_in_leaf": max(20, min(200, rows_count // 200)),
        "feature_fraction": 0.9,
        "bagging_fraction": 0.8,
        "bagging_freq": 1,
        "lambda_l2": 1.0,
        "num_threads": 1,
        "deterministic": True,
        "seed": 0,
        "verbosity": -1,
    }


class LightGBM(ForecastModel):
    """Gradient-boosted trees on lag, rolling and calendar features (median objective)."""

    alias = "lightgbm"
    # its features skip missing steps (NaN-aware trailing means, lags a day or more back), and
    # its trees learnt horizons only up to the hint, which forecasting from before a gap exceeds:
    # it forecasts from the last step through a gap of up to a day. A longer one leaves only
    # week-old features (a week's gap, none), so it forecasts on from the last observed step
    reads_missing_end_seconds = DAY_SECONDS
    # its trees stay as fitted however much new history ``update`` swaps in: on a trace with a
    # seasonal trend, trees two weeks old forecast with twice the error of fresh ones
    backtest_refit_seconds = 7 * DAY_SECONDS

    booster_: Any
    layout_: Layout
    errors_: np.ndarray
    prepared_: Prepared

    def __init__(self, rounds: int = 200, max_rows: int = 20_000) -> None:
        self.rounds = rounds
        self.max_rows = max_rows

    # --- fitting -------------------------------------------------------------------------
    def _fit(self, history: pd.Series) -> None:
        self._train([self], [history], self.max_rows)

    @classmethod
    def fit_many(
        cls,
        histories: Sequence[pd.Series],
        *,
        horizon: int | None = None,
        max_rows: int = 150_000,
        rounds: int = 200,
    ) -> list[Self]:
        """One booster trained on all ``histories`` (same step); one fitted model per series.

        Each series contributes an equal share of rows, so a long series cannot drown the rest.
        """
        models = [cls(rounds=rounds).configure(horizon=horizon) for _ in histories]
        for model, history in zip(models, histories, strict=True):
            model._remember_grid(history)
        cls._train(models, [h.astype("float64") for h in histories], max_rows)
        return models

    @staticmethod
    def _train(models: Sequence[LightGBM], histories: Sequence[pd.Series], max_rows: int) -> None:
        import lightgbm as lgb

        lead = models[0]
        layout = Layout.for_step(lead.step_seconds_)
        horizon = lead.horizon_hint or max(1, round(DEFAULT_HORIZON_SECONDS / layout.step_seconds))
        rng = np.random.default_rng(0)
        share = max(100, max_rows // len(models))
        features, targets, scales = [], [], []
        for model, history in zip(models, histories, strict=True):
            model._remember_clock()
            full = model._prepare(history, layout)
            pairs = training_pairs(len(full.values), layout, horizon, share, rng)
            x, scale = rows(full, layout, *pairs)
            # learnt on the despiked series: a one-off burst's own steps, read back from a
            # burst as high as theirs, made leaves whose median was the burst
            target = pairs[0] + pairs[1]
            y = np.where(np.isfinite(full.values[target]), full.settled[target], np.nan)
            model._keep_history(history, layout, full)
            keep = np.isfinite(y)
            features.append(x[keep])
            targets.append(y[keep] / scale[keep])
            scales.append(scale[keep])
        x_all, y_all = np.concatenate(features), np.concatenate(targets)
        if len(y_all) < MIN_TRAINING_ROWS:
            raise HistoryTooShortError(f"needs more history ({len(y_all)} usable training rows)")
        dataset = lgb.Dataset(
            x_all,
            y_all,
            feature_name=list(FEATURE_NAMES),
            free_raw_data=True,
            params={"verbose": -1},
        )
        booster = lgb.train(booster_params(len(y_all)), dataset, num_boost_round=lead.rounds)
        # in-sample residuals for the raw band: a sample is plenty (the engine calibrates)
        sample = rng.choice(len(y_all), size=min(len(y_all), RESIDUAL_SAMPLE), replace=False)
        fitted = booster.predict(x_all[sample], num_threads=1)
        errors = (y_all[sample] - fitted) * np.concatenate(scales)[sample]
        for model in models:
            model.booster_ = booster
            model.layout_ = layout
            model.errors_ = errors  # shared in-sample residuals: only a rough, raw band

    def _prepare(self, history: pd.Series, layout: Layout) -> Prepared:
        start = float(history.index[0].value) / 1e9 + self._clock_seconds(history.index[-1])
        holidays = self._holiday_days(history.index)
        return prepare(history.to_numpy(dtype="float64"), start, layout, holidays)

    def _keep_history(
        self, history: pd.Series, layout: Layout, prepared: Prepared | None = None
    ) -> None:
        """Keep just enough recent history for the features, precomputed for fast rows.
        ``prepared`` (the same history, already prepared) is reused when all of it is kept:
        preparing despikes, the dearest part of a fleet's retrain."""
        kept = self._kept_steps(layout)
        if prepared is not None and len(history) <= kept:
            self.prepared_ = prepared
            return
        self.prepared_ = self._prepare(history.iloc[-kept:], layout)

    def _clock_seconds(self, latest: pd.Timestamp) -> float:
        """How far the clock the history is on (see ``read_for_models``) is ahead of UTC
        (:meth:`_clock_offset`), so the hour, weekday and holiday features read the service's
        own days: in UTC a New York holiday was flagged from 19:00 the evening before, and a
        Tokyo weekend began at 09:00 on Saturday."""
        return float(self._clock_offset(latest).total_seconds())

    @staticmethod
    def _kept_steps(layout: Layout) -> int:
        """History the features reach back over: four weeks of weekly averages, a week lag."""
        return HISTORY_WEEKS_KEPT * layout.week + layout.day

    def _holiday_days(self, index: pd.DatetimeIndex) -> np.ndarray:
        """Epoch days of public holidays from the history's start to two months past its end."""
        reach = index[-1] + pd.Timedelta(days=62)
        span = pd.DatetimeIndex([index[0], reach])
        dates = self.calendar.holiday_dates(span)
        return np.asarray(dates.as_unit("s").asi8 // 86_400, dtype="int64")

    def _update(self, history: pd.Series) -> None:
        self._keep_history(history, self.layout_)

    def rolled_medians(self, history: pd.Series, origins: np.ndarray, horizon: int) -> np.ndarray:
        """Every origin's forecast from one pass over the history: a row reads only data up to
        its origin (see ``models.features``), so this equals updating at each origin in turn,
        at the cost of a single prediction call. Leaves the model at the last origin."""
        origins = np.asarray(origins, dtype="int64")
        layout = self.layout_
        start = max(0, int(origins[0]) + 1 - self._kept_steps(layout))
        window = history.iloc[start : int(origins[-1]) + 1].astype("float64")
        prepared = self._prepare(window, layout)
        local = np.repeat(origins - start, horizon)
        ahead = np.tile(np.arange(1, horizon + 1), len(origins))
        x, scale = rows(prepared, layout, local, ahead)
        medians = np.maximum(self.booster_.predict(x, num_threads=1) * scale, 0.0)
        self._remember_grid(window)
        self._keep_history(window, layout, prepared)
        return medians.reshape(len(origins), horizon)

    # --- prediction ----------------------------------------------------------------------
    def _predict(
        self, horizon: int, quantiles: tuple[float, ...]
    ) -> tuple[np.ndarray, dict[float, np.ndarray]]:
        n = len(self.prepared_.values)
        origins = np.full(horizon, n - 1)
        x, scale = rows(self.prepared_, self.layout_, origins, np.arange(1, horizon + 1))
        median = self.booster_.predict(x, num_threads=1) * scale
        return median, empirical_offsets(self.errors_, quantiles, horizon, 0.0)


class LightGBMGlobal(LightGBM):
    """The same model trained across every series of a deployment (see :meth:`fit_many`).

    Fitted on one series it is the per-series model; the training engine calls ``fit_many``.
    """

    alias = "lightgbm_global"
