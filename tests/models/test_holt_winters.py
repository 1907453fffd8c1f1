"""Holt-Winters: the seasonal cycle, short histories, and a cheap update."""

from __future__ import annotations

import numpy as np

from models.holt_winters import HoltWinters
from tests.helpers import synthetic_traffic
from tests.models.cases import assert_recovers_daily_cycle, assert_survives_gaps, daily_cycle


def test_recovers_cycle() -> None:
    assert_recovers_daily_cycle(HoltWinters())


def test_survives_gaps() -> None:
    assert_survives_gaps(HoltWinters())


def test_under_two_days_it_forecasts_a_level_without_season() -> None:
    series = synthetic_traffic(days=1, step_seconds=60, seed=5)
    model = HoltWinters().fit(series)
    assert model.params_["seasonal"] is False
    frame = model.predict(30)
    assert frame["p50"].between(0.3 * series.mean(), 2 * series.mean()).all()


def test_update_keeps_parameters_and_follows_new_data() -> None:
    series = daily_cycle(days=10)
    rng = np.random.default_rng(0)
    drifting = series * np.exp(np.cumsum(rng.normal(0, 0.03, len(series))))  # a wandering level
    model = HoltWinters().fit(drifting.iloc[:-24])
    params = dict(model.params_)
    assert params["smoothing_level"] > 0.05
    shifted = drifting.copy()
    shifted.iloc[-24:] *= 1.5  # a level shift in the newest half day
    model.update(shifted)
    assert model.params_ == params
    assert model.last_timestamp_ == series.index[-1]
    moved = model.predict(12)["p50"].mean()
    unshifted = HoltWinters().fit(drifting).predict(12)["p50"].mean()
    assert moved > 1.2 * unshifted  # the update saw the shift
