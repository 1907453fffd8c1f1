"""The driving metric over a time window, bucketed on the server for display.

A month of 1-minute points is 43,200 per series; a chart needs about a thousand. Buckets keep
their mean and their max, so a short burst still shows at any zoom. Called by the dashboard's
history endpoint, the overview's sparklines and the forecast review.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
import pandas as pd
from sqlalchemy.orm import Session

from forecaster.errors import InvalidInputError
from forecaster.storage.samples import (
    Buckets,
    BucketWindow,
    bucketed_samples_of,
    metric_series_ids,
)
from forecaster.storage.services import get_service, profile_of
from forecaster.timeutil import as_utc, from_epoch_ms
from forecaster.training.history import early_allowance, reported_through
from forecaster.training.service_data import newest_label_set_step

DEFAULT_POINTS = 1_500
MAX_POINTS = 10_000
# bucket widths a person reads easily; buckets align on multiples of them since the epoch, so
# panning a chart never shifts the buckets it already shows
NICE_BUCKET_SECONDS = (
    1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400,
)  # fmt: skip
GAP_FACTOR = 3  # a hole longer than this many usual spacings breaks the line


@dataclass(frozen=True)
class DisplayHistory:
    """Bucketed load: ``ts`` are bucket starts; ``None`` marks a gap in the data."""

    start: datetime
    end: datetime
    bucket_seconds: int
    resolution_seconds: int  # what the buckets show: coarser data stays at its own step
    ts: list[datetime]
    mean: list[float | None]
    max: list[float | None]


def bucket_seconds_for(span_seconds: float, points: int, own_step: float | None = None) -> int:
    """The smallest readable bucket width that fits ``span_seconds`` into ``points`` buckets;
    one finer than the data's ``own_step`` divides it, so each point has a bucket on its own
    mark (QA: 2-minute buckets showed 5-minute points at 00:00, 00:04, 00:10, 00:14)."""
    wanted = span_seconds / max(points, 1)
    for width in NICE_BUCKET_SECONDS:
        if width >= wanted and (
            own_step is None or width >= own_step or round(own_step) % width == 0
        ):
            return width
    return int(math.ceil(wanted / 86400) * 86400)


def display_history(
    *,
    session: Session,
    series_ids: list[int],
    start: datetime,
    end: datetime,
    points: int = DEFAULT_POINTS,
    bucket_seconds: int | None = None,
    live: bool = False,
) -> DisplayHistory:
    """Load in [start, end) as at most ~``points`` buckets (or buckets of ``bucket_seconds``).

    ``live``: the window ends now, so its last buckets may still be arriving; those fewer label
    sets have reached than the ones before are left out, as training leaves them out
    (:func:`reported_through`), rather than drawn as a drop of the late sets' share."""
    own = newest_label_set_step(session=session, series_ids=series_ids)
    window = history_window(
        series_ids=series_ids,
        start=start,
        end=end,
        own_step=own,
        points=points,
        bucket_seconds=bucket_seconds,
    )
    buckets = bucketed_samples_of(session=session, windows={0: window})[0]
    return history_of(buckets, start=start, end=end, bucket_ms=window.bucket_ms, live=live)


def history_window(
    *,
    series_ids: list[int],
    start: datetime,
    end: datetime,
    own_step: float | None,
    points: int = DEFAULT_POINTS,
    bucket_seconds: int | None = None,
) -> BucketWindow:
    """The buckets :func:`display_history` reads, the metric's ``own_step`` read already
    (:func:`newest_label_set_step`): the overview reads every service's at once."""
    start_ms = int(start.timestamp() * 1000)
    end_ms = int(end.timestamp() * 1000)
    width = bucket_seconds or bucket_seconds_for((end_ms - start_ms) / 1000, points, own_step)
    width_ms = width * 1000
    return BucketWindow(
        series_ids=series_ids,
        start_ms=start_ms // width_ms * width_ms,
        end_ms=end_ms,
        bucket_ms=width_ms,
        early_ms=early_by_own_step(series_ids=series_ids, own_step=own_step, bucket_ms=width_ms),
    )


def history_of(
    buckets: Buckets, *, start: datetime, end: datetime, bucket_ms: int, live: bool
) -> DisplayHistory:
    """A :func:`history_window`'s buckets (:func:`bucketed_samples_of`) for display."""
    if live:
        buckets = buckets.head(reported_through(buckets.series))
    shown = break_gaps(buckets, bucket_ms)
    return DisplayHistory(
        start=start,
        end=end,
        bucket_seconds=bucket_ms // 1000,
        resolution_seconds=shown_spacing_ms(buckets.bucket_ms, bucket_ms) // 1000,
        ts=list(from_epoch_ms(shown.bucket_ms).to_pydatetime()),
        mean=nullable(shown.mean),
        max=nullable(shown.max),
    )


