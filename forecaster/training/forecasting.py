"""Fit a model (or pick one) on a regular history and forecast quantiles.

The one code path behind both the service's train job and the offline ``forecaster forecast``
command, so what a user tries on a CSV is what the service will do with their metrics.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from models.base import DEFAULT_QUANTILES, ForecastModel, quantile_name
from models.naive import SeasonalNaiveDaily
from models.registry import MODELS, create_model

log = logging.getLogger(__name__)

FALLBACK_MODEL = "seasonal_naive_daily"


@dataclass
class ForecastOutcome:
    """A forecast frame plus what produced it and why."""

    frame: pd.DataFrame
    model: str
    fitted: ForecastModel
    message: str = ""
    scores: dict[str, Any] = field(default_factory=dict)
    fit_seconds: float = 0.0


def make_forecast(
    history: pd.Series,
    horizon: int,
    *,
    model: str = "auto",
    quantiles: Sequence[float] = DEFAULT_QUANTILES,
) -> ForecastOutcome:
    """Forecast ``horizon`` steps after ``history`` with the named model, or the best by backtest.

    A model that fails falls back to seasonal-naive and the outcome's message says why.
    """
    if model != "auto" and model not in MODELS:
        raise ValueError(f"unknown model {model!r}; known: auto, {', '.join(sorted(MODELS))}")
    scores: dict[str, Any] = {}
    chosen = model
    if model == "auto":
        chosen, scores = select_by_holdout(history, horizon)
    started = time.perf_counter()
    try:
        fitted = create_model(chosen).fit(history)
        frame = fitted.predict(horizon, quantiles)
        message = ""
    except Exception as error:  # noqa: BLE001 - a failing model falls back, never crashes
        log.warning("model %s failed (%s); falling back to %s", chosen, error, FALLBACK_MODEL)
        message = f"{chosen} failed ({error}); fell back to {FALLBACK_MODEL}"
        chosen = FALLBACK_MODEL
        fitted = SeasonalNaiveDaily().fit(history)
        frame = fitted.predict(horizon, quantiles)
    return ForecastOutcome(
        frame=frame,
        model=chosen,
        fitted=fitted,
        message=message,
        scores=scores,
        fit_seconds=time.perf_counter() - started,
    )


def select_by_holdout(history: pd.Series, horizon: int) -> tuple[str, dict[str, Any]]:
    """Score every registered model on the last ``horizon`` steps; the lowest MAE wins."""
    holdout = min(horizon, max(1, len(history) // 4))
    train, test = history.iloc[:-holdout], history.iloc[-holdout:]
    if train.notna().sum() < 2 or test.notna().sum() == 0:
        return FALLBACK_MODEL, {"reason": "too little history to compare models"}
    scores: dict[str, Any] = {}
    for name in sorted(MODELS):
        try:
            predicted = create_model(name).fit(train).predict(holdout, (0.5,))
            error = np.abs(predicted[quantile_name(0.5)].to_numpy() - test.to_numpy())
            scores[name] = {"mae": float(np.nanmean(error))}
        except Exception as failure:  # noqa: BLE001 - a failing candidate just loses
            scores[name] = {"error": str(failure)}
    ranked = [name for name in scores if "mae" in scores[name]]
    if not ranked:
        return FALLBACK_MODEL, scores
    return min(ranked, key=lambda name: scores[name]["mae"]), scores
