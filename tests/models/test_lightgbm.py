"""LightGBM direct multi-step: seasonality, gaps, the global fit, and update without refit."""

from __future__ import annotations

import numpy as np

from models.lightgbm_model import LightGBM, LightGBMGlobal
from tests.helpers import synthetic_traffic
from tests.models.cases import assert_recovers_daily_cycle, assert_survives_gaps


def test_recovers_cycle() -> None:
    assert_recovers_daily_cycle(LightGBM(rounds=100).configure(horizon=48))


def test_survives_gaps() -> None:
    assert_survives_gaps(LightGBM(rounds=50).configure(horizon=24))


def test_global_model_shares_one_booster_and_scales_per_series() -> None:
    small = [synthetic_traffic(days=10, step_seconds=3600, base=10, seed=s) for s in range(3)]
    large = [synthetic_traffic(days=10, step_seconds=3600, base=1000, seed=s) for s in range(3)]
    models = LightGBMGlobal.fit_many(small + large, horizon=24, rounds=60)
    assert len({id(model.booster_) for model in models}) == 1
    small_level = models[0].predict(24)["p50"].mean()
    large_level = models[3].predict(24)["p50"].mean()
    assert 50 < large_level / small_level < 200


def test_update_follows_new_data_without_refitting() -> None:
    series = synthetic_traffic(days=10, step_seconds=3600, seed=7)
    model = LightGBM(rounds=60).configure(horizon=24).fit(series.iloc[:-24])
    booster = model.booster_
    doubled = series.copy()
    doubled.iloc[-48:] *= 2
    model.update(doubled)
    assert model.booster_ is booster
    assert model.predict(12)["p50"].mean() > 1.3 * series.iloc[-12:].mean()


def test_forecast_is_deterministic() -> None:
    series = synthetic_traffic(days=6, step_seconds=3600, seed=8)
    first = LightGBM(rounds=40).configure(horizon=12).fit(series).predict(12)
    second = LightGBM(rounds=40).configure(horizon=12).fit(series).predict(12)
    assert np.allclose(first.to_numpy(), second.to_numpy())