def early_by_own_step(
    *, series_ids: list[int], own_step: float | None, bucket_ms: int
) -> dict[int, int]:
    """Per label set, how far its points move ahead before they are bucketed on ``bucket_ms``,
    as training moves them (:func:`early_allowance`). 5-minute rows stamped 20:57:53 count
    for training's 21:00 step of 15 minutes; bucketed by their raw time, the review held every
    forecast step against a load a third of a step earlier (12.6 off on a mean of 58.7).

    ``own_step`` is read once by the caller, off the newest label set
    (:func:`newest_label_set_step`), and applies to all: one short read per call, where one
    per label set made the overview three times slower. A point rolled up to its bucket's
    start moves less than half a finer step, so it stays in its bucket."""
    if own_step is None:
        return {}
    allowance = early_allowance(round(own_step * 1000), bucket_ms)
    return dict.fromkeys(series_ids, allowance) if allowance else {}


SPACING_RUN = 10  # filled buckets the data's own step is read over, for display


def usual_spacing_ms(starts: np.ndarray, bucket_ms: int) -> int:
    """The spacing between filled buckets a hole is measured against: the larger of the
    bucket and the median distance between them (5-minute data seen through 1-minute buckets
    is not full of holes)."""
    if len(starts) < 2:
        return bucket_ms
    return max(bucket_ms, int(np.median(np.diff(starts))))


def shown_spacing_ms(starts: np.ndarray, bucket_ms: int) -> int:
    """The spacing the buckets show, for a person: the larger of the bucket and the data's
    own step, read as the median distance over runs of :data:`SPACING_RUN` filled buckets, in
    whole minutes from a minute on (through 2-minute buckets, 5-minute points fill buckets 4
    and 6 minutes apart by turns, and one distance read 4 minutes)."""
    if len(starts) < 2:
        return bucket_ms
    run = min(SPACING_RUN, len(starts) - 1)
    step_ms = float(np.median((starts[run:] - starts[:-run]) / run))
    whole = 60_000 if step_ms >= 60_000 else 1_000
    return max(bucket_ms, int(round(step_ms / whole)) * whole)


def break_gaps(buckets: Buckets, bucket_ms: int) -> Buckets:
    """Insert an empty bucket after every hole in the data, so charts do not bridge outages:
    a distance more than ``GAP_FACTOR`` times the usual spacing (:func:`usual_spacing_ms`)
    and the distances on both sides of it. A window mixing 1-minute and 5-minute points (raw
    samples beside older ones rolled up to the step) had a hole after every 5-minute point, and
    lines drew nothing there. (Two holes around a lone point are then bridged.)"""
    if len(buckets) < 3:  # two points: their distance is the only spacing there is
        return buckets
    starts = buckets.bucket_ms
    distances = np.diff(starts)
    # at either end, the one neighbour there is
    before = np.r_[distances[1:2], distances[:-1]]
    after = np.r_[distances[1:], distances[-2:-1]]
    local = np.maximum(usual_spacing_ms(starts, bucket_ms), np.maximum(before, after))
    holes = np.flatnonzero(distances > GAP_FACTOR * local)
    if len(holes) == 0:
        return buckets
    # a filler lies a local spacing after its hole's start, well short of the next bucket
    return buckets.with_empty(holes + 1, starts[holes] + local[holes])


def nullable(values: pd.Series | np.ndarray) -> list[float | None]:
    """Floats for JSON, with ``None`` where a value is missing (NaN is not valid JSON)."""
    array = np.asarray(values, dtype="float64")
    found: list[float | None] = list(array.tolist())
    for missing in np.flatnonzero(np.isnan(array)).tolist():  # found in one pass, not per value
        found[missing] = None
    return found


DEFAULT_WINDOW = timedelta(days=7)
MAX_WINDOW = timedelta(days=400)


def service_history(
    *,
    session: Session,
    name: str,
    start: datetime | None,
    end: datetime | None,
    points: int,
    now: datetime,
) -> tuple[str, DisplayHistory]:
    """A service's driving metric (summed over label sets) for display; default: the last week.

    Returns the metric's name with the history.
    """
    service = get_service(session=session, name=name)
    profile = profile_of(service)
    end = as_utc(end) if end is not None else now
    start = as_utc(start) if start is not None else end - DEFAULT_WINDOW
    if start >= end:
        raise InvalidInputError("start must be before end")
    if end - start > MAX_WINDOW:
        raise InvalidInputError(f"the window is longer than {MAX_WINDOW.days} days")
    series_ids = metric_series_ids(session=session, service_id=service.id, metric=profile.metric)
    history = display_history(
        session=session,
        series_ids=series_ids,
        start=start,
        end=end,
        points=points,
        live=end >= now,
    )
    return profile.metric, history
