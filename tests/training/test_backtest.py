"""Rolling-origin folds: where they fall, and that no fold sees past its origin."""

from __future__ import annotations

import numpy as np

from forecaster.training.backtest import (
    FoldPlan,
    Folds,
    backtest_candidate,
    dense_plan,
    naive_scale,
    plan_folds,
)
from models.holt_winters import HoltWinters
from models.lightgbm_model import LightGBM
from models.naive import SeasonalNaiveDaily
from tests.helpers import synthetic_traffic


def test_folds_cover_the_end_of_the_history_at_the_planning_horizon() -> None:
    plan = plan_folds(4032, 288, 300)
    assert plan is not None
    assert plan.horizon == 288
    assert 6 <= plan.folds <= 16
    assert np.all(np.diff(plan.origins) > 0)
    assert plan.origins[-1] + plan.horizon == 4031
    assert plan.origins[0] >= 2016  # at least a week to train on before the first fold


def test_dense_origins_fill_the_span_of_the_folds_with_short_forecasts() -> None:
    plan = plan_folds(8064, 288, 300)
    assert plan is not None
    dense = dense_plan(plan, 300)
    assert dense is not None
    assert dense.horizon == 12  # an hour of 5-minute steps
    assert dense.folds >= 90 > plan.folds
    assert plan.origins[0] < dense.origins[0] and dense.origins[-1] < plan.origins[-1]
    # a fold origin's first steps are fold residuals already: none is counted twice
    assert not np.isin(dense.origins, plan.origins).any()
    assert np.all(np.diff(dense.origins) > 0)
    assert dense_plan(plan, 1).horizon == 60  # at most 60 steps, however fine the data
    assert dense_plan(FoldPlan(horizon=5, origins=np.array([20])), 300) is None


def test_short_histories_get_a_shorter_backtest_or_none() -> None:
    plan = plan_folds(12, 576, 300)
    assert plan is not None and plan.horizon <= 4 and plan.folds >= 1
    assert plan_folds(3, 576, 300) is None


def test_an_hour_of_seconds_gets_six_overlapping_folds_not_one() -> None:
    """Too little room for folds 0.6 horizons apart: the folds overlap rather than leave one
    noisy fold to pick the model."""
    plan = plan_folds(3_437, 600, 1)
    assert plan is not None and plan.horizon == 600
    assert plan.folds == 6
    assert np.all(np.diff(plan.origins) > 0)
    assert plan.origins[-1] + plan.horizon == 3_436
    assert plan.origins[0] >= 3_437 * 2 // 3 - 1  # two thirds still train the first fold


def _predictions(model_factory, series, plan):
    result = backtest_candidate("m", model_factory, series, plan)
    assert result.ok, result.error
    assert result.predictions is not None
    return result.predictions


def test_perturbing_data_after_an_origin_leaves_earlier_folds_unchanged() -> None:
    series = synthetic_traffic(days=20, step_seconds=3600, seed=4)
    plan = plan_folds(len(series), 24, 3600)
    assert plan is not None and plan.folds >= 3
    cut = int(plan.origins[2])
    changed = series.copy()
    changed.iloc[cut + 1 :] = changed.iloc[cut + 1 :] * 3 + 50
    for factory in (
        lambda: LightGBM(rounds=40).configure(horizon=24),
        HoltWinters,
    ):
        before = _predictions(factory, series, plan)
        after = _predictions(factory, changed, plan)
        assert np.allclose(before[:3], after[:3])
        assert not np.allclose(before[3:], after[3:])


def test_lightgbm_is_refitted_each_week_of_origins_never_past_them() -> None:
    """Trees do not follow new history, so the backtest refits them weekly, as the daily train
    job keeps them fresh; each refit sees only the history up to its epoch's start."""
    series = synthetic_traffic(days=40, step_seconds=3600, seed=6)
    plan = plan_folds(len(series), 24, 3600)
    assert plan is not None and plan.origins[-1] - plan.origins[0] > 2 * 168
    result = backtest_candidate(
        "lightgbm", lambda: LightGBM(rounds=30).configure(horizon=24), series, plan
    )
    assert result.ok and result.refits is not None and result.refits.every == 168
    epochs = sorted(result.refits.fitted)
    assert epochs == sorted(set((plan.origins - plan.origins[0]) // 168))
    assert len(epochs) >= 3
    for epoch in epochs:
        start = int(plan.origins[0]) + epoch * 168
        assert result.refits.fitted[epoch].last_timestamp_ == series.index[start]
    # a perturbed future changes only the folds from the epoch that can see it on
    cut = int(plan.origins[0]) + epochs[1] * 168
    changed = series.copy()
    changed.iloc[cut + 1 :] += 40
    after = _predictions(lambda: LightGBM(rounds=30).configure(horizon=24), changed, plan)
    before_cut = plan.origins <= cut
    assert np.allclose(result.predictions[before_cut], after[before_cut])
    assert not np.allclose(result.predictions[~before_cut], after[~before_cut])


def test_fold_actuals_and_mase_scale() -> None:
    series = synthetic_traffic(days=20, step_seconds=3600, seed=5)
    plan = plan_folds(len(series), 24, 3600)
    assert plan is not None
    folds = Folds.of(series, plan)
    assert folds.actuals.shape == (plan.folds, 24)
    assert np.allclose(folds.actuals[-1], series.to_numpy()[-24:])
    values = series.to_numpy()[: plan.origins[0] + 1]
    assert np.isclose(folds.naive_scale, np.mean(np.abs(values[24:] - values[:-24])))
    assert naive_scale(np.zeros(50), 3600) == 1.0  # all-zero history: a unit scale, not 0


def test_calibration_refits_at_every_fold_origin_never_past_it() -> None:
    """Bands must come from models as fresh as the one they wrap: refitted at each fold origin,
    each on the history up to it; an origin between folds rolls on from the fold before."""
    series = synthetic_traffic(days=30, step_seconds=3600, seed=8)
    plan = plan_folds(len(series), 24, 3600)
    assert plan is not None and plan.folds >= 6
    result = backtest_candidate("holt_winters", HoltWinters, series, plan)
    assert result.ok and result.refits is not None
    fresh = result.refits.refitted_at(plan.origins)
    assert fresh.fitted[0] is result.refits.fitted[0]  # the first fit is reused
    medians = fresh.rolled_medians(series, plan.origins, plan.horizon)
    assert sorted(fresh.fitted) == list(range(plan.folds))
    for epoch, origin in enumerate(plan.origins):
        assert fresh.fitted[epoch].last_timestamp_ == series.index[origin]
        alone = HoltWinters().fit(series.iloc[: origin + 1]).predict(plan.horizon)
        assert np.allclose(medians[epoch], alone["p50"].to_numpy())
    between = np.array([plan.origins[2] + 5])
    rolled = fresh.rolled_medians(series, between, 6)
    model = HoltWinters().fit(series.iloc[: plan.origins[2] + 1])
    expected = model.update(series.iloc[: between[0] + 1]).predict(6)["p50"].to_numpy()
    assert np.allclose(rolled[0], expected)
    assert len(fresh.fitted) == plan.folds  # no fit for the origin between folds
    naive = backtest_candidate("seasonal_naive_daily", SeasonalNaiveDaily, series, plan)
    assert naive.refits is not None
    assert naive.refits.refitted_at(plan.origins) is naive.refits  # its update refits already
