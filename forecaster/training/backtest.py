"""Rolling-origin backtests: every candidate forecasts the same folds from data before them.

``forecaster.training.forecasting`` (the train job and the offline CLI) plans the folds at the
planning horizon, runs each candidate here, and scores the predictions (MASE against
seasonal-naive, pinball loss, interval coverage). A model is fitted at the first origin and
rolled forward with ``update`` at later ones, exactly as the service refreshes forecasts between
refits; a model whose ``update`` keeps stale parameters (LightGBM's trees) is refitted as the
origins move on (``backtest_refit_seconds``), as the scheduled train job would refit it.
Nothing after an origin is visible to its fold.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from models.base import (
    DAY_SECONDS,
    WEEK_SECONDS,
    ForecastModel,
    HistoryTooShortError,
    season_steps,
    step_seconds_of,
)

# residuals wanted for calibration, and the bounds on the number of folds that gives: the
# distinct origins matter more than the residual count (errors within a fold move together)
TARGET_RESIDUALS = 4_000
MIN_FOLDS, MAX_FOLDS = 6, 16
# folds start at least 0.6 horizons apart and spread over up to four weeks, so their origins
# fall at varied times of day and the residuals see more than one regime (a level shift a
# week ago is exactly what a calibrated band must have seen)
FOLD_SPACING = 0.6
SPREAD_SECONDS = 28 * DAY_SECONDS
# short-horizon calibration: a few folds say little about the first steps, where a plan that
# is re-made every few minutes lives (one burst in one of 16 folds set a whole day's p95), so
# the champion is also rolled through many origins, forecasting only the first hour or so
DENSE_ORIGINS = 96
DENSE_SECONDS = 3_600
DENSE_MAX_STEPS = 60


@dataclass(frozen=True)
class FoldPlan:
    """Fold ``i`` trains on positions ``<= origins[i]`` and forecasts the next ``horizon``."""

    horizon: int
    origins: np.ndarray

    @property
    def folds(self) -> int:
        return len(self.origins)


def plan_folds(n: int, horizon: int, step_seconds: float) -> FoldPlan | None:
    """Folds covering the end of a history of ``n`` steps; ``None`` when it is too short.

    A short history is backtested at a shorter horizon (at most a third of it), keeping at
    least two thirds, and never less than a few steps, to train on.
    """
    min_train = max(4, min(n * 2 // 3, season_steps(step_seconds, WEEK_SECONDS) * 2))
    fold_horizon = max(1, min(horizon, (n - min_train)))
    if n - min_train < 2:
        return None
    wanted = int(np.clip(np.ceil(TARGET_RESIDUALS / fold_horizon), MIN_FOLDS, MAX_FOLDS))
    room = n - fold_horizon - min_train  # positions the first and last origins may span
    spread = min(room, round(SPREAD_SECONDS / step_seconds))
    spacing = max(1, round(fold_horizon * FOLD_SPACING), spread // max(1, wanted - 1))
    if room // spacing + 1 < MIN_FOLDS:  # a short history: overlapping folds beat a lone one
        spacing = max(1, min(spacing, room // (MIN_FOLDS - 1)))
    spacing = _off_beat(spacing, season_steps(step_seconds, DAY_SECONDS))
    folds = max(1, min(wanted, room // spacing + 1))
    last = n - 1 - fold_horizon
    origins = last - spacing * np.arange(folds)[::-1]
    return FoldPlan(horizon=fold_horizon, origins=origins.astype("int64"))


def dense_plan(plan: FoldPlan, step_seconds: float) -> FoldPlan | None:
    """Many origins between the first and the last fold origin, none on a fold origin, each
    forecasting only the first steps (about an hour, 4 to 60 steps); ``None`` when the folds
    leave no room for them."""
    first, last = int(plan.origins[0]), int(plan.origins[-1])
    if last - first < 2:
        return None
    steps = max(4, round(DENSE_SECONDS / step_seconds))
    horizon = min(plan.horizon, steps, DENSE_MAX_STEPS)
    count = min(DENSE_ORIGINS, last - first + 1)
    grid = np.unique(np.linspace(first, last, count).round().astype("int64"))
    # a fold origin's first steps are in the fold residuals already: counted twice, one
    # burst onset there weighed as two in the short-horizon quantiles
    origins = np.setdiff1d(grid, plan.origins)
    return FoldPlan(horizon=horizon, origins=origins) if len(origins) else None


def _off_beat(spacing: int, day: int) -> int:
    """Nudge a spacing of (nearly) whole days by a third of a day, so fold origins do not all
    fall at the same time of day."""
    if spacing < day:
        return spacing
    phase = spacing / day - round(spacing / day)
    return spacing + day // 3 if abs(phase) < 0.15 else spacing


@dataclass
class Folds:
    """The actual values and target times of a history's folds (``folds x horizon``)."""

    plan: FoldPlan
    actuals: np.ndarray
    seconds: np.ndarray
    naive_scale: float

    @classmethod
    def of(cls, history: pd.Series, plan: FoldPlan) -> Folds:
        positions = plan.origins[:, None] + np.arange(1, plan.horizon + 1)[None, :]
        values = history.to_numpy(dtype="float64")
        stamps = np.asarray(history.index.as_unit("s").asi8, dtype="float64")
        train = values[: plan.origins[0] + 1]
        return cls(
            plan=plan,
            actuals=values[positions],
            seconds=stamps[positions],
            naive_scale=naive_scale(train, step_seconds_of(pd.DatetimeIndex(history.index))),
        )


