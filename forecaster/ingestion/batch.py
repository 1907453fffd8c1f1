"""Validate and store one batch of points for many series, all or nothing.

Every ingestion path (REST JSON, CSV upload, Prometheus pull, remote-write) ends here. Each path
hands over its points as columns (numpy arrays when it has them, raw lists when it does not);
validation is vectorised over the whole batch, the first problems are reported naming the
series and point they are in, and nothing of a refused batch is written.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy.orm import Session

from forecaster.errors import InvalidInputError, PayloadTooLargeError, json_text, listing, quoted
from forecaster.labels import label_problems, labels_key
from forecaster.profiles import KNOWN_METRICS
from forecaster.settings import Settings
from forecaster.storage.samples import ensure_series, write_samples
from forecaster.storage.services import services_by_name
from forecaster.telemetry import INGEST_REFUSED, INGESTED_POINTS
from forecaster.timeutil import (
    coerce_numeric,
    epoch_ms_from_seconds,
    parse_timestamps,
    to_epoch_ms,
    utc_now,
)

MAX_REPORTED_PROBLEMS = 5
# far above any real rate, queue or byte count, far below float overflow: sums and forecasts of
# such values stay finite
MAX_VALUE = 1e15
UNREADABLE_TIMESTAMP = (
    "timestamp is not ISO-8601 or epoch seconds (milliseconds are refused) between 1970 and 2262"
)

Column = Sequence[Any] | np.ndarray


@dataclass(frozen=True)
class SeriesPoints:
    """Points of one series as received.

    ``timestamps`` are ISO-8601 text or epoch seconds (a float array when the caller already
    has numbers), ``values`` numbers. ``raw`` optionally keeps the points exactly as sent, so an
    error message can quote them the way the client wrote them.
    """

    service: str
    metric: str
    timestamps: Column
    values: Column
    labels: dict[str, str] = field(default_factory=dict)
    unit: str | None = None
    raw: Sequence[Any] | None = None
    first_position: int = 0  # where these points start in the series sent, for messages
    lines: np.ndarray | None = None  # each point's line in the file it was read from, if any

    def describe(self) -> str:
        labels = f" {json_text(dict(sorted(self.labels.items())))}" if self.labels else ""
        return f"service {quoted(self.service)} metric {quoted(self.metric)}{labels}"

    def where(self, position: int) -> str:
        """Where a point (``position`` in these points) was sent, as its sender would say it."""
        sent = self.first_position + position
        return f"point {sent}" if self.lines is None else f"line {int(self.lines[sent])}"

    def raw_point(self, position: int) -> list[Any]:
        if self.raw is not None:
            return list(self.raw[position])
        return [_plain(self.timestamps[position]), _plain(self.values[position])]


@dataclass(frozen=True)
class IngestResult:
    stored: int
    series: int


@dataclass(frozen=True)
class _Columns:
    """The whole batch flattened: which series and position each point is, and its numbers."""

    series_index: np.ndarray  # int64
    position: np.ndarray  # int64, index of the point inside its own series
    ts_ms: np.ndarray  # float64 epoch ms, NaN when unreadable
    value: np.ndarray  # float64, NaN when not a number


def is_load(values: np.ndarray) -> np.ndarray:
    """Which values a stored point may hold (finite, not negative, at most ``MAX_VALUE``): the
    sources that skip the rest rather than refuse their batch, pull and remote-write, use it."""
    with np.errstate(invalid="ignore"):
        return np.isfinite(values) & (values >= 0) & (values <= MAX_VALUE)


def summed_by_series(batch: Sequence[SeriesPoints]) -> list[SeriesPoints]:
    """One item per stored series: items of numeric timestamps that land on the same series
    (upstream series told apart only by labels a pull does not keep) summed at each timestamp,
    as training sums label sets. Stored one after the other, the last had replaced the rest."""
    groups: dict[tuple[str, str, str], list[SeriesPoints]] = {}
    for item in batch:
        groups.setdefault((item.service, item.metric, labels_key(item.labels)), []).append(item)
    merged = []
    for items in groups.values():
        if len(items) == 1:
            merged.append(items[0])
            continue
        stamps = np.concatenate([np.asarray(item.timestamps, dtype=float) for item in items])
        values = np.concatenate([np.asarray(item.values, dtype=float) for item in items])
        unique, slots = np.unique(stamps, return_inverse=True)
        merged.append(
            replace(items[0], timestamps=unique, values=np.bincount(slots, weights=values))
        )
    return merged


def check_batch_size(
    batch: Sequence[SeriesPoints],
    settings: Settings,
    max_series: int | None = None,
    max_points: int | None = None,
) -> None:
    """Refuse oversize batches before any work is spent on them (413)."""
    max_series = max_series or settings.max_series_per_request
    max_points = max_points or settings.max_points_per_batch
    if len(batch) > max_series:
        raise PayloadTooLargeError(f"batch has {len(batch)} series; the limit is {max_series}")
    total = sum(len(item.timestamps) for item in batch)
    if total > max_points:
        raise PayloadTooLargeError(
            f"batch has {total} points; the limit is {max_points} per request"
        )


def ingest_batch(
    *,
    session: Session,
    batch: Sequence[SeriesPoints],
    settings: Settings,
    max_series: int | None = None,
    max_points: int | None = None,
) -> IngestResult:
    """Validate the whole batch, then upsert it in the caller's transaction.

    ``max_series`` and ``max_points`` override the per-request limits for paths that are
    bounded otherwise (remote-write by its body size, a Prometheus pull by its chunking).
    """
    check_batch_size(batch, settings, max_series, max_points)
    services = services_by_name(session=session, names={item.service for item in batch})
    keys = [labels_key(item.labels) for item in batch]
    problems = _series_problems(batch, set(services))
    columns = _columns(batch)
    problems += _point_problems(batch, columns, settings)
    if problems:
        shown = "; ".join(problems[:MAX_REPORTED_PROBLEMS])
        more = len(problems) - MAX_REPORTED_PROBLEMS
        suffix = f" (and {more} more)" if more > 0 else ""
        INGEST_REFUSED.inc()
        raise InvalidInputError(f"batch refused, nothing stored: {shown}{suffix}")
    if len(columns.ts_ms) == 0:
        return IngestResult(stored=0, series=0)
    ids = ensure_series(
        session=session,
        keys=[(services[item.service].id, item.metric, item.labels, item.unit) for item in batch],
    )
    series_ids = np.array(
        [ids[(services[i.service].id, i.metric, key)] for i, key in zip(batch, keys, strict=True)],
        dtype="int64",
    )
    stored = write_samples(
        session=session,
        series_id=series_ids[columns.series_index],
        ts_ms=columns.ts_ms.astype("int64"),
        value=columns.value,
    )
    INGESTED_POINTS.inc(stored)
    return IngestResult(stored=stored, series=len(set(series_ids.tolist())))


def ingest_long_series(*, session: Session, item: SeriesPoints, settings: Settings) -> IngestResult:
    """Store one series of any length in batches of ``max_points_per_batch``, in the caller's
    transaction (all or nothing). For a file read whole (``forecaster ingest``, the CSV
    upload), bounded by its reader and the body limit: a request log of 50,000 rows over three
    days is 259,200 seconds, which one batch would refuse."""
    chunk = settings.max_points_per_batch
    stored = series = 0
    for start in range(0, len(item.timestamps), chunk):
        part = replace(
            item,
            timestamps=item.timestamps[start : start + chunk],
            values=item.values[start : start + chunk],
            raw=None if item.raw is None else item.raw[start : start + chunk],
            first_position=item.first_position + start,
        )
        result = ingest_batch(session=session, batch=[part], settings=settings)
        stored, series = stored + result.stored, max(series, result.series)
    return IngestResult(stored=stored, series=series)


def _series_problems(batch: Sequence[SeriesPoints], known_services: set[str]) -> list[str]:
    problems = []
    for number, item in enumerate(batch):
        if item.service not in known_services:
            problems.append(
                f"{_where(number, item)}: unknown service {quoted(item.service)}; create it first"
            )
        if item.metric not in KNOWN_METRICS:
            problems.append(
                f"{_where(number, item)}: unknown metric {quoted(item.metric)}; "
                f"known: {listing(sorted(KNOWN_METRICS))}"
            )
        problems += [
            f"{_where(number, item)}: {problem}" for problem in label_problems(item.labels)
        ]
        if len(item.timestamps) != len(item.values):
            problems.append(
                f"{_where(number, item)}: {len(item.timestamps)} timestamps "
                f"but {len(item.values)} values"
            )
    return problems


def _where(number: int, item: SeriesPoints) -> str:
    return f"series {number} ({item.describe()})"


def _columns(batch: Sequence[SeriesPoints]) -> _Columns:
    lengths = [min(len(item.timestamps), len(item.values)) for item in batch]
    total = int(sum(lengths))
    if total == 0:
        empty_f, empty_i = np.zeros(0), np.zeros(0, dtype="int64")
        return _Columns(empty_i, empty_i, empty_f, empty_f)
    stamps = [item.timestamps[:n] for item, n in zip(batch, lengths, strict=True)]
    values = [item.values[:n] for item, n in zip(batch, lengths, strict=True)]
    starts = np.repeat(np.cumsum([0, *lengths[:-1]]), lengths)
    return _Columns(
        series_index=np.repeat(np.arange(len(batch)), lengths),
        position=np.arange(total) - starts,
        ts_ms=_joined(stamps, epoch_ms),
        value=_joined(values, numbers) + 0.0,  # -0 is 0 (PostgreSQL kept the sign)
    )


def _joined(parts: list[Column], convert: Callable[[Column], np.ndarray]) -> np.ndarray:
    """Convert and concatenate columns; numeric arrays (the common case) in a single call,
    since many small series (remote-write: one sample each) made per-series calls dominate."""
    if all(isinstance(part, np.ndarray) and part.dtype.kind in "iuf" for part in parts):
        return convert(np.concatenate(parts).astype("float64"))
    return np.concatenate([convert(part) for part in parts])


def epoch_ms(timestamps: Column) -> np.ndarray:
    """Epoch milliseconds (float64, NaN when unreadable) of ISO-8601 text or epoch seconds."""
    if isinstance(timestamps, np.ndarray) and timestamps.dtype.kind in "iuf":
        return epoch_ms_from_seconds(timestamps.astype("float64"))
    raw = pd.Series(list(timestamps), dtype=object)
    # as for values: True would read as 1 s after the epoch, and a boolean is never a time
    mask = np.fromiter(map(_is_number_like, raw), dtype=bool, count=len(raw))
    stamps = parse_timestamps(raw.where(mask, None))
    result = np.full(len(stamps), np.nan)
    valid = stamps.notna().to_numpy()
    if valid.any():
        result[valid] = to_epoch_ms(stamps[valid]).astype("float64")
    return result


def numbers(values: Column) -> np.ndarray:
    """Values as float64; anything that is not a number or numeric text becomes NaN."""
    if isinstance(values, np.ndarray) and values.dtype.kind in "iuf":
        return values.astype("float64")
    raw = pd.Series(list(values), dtype=object)
    mask = np.fromiter(map(_is_number_like, raw), dtype=bool, count=len(raw))
    return coerce_numeric(raw.where(mask, None)).to_numpy(dtype="float64")


def _is_number_like(value: Any) -> bool:
    """Numbers and numeric strings count as values; booleans and containers do not."""
    return isinstance(value, int | float | str) and not isinstance(value, bool)


def point_checks(
    ts_ms: np.ndarray, value: np.ndarray, latest_ms: float | None = None
) -> list[tuple[np.ndarray, str]]:
    """Each rule a point must pass, as (mask of the points that break it, why); the one set of
    rules for stored samples and what-if points (``latest_ms``: no time after it)."""
    with np.errstate(invalid="ignore"):
        checks = [
            (np.isnan(ts_ms), UNREADABLE_TIMESTAMP),
            (ts_ms < 0, "timestamp is before 1970"),
            (~np.isfinite(value), "value is not a finite number"),
            (value < 0, "value is negative"),
            (
                np.isfinite(value) & (value > MAX_VALUE),
                f"value is above {MAX_VALUE:g}: a unit error?",
            ),
        ]
        if latest_ms is not None:
            checks.insert(2, (ts_ms > latest_ms, "timestamp is in the future"))
    return checks


def _point_problems(
    batch: Sequence[SeriesPoints], columns: _Columns, settings: Settings
) -> list[str]:
    if len(columns.ts_ms) == 0:
        return []
    latest_ms = (utc_now().timestamp() + settings.max_future_seconds) * 1000
    problems = []
    for mask, reason in point_checks(columns.ts_ms, columns.value, latest_ms):
        for row in np.flatnonzero(mask)[:MAX_REPORTED_PROBLEMS]:
            number = int(columns.series_index[row])
            item = batch[number]
            position = int(columns.position[row])
            point = json_text(item.raw_point(position))
            problems.append(
                f"series {number} ({item.describe()}) {item.where(position)} {point}: {reason}"
            )
    return problems


def _plain(value: Any) -> Any:
    """A numpy scalar as the Python value it stands for."""
    return value.item() if isinstance(value, np.generic) else value
