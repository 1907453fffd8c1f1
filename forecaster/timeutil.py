"""Time parsing shared by ingestion, the CLI and the API: durations and vectorised timestamps.

Everything inside forecaster is UTC. Naive timestamps are read as UTC; numbers are epoch seconds.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

import numpy as np
import pandas as pd

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|sec|m|min|h|d|w)?\s*$", re.IGNORECASE)
_UNIT_SECONDS = {
    "ms": 0.001,
    "s": 1.0,
    "sec": 1.0,
    "m": 60.0,
    "min": 60.0,
    "h": 3600.0,
    "d": 86400.0,
    "w": 604800.0,
}


def parse_duration(text: str | int | float) -> float:
    """Seconds in a duration such as ``48h``, ``5min``, ``30s``, ``2d`` or a bare number."""
    if isinstance(text, int | float):
        seconds = float(text)
    else:
        match = _DURATION.match(text)
        if match is None:
            raise ValueError(f"cannot read duration {text!r}: use forms like 90s, 5min, 48h, 2d")
        seconds = float(match.group(1)) * _UNIT_SECONDS[(match.group(2) or "s").lower()]
    if not np.isfinite(seconds) or seconds <= 0:
        raise ValueError(f"duration must be positive, got {text!r}")
    return seconds


def utc_now() -> datetime:
    """The current time, timezone-aware UTC (one place so tests can reason about it)."""
    return datetime.now(UTC)


def as_utc(moment: datetime) -> datetime:
    """A timezone-aware UTC datetime; naive input is taken to be UTC already."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def parse_timestamps(values: pd.Series) -> pd.Series:
    """Parse a column of ISO-8601 strings and/or epoch seconds into UTC timestamps.

    Unparseable entries become ``NaT`` so the caller can name them in its error message.
    """
    numeric = pd.to_numeric(values, errors="coerce")
    is_number = numeric.notna()
    result = pd.Series(pd.NaT, index=values.index, dtype="datetime64[ns, UTC]")
    if is_number.any():
        seconds = numeric[is_number].astype("float64")
        in_range = (
            seconds.abs() < 1e11
        )  # beyond year 5138: most likely milliseconds sent by mistake
        millis = (seconds[in_range] * 1000).round().astype("int64")
        result.loc[millis.index] = pd.to_datetime(millis, unit="ms", utc=True)
    text = values[~is_number]
    if len(text):
        parsed = pd.to_datetime(text.astype(str), format="ISO8601", utc=True, errors="coerce")
        result.loc[text.index] = parsed
    return result


def to_epoch_ms(stamps: pd.Series | pd.DatetimeIndex) -> np.ndarray:
    """Epoch milliseconds (int64) of UTC timestamps, the storage unit of samples."""
    index = pd.DatetimeIndex(stamps)
    return np.asarray(index.as_unit("ms").asi8, dtype=np.int64)


def epoch_ns(stamps: pd.DatetimeIndex | pd.Series) -> np.ndarray:
    """Epoch nanoseconds whatever the index's own unit (pandas 3 may store s, ms or us)."""
    return np.asarray(pd.DatetimeIndex(stamps).as_unit("ns").asi8, dtype=np.int64)


def from_epoch_ms(millis: np.ndarray | pd.Series) -> pd.DatetimeIndex:
    """UTC timestamps from epoch milliseconds."""
    return pd.DatetimeIndex(pd.to_datetime(np.asarray(millis, dtype=np.int64), unit="ms", utc=True))


def freq_alias(step_seconds: float) -> str:
    """A pandas frequency string for a step in seconds (``300`` -> ``300s``)."""
    if step_seconds >= 1 and float(step_seconds).is_integer():
        return f"{int(step_seconds)}s"
    return f"{round(step_seconds * 1000)}ms"
