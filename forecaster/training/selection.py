"""Score backtested candidates, add an ensemble of the best, pick the champion, fit its bands.

Called by ``forecaster.training.forecasting`` once the backtests of a series are in. Coverage
and pinball loss are measured on calibrated bands fitted on the *other* half of the folds
(cross-fitting), so the leaderboard reports what a user will see, not an in-sample figure.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from forecaster.training.backtest import CandidateBacktest, FoldPlan, Folds, combine
from models.base import DAY_SECONDS, WEEK_SECONDS, quantile_name
from models.conformal import ConformalBands, pinball_loss

ENSEMBLE = "ensemble"
# how a champion's message names a candidate that raised in the backtest: a champion that
# stands because the others broke (a library upgrade) is a warning where the service is read
FAILED_IN_BACKTEST = "failed in the backtest"
ENSEMBLE_SIZE = 3
# an ensemble member must be within this factor of the best candidate's MASE
ENSEMBLE_TOLERANCE = 1.5
# the ensemble's members were picked by the very folds that score it, so its backtest flatters
# it: it must beat the best single model by this factor to be chosen
ENSEMBLE_MARGIN = 0.97
# a backtest whose fold origins span under a week has not seen every weekday: there the pick of
# one model among many is mostly luck, so the ensemble wins unless a single model beats it by
# the same margin (histories of two days up to about three weeks at a 24 h horizon)
SHORT_BACKTEST_SECONDS = WEEK_SECONDS
SHORT_BACKTEST_MIN_HISTORY_SECONDS = 2 * DAY_SECONDS


@dataclass
class Score:
    """One leaderboard row: a candidate's backtest figures, or why it failed."""

    model: str
    status: str  # ok | failed | skipped
    mase: float | None = None
    mae: float | None = None
    pinball: dict[str, float] = field(default_factory=dict)
    coverage: dict[str, float] = field(default_factory=dict)
    fit_seconds: float = 0.0
    message: str | None = None
    members: tuple[str, ...] = ()
    champion: bool = False

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form, stored as a model run's scores."""
        return {
            "mase": self.mase,
            "mae": self.mae,
            "pinball": self.pinball,
            "coverage": self.coverage,
            "fit_seconds": self.fit_seconds,
            "members": list(self.members),
        }


