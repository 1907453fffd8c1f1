"""Holt-Winters (additive ETS with a daily season) from statsmodels.

Long seasons are expensive for statsmodels (288 steps at 5 minutes, 1,440 at 1 minute), so the
model fits on at most ``max_season`` steps per day, aggregating finer steps, and spreads the
forecast back to the original grid.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from models.base import DAY_SECONDS, ForecastModel, fill_gaps, season_steps
from models.naive import empirical_offsets


class HoltWinters(ForecastModel):
    """Additive-seasonal exponential smoothing with a damped trend."""

    alias = "holt_winters"

    def __init__(self, max_season: int = 96, damped_trend: bool = True) -> None:
        self.max_season = max_season
        self.damped_trend = damped_trend

    def _fit(self, history: pd.Series) -> None:
        from statsmodels.tsa.holtwinters import ExponentialSmoothing

        season = season_steps(self.step_seconds_, DAY_SECONDS)
        values = fill_gaps(history.to_numpy(), season)
        self.factor_ = max(1, int(np.ceil(season / self.max_season))) if season > 1 else 1
        usable = len(values) - len(values) % self.factor_
        coarse = values[len(values) - usable :].reshape(-1, self.factor_).mean(axis=1)
        coarse_season = max(1, season // self.factor_)
        seasonal = "add" if coarse_season > 1 and len(coarse) >= 2 * coarse_season else None
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fitted = ExponentialSmoothing(
                coarse,
                trend="add",
                damped_trend=self.damped_trend,
                seasonal=seasonal,
                seasonal_periods=coarse_season if seasonal else None,
                initialization_method="estimated",
            ).fit()
        self.fitted_ = fitted
        self.tail_ = len(values) % self.factor_  # fine steps already observed in the last block
        # errors of the fine values around the fitted coarse path, for the quantile offsets
        fitted_fine = np.repeat(np.asarray(fitted.fittedvalues), self.factor_)
        self.errors_ = values[len(values) - usable :] - fitted_fine
        alpha = float(fitted.params.get("smoothing_level", 0.5) or 0.0)
        self.alpha_ = alpha

    def _predict(
        self, horizon: int, quantiles: tuple[float, ...]
    ) -> tuple[np.ndarray, dict[float, np.ndarray]]:
        coarse_steps = int(np.ceil((horizon + self.tail_) / self.factor_)) + 1
        coarse = np.asarray(self.fitted_.forecast(coarse_steps))
        median = np.repeat(coarse, self.factor_)[self.tail_ : self.tail_ + horizon]
        offsets = empirical_offsets(self.errors_, quantiles, horizon, 0.0)
        # ETS(A,*,A) error variance grows like 1 + (h - 1) * alpha^2
        k = np.arange(horizon) // self.factor_
        growth = np.sqrt(1.0 + k * self.alpha_**2)
        growth = np.minimum(growth, 3.0)
        return median, {q: offsets[q] * growth for q in quantiles}
