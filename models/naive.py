"""Seasonal-naive forecasts: tomorrow looks like today (or like the same day last week).

The strongest simple baseline on traffic, the yardstick for MASE, and the fallback whenever
another model fails. With less than one season of history it repeats the last value.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from models.base import DAY_SECONDS, WEEK_SECONDS, ForecastModel, fill_gaps, season_steps


def empirical_offsets(
    errors: np.ndarray, quantiles: tuple[float, ...], horizon: int, floor: float
) -> dict[float, np.ndarray]:
    """Quantile offsets from observed errors, the same for every step of the horizon.

    Offsets are measured from the errors' median, so the model's own median stays the p50.
    ``floor`` keeps bands from collapsing to zero on short or perfectly periodic histories.
    """
    finite = errors[np.isfinite(errors)]
    centre = float(np.median(finite)) if len(finite) >= 4 else 0.0
    offsets: dict[float, np.ndarray] = {}
    for q in quantiles:
        value = float(np.quantile(finite, q)) - centre if len(finite) >= 4 else 0.0
        width = floor * _z(q)
        offsets[q] = np.full(horizon, value + width if q >= 0.5 else value - width)
    return offsets


def _z(q: float) -> float:
    """Standard normal quantile, without importing scipy for one number."""
    from statistics import NormalDist

    return NormalDist().inv_cdf(min(max(q, 1e-6), 1 - 1e-6))


class SeasonalNaive(ForecastModel):
    """Repeat the last full season; quantiles from the errors this rule made in the past."""

    alias = "seasonal_naive"

    def __init__(self, period_seconds: int = DAY_SECONDS) -> None:
        self.period_seconds = period_seconds

    def _fit(self, history: pd.Series) -> None:
        season = season_steps(self.step_seconds_, self.period_seconds)
        values = fill_gaps(history.to_numpy(), season)
        self.season_ = season if len(values) >= season else 1
        self.last_season_ = values[-self.season_ :]
        if len(values) > self.season_:
            self.errors_ = values[self.season_ :] - values[: -self.season_]
        else:
            self.errors_ = np.diff(values)
        # with little history the band must stay wide: a share of the level, not of the noise
        scale = float(np.nanmean(np.abs(values))) if len(values) else 0.0
        short = len(values) < 2 * self.season_ or self.season_ == 1
        self.floor_ = 0.25 * scale if short else 0.0

    def _predict(
        self, horizon: int, quantiles: tuple[float, ...]
    ) -> tuple[np.ndarray, dict[float, np.ndarray]]:
        repeats = int(np.ceil(horizon / self.season_))
        median = np.tile(self.last_season_, repeats)[:horizon]
        return median, empirical_offsets(self.errors_, quantiles, horizon, self.floor_)


class SeasonalNaiveDaily(SeasonalNaive):
    alias = "seasonal_naive_daily"

    def __init__(self) -> None:
        super().__init__(DAY_SECONDS)


class SeasonalNaiveWeekly(SeasonalNaive):
    alias = "seasonal_naive_weekly"
    min_history_seconds = WEEK_SECONDS + DAY_SECONDS

    def __init__(self) -> None:
        super().__init__(WEEK_SECONDS)
