"""Baseline models recover known seasonality on tiny synthetic series."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from models.registry import MODELS, create_model
from tests.helpers import synthetic_traffic


@pytest.mark.parametrize("name", sorted(MODELS))
def test_model_recovers_daily_cycle(name: str) -> None:
    series = synthetic_traffic(days=15, step_seconds=1800, noise=0.02, weekly_amplitude=0.0)
    train, test = series.iloc[:-48], series.iloc[-48:]
    frame = create_model(name).fit(train).predict(48)
    assert list(frame.columns) == ["p50", "p90", "p95", "p99"]
    assert frame.index.equals(test.index)
    error = np.abs(frame["p50"].to_numpy() - test.to_numpy()).mean()
    assert error < 0.1 * test.mean()  # the cycle swings +-50 %: a flat line would miss by ~30 %


@pytest.mark.parametrize("name", sorted(MODELS))
def test_model_survives_gaps_and_short_history(name: str) -> None:
    series = synthetic_traffic(days=3, step_seconds=3600)
    series.iloc[10:20] = np.nan
    frame = create_model(name).fit(series).predict(12)
    assert frame.notna().all().all() and (frame >= 0).all().all()
    short = series.iloc[-2:]
    assert len(create_model(name).fit(short).predict(3)) == 3


def test_unknown_model_is_named() -> None:
    with pytest.raises(ValueError, match="known models"):
        create_model("nope")


def test_history_must_be_time_indexed() -> None:
    with pytest.raises(TypeError):
        create_model("seasonal_naive_daily").fit(pd.Series([1.0, 2.0]))
