"""Recent level: a flat forecast at the median of the recent past.

For short, noisy histories (minutes to hours of per-second counts), where no season has been
seen yet and repeating the last value repeats its noise: the median is the point forecast that
minimises absolute error, and it ignores the bursts that a mean would chase. How far back
"recent" reaches is chosen on the history itself: the window whose trailing median best
predicted the points one horizon later (a drifting level wants a short window, a noisy flat
one a long window).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from models.base import ForecastModel, season_steps
from models.naive import empirical_offsets

WINDOW_SECONDS = (60, 300, 900, 3_600, 4 * 3_600)
# the window is chosen (and the bands measured) on this many latest points: recent behaviour is
# what counts, and a backtest refits the model at every origin (8 ms here against 33 ms on
# 37,000 points)
MAX_POINTS = 10_000


class RecentLevel(ForecastModel):
    """Median of the recent window that predicted best in-sample, held flat; quantiles from
    the errors that window made."""

    alias = "recent_level"

    def _fit(self, history: pd.Series) -> None:
        values = history.to_numpy(dtype="float64")[-MAX_POINTS:]
        ahead = max(1, min(self.horizon_hint or 1, len(values) // 3))
        windows = sorted({season_steps(self.step_seconds_, s) for s in WINDOW_SECONDS})
        windows = [w for w in windows if w <= max(1, len(values) - ahead)] or [1]
        tried = []
        for window in windows:
            medians = pd.Series(values).rolling(window, min_periods=1).median().ffill()
            errors = _errors_ahead(values, medians.to_numpy(), ahead)
            finite = np.isfinite(errors)
            mae = float(np.mean(np.abs(errors[finite]))) if finite.any() else np.inf
            tried.append((mae, window, medians.iloc[-1], errors))
        _, self.window_, level, self.errors_ = min(tried, key=lambda t: t[0])
        self.level_ = float(level) if np.isfinite(level) else 0.0

    def _predict(
        self, horizon: int, quantiles: tuple[float, ...]
    ) -> tuple[np.ndarray, dict[float, np.ndarray]]:
        median = np.full(horizon, self.level_)
        return median, empirical_offsets(self.errors_, quantiles, horizon, 0.0)


def _errors_ahead(values: np.ndarray, medians: np.ndarray, ahead: int) -> np.ndarray:
    """Actual minus the trailing median of a few steps to one horizon before it."""
    lags = np.unique(np.linspace(1, ahead, min(ahead, 8)).round().astype("int64"))
    return np.concatenate([values[lag:] - medians[:-lag] for lag in lags])