def residual_table(
    folds: Folds, predictions: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Flattened residuals (actual - median), horizon steps, target times and fold numbers."""
    shape = folds.actuals.shape
    residuals = (folds.actuals - predictions).ravel()
    horizons = np.broadcast_to(np.arange(1, shape[1] + 1), shape).ravel()
    fold_ids = np.broadcast_to(np.arange(shape[0])[:, None], shape).ravel()
    return residuals, horizons, folds.seconds.ravel(), fold_ids


def calibrate(
    folds: Folds,
    candidate: CandidateBacktest,
    dense: tuple[Folds, np.ndarray] | None = None,
) -> ConformalBands:
    """Conformal bands from all of a candidate's backtest residuals, plus its residuals at the
    dense short-horizon origins when given (``(folds, medians)``). A dense origin counts as
    part of the fold it follows, so cross-fitting still holds out whole stretches of time."""
    assert candidate.predictions is not None
    residuals, horizons, seconds, fold_ids = residual_table(folds, candidate.predictions)
    if dense is not None:
        dense_folds, medians = dense
        more, more_horizons, more_seconds, _ = residual_table(dense_folds, medians)
        follows = np.searchsorted(folds.plan.origins, dense_folds.plan.origins, side="right") - 1
        more_ids = np.broadcast_to(follows[:, None], dense_folds.actuals.shape).ravel()
        residuals = np.concatenate([residuals, more])
        horizons = np.concatenate([horizons, more_horizons])
        seconds = np.concatenate([seconds, more_seconds])
        fold_ids = np.concatenate([fold_ids, more_ids])
    return ConformalBands.fit(residuals, horizons, seconds, fold_ids)


def score(folds: Folds, candidate: CandidateBacktest, quantiles: Sequence[float]) -> Score:
    """MASE, MAE, and cross-fitted pinball loss and coverage per quantile."""
    if not candidate.ok:
        status = "skipped" if candidate.skipped else "failed"
        return Score(candidate.model, status, message=candidate.error or "non-finite forecast")
    assert candidate.predictions is not None
    residuals, horizons, seconds, fold_ids = residual_table(folds, candidate.predictions)
    observed = np.isfinite(residuals)
    mae = float(np.mean(np.abs(residuals[observed]))) if observed.any() else float("nan")
    predicted = _cross_fitted_offsets(residuals, horizons, seconds, fold_ids, quantiles)
    pinball, coverage = {}, {}
    for q in quantiles:
        gap = residuals[observed] - predicted[q][observed]
        pinball[quantile_name(q)] = pinball_loss(gap, q)
        coverage[quantile_name(q)] = float(np.mean(gap <= 0))
    return Score(
        candidate.model,
        "ok",
        mase=mae / folds.naive_scale,
        mae=mae,
        pinball=pinball,
        coverage=coverage,
        fit_seconds=candidate.fit_seconds,
        members=candidate.members,
    )


def _cross_fitted_offsets(
    residuals: np.ndarray,
    horizons: np.ndarray,
    seconds: np.ndarray,
    fold_ids: np.ndarray,
    quantiles: Sequence[float],
) -> dict[float, np.ndarray]:
    """Each residual's band offsets, fitted on the other half of the folds (even vs odd).

    With a single fold there is nothing to hold out; the in-sample bands are used.
    """
    offsets = {q: np.zeros_like(residuals) for q in quantiles}
    halves = fold_ids % 2 == 0
    for held_out in (halves, ~halves):
        train = ~held_out if (~held_out).any() and held_out.any() else held_out
        train &= np.isfinite(residuals)
        if not train.any() or not held_out.any():
            continue
        bands = ConformalBands.fit(
            residuals[train], horizons[train], seconds[train], fold_ids[train]
        )
        values = bands.band_offsets(horizons[held_out], seconds[held_out], quantiles)
        for q in quantiles:
            offsets[q][held_out] = values[q]
    return offsets


def mase_of(score: Score) -> float:
    """A score's MASE for ranking: infinite when it has none. A MASE of 0 (a forecast that
    matched every fold) is the best there is: read as falsy, it had ranked last."""
    return math.inf if score.mase is None else float(score.mase)


def with_ensemble(
    folds: Folds, candidates: Sequence[CandidateBacktest], quantiles: Sequence[float]
) -> tuple[list[CandidateBacktest], list[Score]]:
    """Score the candidates, then add the mean of the best few (if at least two qualify)."""
    scores = [score(folds, candidate, quantiles) for candidate in candidates]
    ranked = sorted(
        (pair for pair in zip(candidates, scores, strict=True) if pair[1].status == "ok"),
        key=lambda pair: mase_of(pair[1]),
    )
    if len(ranked) >= 2:
        best = mase_of(ranked[0][1])
        members = [
            candidate
            for candidate, s in ranked[:ENSEMBLE_SIZE]
            if mase_of(s) <= best * ENSEMBLE_TOLERANCE
        ]
        if len(members) >= 2:
            ensemble = combine(ENSEMBLE, members)
            candidates = [*candidates, ensemble]
            scores = [*scores, score(folds, ensemble, quantiles)]
    return list(candidates), scores


def short_backtest(plan: FoldPlan, step_seconds: float, history_steps: int) -> bool:
    """Days of history whose fold origins span under a week: few folds, little said."""
    span = (int(plan.origins[-1]) - int(plan.origins[0])) * step_seconds
    days = history_steps * step_seconds >= SHORT_BACKTEST_MIN_HISTORY_SECONDS
    return days and span < SHORT_BACKTEST_SECONDS


def ensemble_margin(plan: FoldPlan, step_seconds: float, history_steps: int) -> float:
    """What the ensemble's MASE is divided by when it competes: below 1 it must beat the best
    single model, above 1 (a short backtest on days of history) it wins ties and near-ties."""
    short = short_backtest(plan, step_seconds, history_steps)
    return 1 / ENSEMBLE_MARGIN if short else ENSEMBLE_MARGIN


def choose(scores: Sequence[Score], margin: float = ENSEMBLE_MARGIN) -> int | None:
    """Index of the champion: lowest MASE (the ensemble's divided by ``margin``), ties to the
    lower upper-quantile pinball loss."""
    usable = [i for i, s in enumerate(scores) if s.status == "ok" and np.isfinite(mase_of(s))]
    if not usable:
        return None

    def rank(i: int) -> tuple[float, float]:
        mase = mase_of(scores[i])
        if scores[i].model == ENSEMBLE:
            mase /= margin
        return mase, sum(scores[i].pinball.values())

    return min(usable, key=rank)
