"""Turn raw points into the regular series models expect.

Used by the train job (points from the database) and by the offline CLI (points from a CSV), so
both see exactly the same history.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

import numpy as np
import pandas as pd

from forecaster.timeutil import epoch_ns, freq_alias


def infer_step_seconds(index: pd.DatetimeIndex) -> float:
    """The typical spacing of observations, in seconds: the median gap, rounded to whole
    seconds from 10 s up and to milliseconds below, so scrape jitter (300.012 s) still gives
    the step it stands for and a grid whose frequency pandas can hold."""
    if len(index) < 2:
        raise ValueError("need at least two timestamps to infer the step; pass --freq")
    gaps = np.diff(epoch_ns(index)) / 1e9
    gaps = gaps[gaps > 0]
    if len(gaps) == 0:
        raise ValueError("all timestamps are equal; cannot infer the step")
    median = float(np.median(gaps))
    return float(round(median)) if median >= 10 else max(0.001, round(median, 3))


def regularise(
    points: pd.Series,
    step_seconds: float,
    *,
    anchor: pd.Timestamp | None = None,
    end: pd.Timestamp | None = None,
) -> pd.Series:
    """Average points into buckets ``[t, t + step)`` on a grid through ``anchor``.

    Missing buckets stay NaN (models fill them their own way). The default anchor is the first
    point, so a CSV sampled at 21:42:53, 21:47:53, ... keeps its own grid; on that grid each
    point counts for the nearest step (buckets centred on it), so a point a little early
    (jitter) does not fall into the step before.
    """
    if points.empty:
        raise ValueError("no points to build a history from")
    points = points.sort_index()
    step_ns = int(round(step_seconds * 1e9))
    origin = anchor if anchor is not None else points.index[0]
    origin_ns = origin.value
    centre = step_ns // 2 if anchor is None else 0
    offsets = (epoch_ns(points.index) - origin_ns + centre) // step_ns
    bucket_ns = origin_ns + offsets * step_ns
    grouped = points.groupby(bucket_ns).mean()
    last_ns = (
        int(grouped.index.max())
        if end is None
        else origin_ns + (end.value - origin_ns + centre) // step_ns * step_ns
    )
    first_ns = int(grouped.index.min())
    # an exact integer count: np.arange over nanosecond spans of years loses the last point
    # to float rounding
    grid = first_ns + step_ns * np.arange((last_ns - first_ns) // step_ns + 1, dtype="int64")
    index = pd.DatetimeIndex(pd.to_datetime(grid, utc=True), freq=freq_alias(step_seconds))
    return pd.Series(grouped.reindex(grid).to_numpy(), index=index, name="value")


def exclude_windows(history: pd.Series, windows: Iterable[tuple[datetime, datetime]]) -> pd.Series:
    """Blank out (set NaN) steps inside excluded windows such as incidents and outages."""
    cleaned = history.copy()
    for start, end in windows:
        cleaned[(cleaned.index >= pd.Timestamp(start)) & (cleaned.index < pd.Timestamp(end))] = (
            np.nan
        )
    return cleaned
