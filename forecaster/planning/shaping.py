"""Time-shaping of replica requirements: lead time, scale-down hold, step cap, clamping.

Pure numpy helpers shared by the single-type and the tiered paths of
:mod:`forecaster.planning.planner`; each works on an integer array of replicas per plan step.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


def forward_max(values: np.ndarray, window: int) -> np.ndarray:
    """max(values[t : t + window + 1]): what must already be up at t to cover the next window."""
    if window <= 0 or len(values) == 0:
        return values.copy()
    reversed_max = pd.Series(values[::-1]).rolling(window + 1, min_periods=1).max()
    return reversed_max.to_numpy()[::-1].astype(values.dtype)


def backward_max(values: np.ndarray, window: int) -> np.ndarray:
    """max(values[t - window : t + 1]): keep capacity for a while after the load falls."""
    if window <= 0 or len(values) == 0:
        return values.copy()
    return (
        pd.Series(values).rolling(window + 1, min_periods=1).max().to_numpy().astype(values.dtype)
    )


def ramp_ahead(values: np.ndarray, max_step_up: int) -> np.ndarray:
    """Raise earlier rows so no row adds more than ``max_step_up`` replicas over the one before.

    r[t] = max_k(values[t + k] - k * cap): a reverse running max of ``values[j] - j * cap``.
    """
    if len(values) == 0:
        return values.copy()
    positions = np.arange(len(values), dtype="int64")
    shifted = values - positions * max_step_up
    reverse_running = np.maximum.accumulate(shifted[::-1])[::-1]
    return np.maximum(values, reverse_running + positions * max_step_up)


@dataclass(frozen=True)
class Shaped:
    """Each stage of shaping, kept so every plan row can say where its number came from."""

    led: np.ndarray
    held: np.ndarray
    floor: np.ndarray


def shape(
    required: np.ndarray,
    *,
    lead_steps: int,
    hold_steps: int,
    lower: int,
    upper: int,
    max_step_up: int | None,
    current: int | None,
) -> Shaped:
    """Lead, hold, clamp and step-cap a requirement; the result is a floor per step.

    ``current`` (replicas running now) bounds what the first steps can reach under the cap.
    """
    led = forward_max(required, lead_steps)
    held = backward_max(led, hold_steps)
    floor = np.clip(held, lower, upper)
    if max_step_up is not None:
        floor = ramp_ahead(floor, max_step_up)
        if current is not None:
            reachable = current + max_step_up * np.arange(1, len(floor) + 1)
            floor = np.minimum(floor, reachable)
        floor = np.clip(floor, lower, upper)
    return Shaped(led=led, held=held, floor=floor.astype("int64"))
