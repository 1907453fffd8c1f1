"""Time parsing shared by ingestion, the CLI and the API: durations and vectorised timestamps.

Everything inside forecaster is UTC. Naive timestamps are read as UTC; numbers are epoch seconds.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd

from forecaster.errors import InvalidInputError, json_text

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
    """Seconds in a duration such as ``48h``, ``5min``, ``30s``, ``2d`` or a bare number (and
    whatever else pandas reads as one: ``1 day``, ``PT24H``)."""
    if isinstance(text, int | float):
        seconds = float(text)
    else:
        match = _DURATION.match(text)
        if match is not None:
            seconds = float(match.group(1)) * _UNIT_SECONDS[(match.group(2) or "s").lower()]
        else:
            try:
                seconds = pd.Timedelta(text).total_seconds()
            except ValueError:
                raise ValueError(
                    f"cannot read duration {json_text(text)}: use forms like 90s, 5min, 48h, 2d"
                ) from None
    if not np.isfinite(seconds) or seconds <= 0:
        raise ValueError(f"duration must be positive, got {json_text(text)}")
    return seconds


def unitless(text: str | int | float) -> bool:
    """Whether a duration is a bare number (read as seconds by :func:`parse_duration`)."""
    if isinstance(text, int | float):
        return True
    match = _DURATION.match(text)
    return match is not None and match.group(2) is None


def refuse_bare_seconds_under_a_step(name: str, text: str, step_seconds: float) -> None:
    """A bare number is seconds (:func:`parse_duration`); one shorter than a step was almost
    surely meant in hours, so it is refused rather than read as a single step."""
    if unitless(text) and parse_duration(text) < step_seconds:
        raise InvalidInputError(
            f"{name} {text} reads as {text} seconds, less than one {step_seconds:g}s step; "
            f"give a unit, such as {text}h"
        )


_MAX_DATETIME_MS = 9.2e12  # datetime64[ns] ends in April 2262
_MIN_NS = pd.Timestamp.min.tz_localize("UTC")
_MAX_NS = pd.Timestamp.max.tz_localize("UTC")


def utc_now() -> datetime:
    """The current time, timezone-aware UTC (one place so tests can reason about it)."""
    return datetime.now(UTC)


def as_utc(moment: datetime) -> datetime:
    """A timezone-aware UTC datetime; naive input is taken to be UTC already."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


FIRST_YEAR, LAST_YEAR = 1970, 2261  # pandas' nanosecond timestamps end in April 2262


def utc_within_years(moment: datetime) -> datetime:
    """``moment`` in UTC; a year samples, plans and events cannot hold (pandas' timestamps
    overflow) is refused here, the one check the API and the CLI share. The year is read
    before converting too: year 1 at +01:00 cannot be converted at all."""
    if FIRST_YEAR <= moment.year <= LAST_YEAR:
        moment = as_utc(moment)
    if not FIRST_YEAR <= moment.year <= LAST_YEAR:
        raise InvalidInputError(
            f"{moment.isoformat()} must lie between the years {FIRST_YEAR} and {LAST_YEAR}"
        )
    return moment


def coerce_numeric(values: pd.Series) -> pd.Series:
    """Numbers (and numeric text) as float64, anything else NaN; never raises.

    ``pd.to_numeric`` raises OverflowError on integers beyond float range (JSON allows them),
    which would otherwise surface as a server error instead of a named bad point.
    """
    try:
        return pd.to_numeric(values, errors="coerce").astype("float64")
    except OverflowError:
        return pd.to_numeric(values.map(_fits_float), errors="coerce").astype("float64")


def _fits_float(value: object) -> object:
    return None if isinstance(value, int) and abs(value) > 2**1023 else value


UTC_WORD = r"(?<=\d)\s*(?:UTC|GMT)$"  # "2024-05-01 12:00:00 UTC", as SQL exports write


def parse_timestamps(values: pd.Series) -> pd.Series:
    """Parse a column of ISO-8601 strings and/or epoch seconds into UTC timestamps.

    Unparseable entries become ``NaT`` so the caller can name them in its error message.
    """
    numeric = coerce_numeric(values)
    is_number = numeric.notna()
    result = pd.Series(pd.NaT, index=values.index, dtype="datetime64[ns, UTC]")
    if is_number.any():
        millis = pd.Series(
            epoch_ms_from_seconds(numeric[is_number].to_numpy(dtype="float64")),
            index=numeric[is_number].index,
        ).dropna()
        millis = millis[millis.abs() < _MAX_DATETIME_MS]  # beyond 2262: not a datetime64[ns]
        result.loc[millis.index] = pd.to_datetime(millis.astype("int64"), unit="ms", utc=True)
    text = values[~is_number]
    if len(text):
        text = text.astype(str)
        parsed = pd.to_datetime(text, format="ISO8601", utc=True, errors="coerce")
        # an ISO-8601 time starts with its year: pandas also read "now" and "today" as this
        # moment, which stored a point at the server's clock
        parsed = parsed.where(text.str.match(r"\s*[+-]?\d"))
        missed = parsed.isna()
        if missed.any():  # RFC 3339 allows a lowercase 't' and 'z', which pandas does not read;
            # SQL exports (BigQuery) end with " UTC"
            upper = text[missed].str.upper().str.replace(UTC_WORD, "Z", regex=True)
            upper = pd.to_datetime(upper, format="ISO8601", utc=True, errors="coerce")
            parsed = parsed.where(~missed, upper)
        # pandas may parse at a coarser unit that holds years a datetime64[ns] cannot
        in_range = parsed.notna() & (parsed > _MIN_NS) & (parsed < _MAX_NS)
        result.loc[parsed.index[in_range]] = parsed[in_range].dt.as_unit("ns")
    return result


