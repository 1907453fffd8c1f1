"""The replay's re-plans read the history as the service's 15-minute refresh does."""

from __future__ import annotations

import numpy as np
import pandas as pd

from forecaster.planning.policies import ForecastSettings, rolling_forecasts
from forecaster.planning.replay import to_ticks
from tests.helpers import synthetic_traffic


def _replay_trail(points: pd.Series, start: int) -> np.ndarray:
    trace = to_ticks(points)
    trail = rolling_forecasts(
        trace,
        start * round(300 / trace.tick_seconds),
        step_seconds=300,
        quantile=0.5,
        horizon_seconds=3600,
        settings=ForecastSettings(model="holt_winters"),
    )
    return trail.values


def test_the_replays_re_plans_read_the_history_as_the_service_does() -> None:
    """Between refits the replay updates its model as the 15-minute refresh does
    (``forecasting.refreshed``): two hours of zeros after the refit are an outage, so the
    re-plan after them forecasts from the last level seen (0.76 of what it would have without
    them, two hours later in a falling evening), not from the zeros (0.0 with a plain update)."""
    points = synthetic_traffic(days=9, step_seconds=300, seed=5, noise=0.05)
    start = len(points) - 12 * 12
    usual = _replay_trail(points, start)[8].mean()  # two hours into the replay
    points.iloc[start : start + 24] = 0.0
    after_outage = _replay_trail(points, start)[8].mean()
    assert after_outage > 0.6 * usual