def naive_scale(train: np.ndarray, step_seconds: float) -> float:
    """MASE denominator: in-sample mean absolute error of seasonal-naive (weekly when there are
    three weeks, daily from two days, else the last value)."""
    span = len(train) * step_seconds
    if span >= 3 * WEEK_SECONDS:
        season = season_steps(step_seconds, WEEK_SECONDS)
    elif span >= 2 * DAY_SECONDS:
        season = season_steps(step_seconds, DAY_SECONDS)
    else:
        season = 1
    errors = np.abs(train[season:] - train[:-season]) if len(train) > season else np.array([])
    scale = float(np.nanmean(errors)) if np.isfinite(errors).any() else 0.0
    if scale > 0:
        return scale
    level = float(np.nanmean(np.abs(train))) if np.isfinite(train).any() else 0.0
    return level if level > 0 else 1.0


@dataclass
class CandidateBacktest:
    """One candidate's fold medians (``folds x horizon``), fit time per fit, or why it failed."""

    model: str
    predictions: np.ndarray | None = None
    fit_seconds: float = 0.0
    error: str | None = None
    members: tuple[str, ...] = field(default_factory=tuple)
    skipped: bool = False  # not enough history yet (the cold-start ladder)
    # the models as fitted at the start of each refit epoch (see :class:`Refits`): the
    # champion's dense short-horizon calibration rolls on from them without another fit
    refits: Refits | None = field(default=None, repr=False)

    @property
    def ok(self) -> bool:
        return self.predictions is not None and bool(np.isfinite(self.predictions).all())


ModelFactory = Callable[[], ForecastModel]


