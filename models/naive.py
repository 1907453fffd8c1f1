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

    def rolled_medians(self, history: pd.Series, origins: np.ndarray, horizon: int) -> np.ndarray:
        """Each origin's last season repeated, gathered in one go; an origin whose last season
        has a gap takes the update loop (gap filling reads the whole history)."""
        origins = np.asarray(origins, dtype="int64")
        values = history.to_numpy(dtype="float64")
        full = season_steps(self.step_seconds_, self.period_seconds)
        seasons = np.where(origins + 1 >= full, full, 1)
        ahead = np.arange(horizon)[None, :]
        positions = (origins - seasons + 1)[:, None] + ahead % seasons[:, None]
        medians = np.maximum(values[positions], 0.0)
        last_season = (origins - seasons + 1)[:, None] + np.arange(full)[None, :]
        gappy = np.isnan(values[np.minimum(last_season, origins[:, None])]).any(axis=1)
        for row in np.flatnonzero(gappy):
            self.update(history.iloc[: int(origins[row]) + 1])
            medians[row] = self.predict(horizon, (0.5,))["p50"].to_numpy()
        self.update(history.iloc[: int(origins[-1]) + 1])
        return medians


class SeasonalNaiveDaily(SeasonalNaive):
    alias = "seasonal_naive_daily"

    def __init__(self) -> None:
        super().__init__(DAY_SECONDS)


class SeasonalNaiveWeekly(SeasonalNaive):
    alias = "seasonal_naive_weekly"
    min_history_seconds = WEEK_SECONDS + DAY_SECONDS

    def __init__(self) -> None:
        super().__init__(WEEK_SECONDS)
