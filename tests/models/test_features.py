"""LightGBM features never read past their origin, and the trailing statistics are right."""

from __future__ import annotations

import numpy as np
import pandas as pd

from models.features import Layout, prepare, rows, trailing_mean, training_pairs
from tests.helpers import synthetic_traffic


def _rows_at(values: np.ndarray, origin: int, layout: Layout) -> np.ndarray:
    prepared = prepare(values, 1.7e9, layout, np.array([], dtype="int64"))
    horizons = np.arange(1, 2 * layout.day + 1)
    x, scale = rows(prepared, layout, np.full(len(horizons), origin), horizons)
    return np.column_stack([x, scale])


def test_perturbing_the_future_leaves_past_rows_unchanged() -> None:
    layout = Layout.for_step(3600)
    values = synthetic_traffic(days=30, step_seconds=3600, seed=1).to_numpy()
    origin = 500
    before = _rows_at(values, origin, layout)
    future_changed = values.copy()
    future_changed[origin + 1 :] = future_changed[origin + 1 :] * 10 + 1000
    after = _rows_at(future_changed, origin, layout)
    assert np.array_equal(before, after, equal_nan=True)
    past_changed = values.copy()
    past_changed[origin - 24] += 500  # the same hour a day earlier is a feature: it must matter
    assert not np.array_equal(before, _rows_at(past_changed, origin, layout), equal_nan=True)


def test_trailing_mean_matches_pandas_and_skips_gaps() -> None:
    values = np.array([1.0, np.nan, 3.0, 5.0, np.nan, np.nan, 7.0])
    expected = pd.Series(values).rolling(3, min_periods=1).mean().to_numpy()
    assert np.allclose(trailing_mean(values, 3), expected, equal_nan=True)


def test_training_targets_stay_inside_the_history() -> None:
    layout = Layout.for_step(300)
    origins, horizons = training_pairs(3000, layout, 576, 5000, np.random.default_rng(0))
    assert len(origins) == 5000
    assert (horizons >= 1).all() and (horizons <= 576).all()
    assert (origins + horizons <= 2999).all()
    assert (horizons <= 12).mean() > 0.1  # short horizons are well represented


def test_a_week_without_data_keeps_the_last_scale() -> None:
    """A week-long hole left the weekly level undefined and the scale fell to 1: rows in and
    just after it were read at 1,000x their size."""
    values = synthetic_traffic(days=28, step_seconds=3600, base=1_000, seed=2).to_numpy().copy()
    values[14 * 24 : 21 * 24 + 12] = np.nan
    layout = Layout.for_step(3600)
    scale = prepare(values, 0.0, layout, np.array([], dtype="int64")).scale
    assert (scale > 500).all() and (scale < 2_000).all()