@dataclass
class Refits:
    """Models fitted at the start of each refit epoch of a backtest, reused for every origin
    in the epoch (the folds and the dense calibration origins alike).

    Epoch ``k`` starts at ``anchor + k * every`` steps, or at ``starts[k]`` when given; its
    model is fitted on the history up to that position, so it never sees past any origin it
    forecasts from. ``every`` is ``None`` for a model that only rolls on with ``update`` (one
    epoch, unless ``starts`` says otherwise).
    """

    factory: ModelFactory | None
    anchor: int
    every: int | None
    fitted: dict[int, ForecastModel] = field(default_factory=dict)
    starts: np.ndarray | None = None

    @classmethod
    def start(cls, factory: ModelFactory, history: pd.Series, anchor: int) -> Refits:
        """Fit the first epoch's model at ``anchor``; the model says how long an epoch lasts."""
        model = factory().fit(history.iloc[: anchor + 1])
        seconds = model.backtest_refit_seconds
        every = max(1, round(seconds / model.step_seconds_)) if seconds else None
        return cls(factory, anchor, every, {0: model})

    def rolled_medians(self, history: pd.Series, origins: np.ndarray, horizon: int) -> np.ndarray:
        """Medians (``origins x horizon``) from each origin, rolled on within each epoch."""
        origins = np.asarray(origins, dtype="int64")
        starts = self._epoch_starts(int(origins.max()))
        epochs = np.maximum(np.searchsorted(starts, origins, side="right") - 1, 0)
        medians = np.empty((len(origins), horizon))
        for epoch in np.unique(epochs):
            rows = np.flatnonzero(epochs == epoch)
            fitted = self._model(int(epoch), int(starts[epoch]), history)
            model = copy.copy(fitted)  # ``update`` rebinds state
            first = int(origins[rows[0]])
            if model.last_timestamp_ != history.index[first]:
                model.update(history.iloc[: first + 1])
            medians[rows] = model.rolled_medians(history, origins[rows], horizon)
        return medians

    def _epoch_starts(self, last: int) -> np.ndarray:
        """Where each epoch's model is fitted, up to the epoch holding position ``last``."""
        if self.starts is not None:
            return self.starts
        if self.every:
            epochs = max(0, (last - self.anchor) // self.every) + 1
            return self.anchor + self.every * np.arange(epochs, dtype="int64")
        return np.array([self.anchor], dtype="int64")

    def _model(self, epoch: int, start: int, history: pd.Series) -> ForecastModel:
        if epoch not in self.fitted:
            assert self.factory is not None, "only epoch 0 without a factory"
            self.fitted[epoch] = self.factory().fit(history.iloc[: start + 1])
        return self.fitted[epoch]

    def refitted_at(self, origins: np.ndarray) -> Refits:
        """The same model refitted at each of ``origins`` (the first is this one's anchor).

        Why: conformal bands must come from errors of models as fresh as the one they will
        wrap, which is fitted on the full history. A backtest rolls a model on for days
        (LightGBM's trees a week, MSTL's and Prophet's cycles the whole backtest); on the
        taylor and bike traces models refitted at each fold origin had 0.67-0.91x the error
        of the rolled ones, and the bands they set over-covered the held-out weeks. A joint
        (global) model has no factory, and a model whose ``update`` refits (seasonal-naive)
        is fresh already: both stay as they are.
        """
        if self.factory is None or not self.fitted[0].update_keeps_fit:
            return self
        starts = np.asarray(origins, dtype="int64")
        reused = {0: self.fitted[0]} if starts[0] == self.anchor else {}
        return Refits(self.factory, int(starts[0]), None, reused, starts)


def failed_backtest(name: str, failure: Exception) -> CandidateBacktest:
    """A candidate whose backtest raised: skipped when a fold's history was too short for it
    (the ladder reads the span, a model its whole periods: MSTL at two days and a step
    failed every fold of a healthy three-day history), failed otherwise."""
    if isinstance(failure, HistoryTooShortError):
        return CandidateBacktest(name, error=str(failure), skipped=True)
    return CandidateBacktest(name, error=f"{type(failure).__name__}: {failure}")


def backtest_candidate(
    name: str, factory: ModelFactory, history: pd.Series, plan: FoldPlan
) -> CandidateBacktest:
    """Fit at the first origin, roll forward with ``update`` (refitting each epoch where the
    model asks for it), forecast every fold."""
    started = time.perf_counter()
    try:
        refits = Refits.start(factory, history, int(plan.origins[0]))
        predictions = refits.rolled_medians(history, plan.origins, plan.horizon)
    except Exception as failure:  # noqa: BLE001 - a failing candidate is reported, never fatal
        return failed_backtest(name, failure)
    elapsed = (time.perf_counter() - started) / plan.folds
    return CandidateBacktest(name, predictions=predictions, fit_seconds=elapsed, refits=refits)


def backtest_global(
    name: str,
    fit_many: Callable[[Sequence[pd.Series]], Sequence[ForecastModel]],
    histories: Sequence[pd.Series],
    plans: Sequence[FoldPlan],
) -> list[CandidateBacktest]:
    """A model trained jointly on every series at their first origins, then rolled forward per
    series. Fit time is shared out equally."""
    started = time.perf_counter()
    try:
        models = list(
            fit_many([h.iloc[: p.origins[0] + 1] for h, p in zip(histories, plans, strict=True)])
        )
    except Exception as failure:  # noqa: BLE001 - reported per series, never fatal
        return [failed_backtest(name, failure)] * len(histories)
    shared = (time.perf_counter() - started) / len(histories)
    results = []
    for model, history, plan in zip(models, histories, plans, strict=True):
        began = time.perf_counter()
        # one joint fit serves the whole backtest: refitting all series per epoch costs too much
        refits = Refits(None, int(plan.origins[0]), None, {0: model})
        try:
            predictions = refits.rolled_medians(history, plan.origins, plan.horizon)
        except Exception as failure:  # noqa: BLE001
            results.append(failed_backtest(name, failure))
            continue
        own = (time.perf_counter() - began) / plan.folds
        results.append(
            CandidateBacktest(
                name, predictions=predictions, fit_seconds=shared + own, refits=refits
            )
        )
    return results


def combine(name: str, parts: Sequence[CandidateBacktest]) -> CandidateBacktest:
    """The backtest of an equal-weight ensemble, from its members' fold predictions (no refit)."""
    stacked = np.mean([part.predictions for part in parts if part.predictions is not None], axis=0)
    return CandidateBacktest(
        name,
        predictions=stacked,
        fit_seconds=float(sum(part.fit_seconds for part in parts)),
        members=tuple(part.model for part in parts),
    )
