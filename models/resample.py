"""Aggregate fine steps into coarse blocks and spread coarse forecasts back.

statsmodels and Prophet fit in time that grows with the season length (288 steps a day at
5 minutes, 86,400 at 1 second), so those models fit on blocks of at most a few dozen per day
and interpolate their forecast back onto the caller's grid.
"""

from __future__ import annotations

import numpy as np


def coarse_factor(season: int, max_season: int) -> int:
    """Fine steps per block: the smallest divisor of ``season`` that keeps it at most
    ``max_season`` blocks, so a block never straddles two days."""
    if season <= max_season:
        return 1
    lowest = int(np.ceil(season / max_season))
    for factor in range(lowest, 2 * lowest + 1):
        if season % factor == 0:
            return factor
    return lowest


def coarsen(values: np.ndarray, factor: int) -> np.ndarray:
    """Block means (NaN-aware) with the last block ending on the last value; a block with no
    observation stays NaN. The few leading values that do not fill a block are dropped."""
    if factor == 1:
        return np.asarray(values, dtype="float64")
    usable = len(values) - len(values) % factor
    blocks = np.asarray(values[len(values) - usable :], dtype="float64").reshape(-1, factor)
    counts = np.sum(~np.isnan(blocks), axis=1)
    sums = np.nansum(blocks, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)


def refine(last_block: float, coarse_forecast: np.ndarray, factor: int, horizon: int) -> np.ndarray:
    """Fine-step forecast from block forecasts by interpolating between block centres.

    ``last_block`` is the last observed block mean, which anchors the first future steps so the
    forecast does not jump at the origin.
    """
    coarse_forecast = np.asarray(coarse_forecast, dtype="float64")
    if factor == 1:
        return coarse_forecast[:horizon]
    anchor = last_block if np.isfinite(last_block) else coarse_forecast[0]
    blocks = np.concatenate([[anchor], coarse_forecast])
    # block j (j = 0 is the last observed one) covers fine steps (j - 1) * factor + 1 .. j * factor
    centres = (np.arange(len(blocks)) - 1) * factor + (factor + 1) / 2
    fine = np.arange(1, horizon + 1, dtype="float64")
    return np.interp(fine, centres, blocks)


def blocks_needed(horizon: int, factor: int) -> int:
    """Block forecasts needed to interpolate ``horizon`` fine steps (one extra for the tail)."""
    return int(np.ceil(horizon / factor)) + 1
