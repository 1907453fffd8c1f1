"""Validate and store one batch of points for many series, all or nothing.

Every ingestion path (REST JSON, CSV upload, Prometheus) ends here. Validation is vectorised
over the whole batch; the first problems found are reported with the series and point they are
in, and nothing of a refused batch is written.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy.orm import Session

from forecaster.errors import InvalidInputError, PayloadTooLargeError
from forecaster.profiles import KNOWN_METRICS
from forecaster.settings import Settings
from forecaster.storage.samples import ensure_series, labels_key, write_samples
from forecaster.storage.services import services_by_name
from forecaster.timeutil import parse_timestamps, to_epoch_ms, utc_now

MAX_REPORTED_PROBLEMS = 5
EARLIEST = pd.Timestamp("1970-01-01", tz="UTC")


@dataclass(frozen=True)
class SeriesPoints:
    """Points for one series as received: raw timestamps (ISO text or epoch s) and values."""

    service: str
    metric: str
    timestamps: list[Any]
    values: list[Any]
    labels: dict[str, str] = field(default_factory=dict)
    unit: str | None = None

    def describe(self) -> str:
        labels = f" {json.dumps(self.labels, sort_keys=True)}" if self.labels else ""
        return f"service {self.service!r} metric {self.metric!r}{labels}"


@dataclass(frozen=True)
class IngestResult:
    stored: int
    series: int


def ingest_batch(
    *, session: Session, batch: list[SeriesPoints], settings: Settings
) -> IngestResult:
    """Validate the whole batch, then upsert it in the caller's transaction."""
    total = sum(len(item.timestamps) for item in batch)
    if len(batch) > settings.max_series_per_request:
        raise PayloadTooLargeError(
            f"batch has {len(batch)} series; the limit is {settings.max_series_per_request}"
        )
    if total > settings.max_points_per_batch:
        raise PayloadTooLargeError(
            f"batch has {total} points; the limit is {settings.max_points_per_batch} per request"
        )
    services = services_by_name(session=session, names={item.service for item in batch})
    problems = _series_problems(batch, set(services))
    frame = _points_frame(batch)
    problems += _point_problems(batch, frame, settings)
    if problems:
        shown = "; ".join(problems[:MAX_REPORTED_PROBLEMS])
        more = len(problems) - MAX_REPORTED_PROBLEMS
        suffix = f" (and {more} more)" if more > 0 else ""
        raise InvalidInputError(f"batch refused, nothing stored: {shown}{suffix}")
    if frame.empty:
        return IngestResult(stored=0, series=0)
    ids = ensure_series(
        session=session,
        keys=[(services[item.service].id, item.metric, item.labels, item.unit) for item in batch],
    )
    series_ids = np.array(
        [ids[(services[i.service].id, i.metric, labels_key(i.labels))] for i in batch],
        dtype="int64",
    )
    frame["series_id"] = series_ids[frame["series_index"].to_numpy()]
    stored = write_samples(session=session, frame=frame[["series_id", "ts_ms", "value"]])
    return IngestResult(stored=stored, series=len(set(series_ids.tolist())))


def _series_problems(batch: list[SeriesPoints], known_services: set[str]) -> list[str]:
    problems = []
    for number, item in enumerate(batch):
        where = f"series {number} ({item.describe()})"
        if item.service not in known_services:
            problems.append(f"{where}: unknown service {item.service!r}; create it first")
        if item.metric not in KNOWN_METRICS:
            problems.append(
                f"{where}: unknown metric {item.metric!r}; known: {sorted(KNOWN_METRICS)}"
            )
        if len(item.timestamps) != len(item.values):
            problems.append(
                f"{where}: {len(item.timestamps)} timestamps but {len(item.values)} values"
            )
    return problems


def _points_frame(batch: list[SeriesPoints]) -> pd.DataFrame:
    lengths = [min(len(item.timestamps), len(item.values)) for item in batch]
    series_index = np.repeat(np.arange(len(batch)), lengths)
    raw_ts = pd.Series(
        [ts for item, n in zip(batch, lengths, strict=True) for ts in item.timestamps[:n]],
        dtype=object,
    )
    raw_values = pd.Series(
        [v for item, n in zip(batch, lengths, strict=True) for v in item.values[:n]], dtype=object
    )
    stamps = parse_timestamps(raw_ts)
    values = pd.to_numeric(raw_values.where(raw_values.map(_is_number_like), None), errors="coerce")
    frame = pd.DataFrame(
        {
            "series_index": series_index,
            "position": _positions(lengths),
            "raw_ts": raw_ts,
            "raw_value": raw_values,
            "ts": stamps,
            "value": values.astype("float64"),
        }
    )
    valid_ts = frame["ts"].notna()
    frame["ts_ms"] = 0
    if valid_ts.any():
        frame.loc[valid_ts, "ts_ms"] = to_epoch_ms(frame.loc[valid_ts, "ts"])
    return frame


def _is_number_like(value: Any) -> bool:
    """Numbers and numeric strings count as values; booleans and containers do not."""
    return isinstance(value, int | float | str) and not isinstance(value, bool)


def _positions(lengths: list[int]) -> np.ndarray:
    """Index of each point inside its own series, for error messages."""
    total = int(sum(lengths))
    if total == 0:
        return np.zeros(0, dtype="int64")
    starts = np.repeat(np.cumsum([0, *lengths[:-1]]), lengths)
    return np.arange(total) - starts


def _point_problems(
    batch: list[SeriesPoints], frame: pd.DataFrame, settings: Settings
) -> list[str]:
    if frame.empty:
        return []
    latest = pd.Timestamp(utc_now()) + pd.Timedelta(seconds=settings.max_future_seconds)
    checks = [
        (frame["ts"].isna(), "timestamp is not ISO-8601 or epoch seconds"),
        (frame["ts"] < EARLIEST, "timestamp is before 1970"),
        (frame["ts"] > latest, "timestamp is in the future"),
        (~np.isfinite(frame["value"]), "value is not a finite number"),
        (frame["value"] < 0, "value is negative"),
    ]
    problems = []
    for mask, reason in checks:
        bad = frame[mask.fillna(False).astype(bool)]
        for row in bad.head(MAX_REPORTED_PROBLEMS).itertuples():
            item = batch[int(row.series_index)]
            point = json.dumps([_jsonable(row.raw_ts), _jsonable(row.raw_value)])
            problems.append(
                f"series {row.series_index} ({item.describe()}) "
                f"point {row.position} {point}: {reason}"
            )
    return problems


def _jsonable(value: Any) -> Any:
    if isinstance(value, float) and not np.isfinite(value):
        return str(value)
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    return str(value)