def epoch_ms_from_seconds(seconds: np.ndarray) -> np.ndarray:
    """Epoch milliseconds (float64, rounded) of epoch seconds; NaN where not a usable time.

    Seconds beyond 1e11 (year 5138) are most likely milliseconds sent by mistake, so they are
    refused rather than silently read as the far future.
    """
    seconds = np.asarray(seconds, dtype="float64")
    dates = basic_dates_ms(seconds)
    if dates is not None:
        return dates
    with np.errstate(invalid="ignore"):
        usable = np.isfinite(seconds) & (np.abs(seconds) < 1e11)
    return np.where(usable, np.round(np.where(usable, seconds, 0.0) * 1000.0), np.nan)


def basic_dates_ms(numbers: np.ndarray) -> np.ndarray | None:
    """Epoch milliseconds of a column of YYYYMMDD dates (ISO 8601's basic form, as SQL and
    spreadsheet exports write days), else None. Read as seconds, a daily export's 20261101
    was a moment in August 1970, 30 days stored a second apart (QA). The whole column decides:
    every number 8 digits of the years 1970-2262 and nine in ten of them real days (epoch
    seconds of a 1970 trace make a real day one time in twenty-five); the others (20261131)
    are unreadable, so the batch is refused naming them rather than read as 1970 (review)."""
    finite = np.isfinite(numbers)
    days = numbers[finite]
    if (
        not len(days)
        or not ((days >= 19700101) & (days <= 22621231) & (days == np.floor(days))).all()
    ):
        return None
    whole = days.astype("int64")
    parts = {"year": whole // 10_000, "month": whole // 100 % 100, "day": whole % 100}
    dates = pd.DatetimeIndex(pd.to_datetime(pd.DataFrame(parts), errors="coerce", utc=True))
    if dates.notna().mean() < 0.9:
        return None
    millis = (dates.as_unit("ns").asi8 // 1_000_000).astype("float64")
    result = np.full(len(numbers), np.nan)
    result[finite] = np.where(dates.notna(), millis, np.nan)
    return result


def to_epoch_ms(stamps: pd.Series | pd.DatetimeIndex) -> np.ndarray:
    """Epoch milliseconds (int64) of UTC timestamps, the storage unit of samples."""
    index = pd.DatetimeIndex(stamps)
    return np.asarray(index.as_unit("ms").asi8, dtype=np.int64)


def epoch_ns(stamps: pd.DatetimeIndex | pd.Series) -> np.ndarray:
    """Epoch nanoseconds whatever the index's own unit (pandas 3 may store s, ms or us)."""
    return np.asarray(pd.DatetimeIndex(stamps).as_unit("ns").asi8, dtype=np.int64)


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def epoch_us_of(moment: datetime) -> int:
    """Exact epoch microseconds of an aware datetime (``timestamp()`` is a float)."""
    return (moment - EPOCH) // timedelta(microseconds=1)


def from_epoch_ms(millis: np.ndarray | pd.Series) -> pd.DatetimeIndex:
    """UTC timestamps from epoch milliseconds."""
    return _utc_index(np.asarray(millis, dtype=np.int64).astype("datetime64[ms]"))


def from_epoch_us(micros: np.ndarray) -> pd.DatetimeIndex:
    """UTC timestamps from epoch microseconds (whole numbers, held as ints or floats)."""
    return _utc_index(np.asarray(micros, dtype=np.int64).astype("datetime64[us]"))


def _utc_index(stamps: np.ndarray) -> pd.DatetimeIndex:
    """Naive UTC ``datetime64`` values as a UTC index in microseconds, the unit
    ``pd.to_datetime`` gives epoch numbers (built directly: a third of its time, which the
    overview paid once a service)."""
    return pd.DatetimeIndex(stamps.astype("datetime64[us]"), tz="UTC")


def spoken_duration(seconds: float) -> str:
    """A duration as a note says it: ``3 days``, ``2 h``, ``5 min``, ``30 s``."""
    if seconds >= 2 * 86_400:
        return f"{seconds / 86_400:.3g} days"
    if seconds >= 3_600:
        return f"{seconds / 3_600:.3g} h"
    if seconds >= 60:
        return f"{seconds / 60:.3g} min"
    return f"{seconds:g} s"


def freq_alias(step_seconds: float) -> str:
    """A pandas frequency string for a step in seconds (``300`` -> ``300s``)."""
    if step_seconds >= 1 and float(step_seconds).is_integer():
        return f"{int(step_seconds)}s"
    return f"{round(step_seconds * 1000)}ms"
