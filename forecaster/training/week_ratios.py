"""Traffic against the same moments of weeks before: the measure the rules that read the end
of a history (a lasting rise, a young dip) share, so daily and weekly cycles cancel."""

from __future__ import annotations

import numpy as np

FLOOR_SHARE = 0.05  # ratios of values near zero: both sides raised by 5 % of the median


def ratio_floor(values: np.ndarray) -> float:
    """What both sides of a ratio are raised by: 5 % of the median observed magnitude, so a
    quiet night's 1 against 3 is no threefold change (0 with nothing observed)."""
    observed = values[np.isfinite(values)]
    return FLOOR_SHARE * float(np.median(np.abs(observed))) if len(observed) else 0.0


def log_ratio(values: np.ndarray, reference: np.ndarray, floor: float) -> np.ndarray:
    """log((value + floor) / (reference + floor)) at each step; NaN where either is missing."""
    return np.log(np.maximum(values, 0) + floor) - np.log(np.maximum(reference, 0) + floor)


def lagged(values: np.ndarray, lag: int) -> np.ndarray:
    """``values`` ``lag`` steps before each step; NaN before the series starts."""
    before = np.full(len(values), np.nan)
    if lag < len(values):
        before[lag:] = values[: len(values) - lag]
    return before


def run_since(breaks: np.ndarray) -> int:
    """Where the run that ends the series began: the index after the last step that breaks it
    (missing ratios, False here, neither hold nor break a run); ``len(breaks)`` when the last
    step does."""
    broken = np.flatnonzero(breaks)
    return int(broken[-1]) + 1 if len(broken) else 0


def share(values: np.ndarray, reference: np.ndarray) -> float:
    """Traffic over the same steps of ``reference`` (where both are known); 1 with none."""
    both = np.isfinite(values) & np.isfinite(reference)
    before = float(reference[both].sum())
    return float(values[both].sum()) / before if before > 0 else 1.0
