"""A young dip at the end of the history: read as missing, not as the new level.

Models forecast the next day from the last hours they saw, so a history that ends in a few
hours of unusually low traffic (a partial outage, an upstream incident, a holiday without a
calendar) lowers the whole next day: ending in 6 hours at 0.3x, seeded series were forecast
at 0.87x of what came (p95 covered 0.66), ending in a day at 0.4x at 0.62x (0.17). The
outage rule only catches exact zeros (:func:`forecaster.training.history.without_outages`),
and rises are levelled (:mod:`forecaster.training.level_shift`); a dip that has not yet
lasted long enough to be a new level is read as missing, so models forecast from the hours
before it. A forecast too high costs replicas for a while; one too low costs latency when
traffic comes back.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from forecaster.timeutil import spoken_duration
from forecaster.training.week_ratios import lagged, log_ratio, ratio_floor, run_since, share
from models.base import DAY_SECONDS, WEEK_SECONDS, step_seconds_of
from models.features import trailing_mean

SMOOTH_SECONDS = 3600  # traffic compared as trailing 1-hour means (of 3 steps at least)
MIN_SMOOTH_STEPS = 3
DIP = 0.65  # below 0.65x the same moments of the weeks before, at every step of the run
MIN_DIP_SECONDS = 3600  # shorter runs are noise a 1-hour mean still carries
MAX_DIP_SECONDS = 30 * 3600  # a holiday lasts a day; longer: traffic moved away, models follow
NORMAL = 1.25  # the day before the run within 1.25x either way of the weeks before
WEEKS_BACK = 3  # the reference: median of the same moments one to three weeks before
MAX_STEP_SECONDS = 3600


def without_trailing_dip(history: pd.Series) -> tuple[pd.Series, str]:
    """``history`` with a young dip at its end set missing (NaN), and a note saying so;
    otherwise ``history`` and ``""``.

    The dip is read from trailing 1-hour means against the median of the same moments one to
    three weeks before (so daily and weekly cycles cancel): every step of the run that ends the
    history is below 0.65x, the run has lasted from one to thirty hours, and the day before it
    was within 1.25x of the same reference (a slow decline, or a week already off, is not a
    dip). Weekly history is needed: without a week before, a quiet evening looks the same.
    """
    step = step_seconds_of(history.index)
    if step > MAX_STEP_SECONDS or len(history) < 2:
        return history, ""
    week, day = round(WEEK_SECONDS / step), round(DAY_SECONDS / step)
    values = history.to_numpy(dtype="float64")
    if len(values) < week + day + round(MIN_DIP_SECONDS / step):
        return history, ""
    floor = ratio_floor(values)
    if floor <= 0:
        return history, ""
    window = max(MIN_SMOOTH_STEPS, round(SMOOTH_SECONDS / step))
    ratios = _against_weeks_before(trailing_mean(values, window), week, floor)
    start = _low_since(ratios)
    known = np.isfinite(ratios[start:]).sum() * step  # a gap at the end is no dip
    if not (known >= MIN_DIP_SECONDS and (len(values) - start) * step <= MAX_DIP_SECONDS):
        return history, ""
    if start < day:
        return history, ""
    before = ratios[start - day : start]
    if not np.isfinite(before).any() or abs(float(np.nanmedian(before))) >= np.log(NORMAL):
        return history, ""
    # the trailing means fall below the line part-way into the dip: its first steps are found
    # on the raw ratios of the window before
    raw = _against_weeks_before(values, week, floor)[start - window : start]
    start -= window - _low_since(raw)
    cleaned = history.copy()
    cleaned.iloc[start:] = np.nan
    dip = share(values[start:], _weeks_before(values, week)[start:])
    note = (
        f"the last {spoken_duration((len(values) - start) * step)} at {dip:.2g}x the same hours "
        "of the weeks before read as missing (a dip, not yet a new level)"
    )
    return cleaned, note


def _weeks_before(values: np.ndarray, week: int) -> np.ndarray:
    """The median of the same step one to three weeks before; NaN in the first week and where
    all are missing."""
    shifted = np.stack([lagged(values, weeks * week) for weeks in range(1, WEEKS_BACK + 1)])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all missing: the first week
        return np.nanmedian(shifted, axis=0)


def _against_weeks_before(values: np.ndarray, week: int, floor: float) -> np.ndarray:
    """The log ratio of each step to the weeks before; NaN where either is missing."""
    return log_ratio(values, _weeks_before(values, week), floor)


def _low_since(ratios: np.ndarray) -> int:
    """The first index from which every known ratio is below the dip line."""
    return run_since(ratios >= np.log(DIP))
