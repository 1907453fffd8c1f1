"""The offline contract: CSV in, CSV out, no database.

``forecaster forecast``, ``forecaster backtest`` and ``forecaster plan --input`` read a
``timestamp,value`` CSV and write their results with the same timestamp style as the input
(naive stays naive, epoch seconds stay epoch seconds, an offset stays that offset). They call
the same forecasting and planning code as the service. ``forecaster ingest`` and the CSV upload
read their files with :func:`read_text_columns` too, so every way in takes the same layouts.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta, timezone
from pathlib import Path
from typing import Any, Literal, TextIO
from zoneinfo import available_timezones

import numpy as np
import pandas as pd

from forecaster.errors import InvalidInputError, listing, quoted
from forecaster.ingestion.batch import MAX_VALUE, SeriesPoints
from forecaster.ingestion.csv_text import read_csv_text
from forecaster.planning.burst import peak_to_mean
from forecaster.planning.planner import (
    covered_load,
    effective_max_replicas,
    plan_capacity,
    replicas_for_load,
)
from forecaster.planning.reactive import check_floor
from forecaster.profiles import ScalingProfile, check_country, check_zone
from forecaster.review.detail import planned_capacity
from forecaster.timeutil import (
    UTC_WORD,
    basic_dates_ms,
    coerce_numeric,
    epoch_ns,
    parse_duration,
    parse_timestamps,
    refuse_bare_seconds_under_a_step,
    spoken_duration,
    to_epoch_ms,
)
from forecaster.training.daylight_saving import ClockChange, detect_clock_change
from forecaster.training.forecasting import ForecastOutcome, Progress, make_forecast
from forecaster.training.history import infer_step_seconds, on_latest_clock, regularise
from models.base import DEFAULT_QUANTILES
from models.calendar import Calendar, utc_offset_minutes

_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_OFFSET = re.compile(r"[T ]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?\s*([+-])(\d{2}):?(\d{2})?$")
_CLOCK = re.compile(r"\d{4}-\d{2}-\d{2}([Tt ])\s*\d{1,2}:\d{2}(:\d{2})?")


@dataclass(frozen=True)
class TimestampStyle:
    """How an input file wrote its timestamps, so outputs can be written the same way: a
    script that joins our rows to its own on the timestamp text should not need to convert."""

    kind: Literal["naive", "date", "basic", "utc", "offset", "epoch"]  # basic: 20261101
    offset_minutes: int = 0
    # as written between date and time ("T" or " "; None: the kind's usual one), and whether
    # the clock had seconds: pandas writes "2024-05-01 12:00:00+00:00", spreadsheets "12:00"
    separator: str | None = None
    seconds: bool = True
    utc_suffix: str = "Z"  # or " UTC", as SQL exports write it

    @classmethod
    def of(cls, sample: str) -> TimestampStyle:
        """The style of one timestamp as written (the file's last row is the one that counts)."""
        text = sample.strip()
        if coerce_numeric(pd.Series([text])).notna().iloc[0]:  # as parse_timestamps decides
            basic = text.isdigit() and basic_dates_ms(np.array([float(text)])) is not None
            return cls("basic" if basic else "epoch")
        clock = _CLOCK.match(text)
        separator = None if clock is None else ("T" if clock[1] in "Tt" else " ")
        seconds = clock is None or bool(clock[2])
        if text.upper().endswith("Z"):
            return cls("utc", separator=separator, seconds=seconds)
        word = re.search(UTC_WORD, text, re.IGNORECASE)
        if word is not None:
            return cls("utc", separator=separator, seconds=seconds, utc_suffix=word[0])
        if _DATE.fullmatch(text):
            return cls("date")
        match = _OFFSET.search(text)
        if match is None:
            return cls("naive", separator=separator, seconds=seconds)
        sign, hours, minutes = match.groups()
        total = int(hours) * 60 + int(minutes or 0)
        offset = -total if sign == "-" else total
        return cls("offset", offset, separator=separator, seconds=seconds)

    def format(self, index: pd.DatetimeIndex) -> list[str]:
        """Timestamps in this style (instants unchanged), with milliseconds when any step
        falls between whole seconds (sub-second data), so no two rows read the same."""
        utc = index.tz_convert("UTC")
        millis = bool((epoch_ns(utc) % 1_000_000_000 != 0).any())
        if self.kind == "epoch":
            if millis:
                return [f"{ms / 1000:.3f}" for ms in utc.as_unit("ms").asi8]
            return [str(second) for second in utc.as_unit("s").asi8]
        naive = utc.tz_localize(None)
        if self.kind in ("date", "basic") and (naive == naive.normalize()).all():
            # daily data: dates, as it came
            return list(naive.strftime("%Y-%m-%d" if self.kind == "date" else "%Y%m%d"))
        seconds = self.seconds or bool((epoch_ns(utc) % 60_000_000_000 != 0).any())
        clock = "%H:%M:%S" if seconds else "%H:%M"
        if self.kind in ("naive", "date", "basic"):
            return _clock(naive, f"%Y-%m-%d{self.separator or ' '}{clock}", millis)
        pattern = f"%Y-%m-%d{self.separator or 'T'}{clock}"
        if self.kind == "utc":
            return [text + self.utc_suffix for text in _clock(utc, pattern, millis)]
        local = utc.tz_convert(timezone(timedelta(minutes=self.offset_minutes)))
        suffix = _offset_text(self.offset_minutes)
        return [text + suffix for text in _clock(local, pattern, millis)]


def _clock(index: pd.DatetimeIndex, pattern: str, millis: bool) -> list[str]:
    """``index`` written with ``pattern``, plus ``.mmm`` when ``millis``."""
    if not millis:
        return list(index.strftime(pattern))
    return [text[:-3] for text in index.strftime(pattern + ".%f")]


@dataclass(frozen=True)
class SeriesFile:
    """A loaded ``timestamp,value`` CSV: its points and how its timestamps were written."""

    points: pd.Series
    style: TimestampStyle
    missing_values: int = 0  # rows whose value was blank, NaN, NA or null: gaps, not errors
    # the file's last timestamp, a row without a value included: forecasts start after it
    end: pd.Timestamp | None = None
    note: str | None = None  # how an unusual layout was read (two other columns, no header)
    # per point, its UTC offset less the last row's, where the rows carry more than one
    # offset (daylight saving time): see :meth:`on_latest_clock`
    clock_shift: pd.Series | None = None

    def on_latest_clock(self) -> pd.Series:
        """The points with every row written at another UTC offset moved onto the last row's
        (:func:`~forecaster.training.history.on_latest_clock`): the file's own offsets say
        which clock its traffic follows."""
        if self.clock_shift is None:
            return self.points
        return on_latest_clock(self.points, self.clock_shift.to_numpy())

    def matching_zone(self) -> str | None:
        """The first time zone (by name) whose UTC offsets are the rows' own at every point
        where they change, and at the first and last rows; None for a file at one offset or
        one no zone matches. The replay simulator forecasts on a zone's clock (a profile's
        ``timezone``), not on a file's offsets."""
        if self.clock_shift is None or self.style.kind != "offset":
            return None
        shift = self.clock_shift.to_numpy()
        changes = np.flatnonzero(np.diff(shift)) + 1
        keep = np.unique(np.concatenate([[0, len(shift) - 1], changes, changes - 1]))
        instants = pd.DatetimeIndex(self.points.index[keep])
        wanted = shift[keep] + self.style.offset_minutes
        for zone in sorted(available_timezones()):
            if np.array_equal(utc_offset_minutes(instants, zone), wanted):
                return zone
        return None

    def on_its_clock(self, profile: ScalingProfile) -> tuple[ScalingProfile, str | None]:
        """``profile`` with the time zone the rows' own UTC offsets follow when it names none,
        or, for rows in UTC, the zone whose daylight-saving change their daily cycle followed
        (:func:`detected_clock_change`), and a note saying so (None when there was nothing to
        decide): the replay forecasts on a zone's clock, and rows written at -05:00, then
        -04:00 had been replayed on UTC's (the morning ramp planned an hour late after the
        spring change). The CLI's file and
        the API's inline points both come through here, so both forecast on one clock."""
        if profile.timezone is not None:
            return profile, None
        if self.clock_shift is None:  # UTC rows: a daily cycle may show the clock it follows
            change = detected_clock_change(self)
            if change is None:
                return profile, None
            update = {"timezone": change.zone}
            return profile.model_copy(update=update), change.note("set the profile's timezone")
        zone = self.matching_zone()
        if zone is None:
            return profile, (
                "no time zone changes its UTC offset where the rows do: the predictive policy "
                "forecasts on UTC's clock (set the profile's timezone)"
            )
        note = f"the rows' offsets follow {zone}'s clock: the predictive policy forecasts on it"
        return profile.model_copy(update={"timezone": zone}), note

    @property
    def negative_values(self) -> int:
        """Values below zero. Load cannot be negative, but the forecasting commands take them
        as they are (their forecasts stop at 0), so the user is told rather than refused."""
        return int((self.points < 0).sum())


# a request log spanning longer than this many seconds is counted per minute (or hour)
REQUEST_LOG_MAX_BUCKETS = 1_000_000

MISSING_VALUES = frozenset({"", "nan", "na", "n/a", "null", "none"})


def _written_as_missing(text: pd.Series) -> pd.Series:
    """Which values are written as missing (blank, NaN, NA, null, ...): a gap, not a point."""
    return text.str.strip().str.lower().isin(MISSING_VALUES)


@dataclass(frozen=True)
class TextColumns:
    """The timestamp and value columns of a CSV, as written (text), and how they were found."""

    timestamps: pd.Series
    values: pd.Series
    note: str | None = None  # how an unusual layout was read (two other columns, no header)
    first_line: int = 2  # the file's line number of the first row (1 without a header)
    counted: bool = False  # a request log's rate: rows counted per second, not the file's lines

    def lines(self) -> np.ndarray | None:
        """The file's line of each row, for messages (None when the rows were counted)."""
        return None if self.counted else self.timestamps.index.to_numpy() + self.first_line


def read_text_columns(
    source: Path | bytes,
    value_column: str | None = None,
    *,
    name: str | None = None,
    value_option: str = "--value-column",
) -> TextColumns:
    """The ``timestamp,value`` columns of a CSV as text. A file with just two columns by other
    names, or without a header, is read as that too; ``value_column`` names the value column
    of a wider file; a request log (see :func:`request_log_columns`) is read as a rate per
    second; ``note`` says how. The offline commands, ``forecaster ingest`` and the CSV upload
    read the same: ``source`` is a file or an upload's bytes, ``name`` what messages call it
    (the path by default) and ``value_option`` how the caller spells ``value_column``."""
    name = str(source) if name is None else name
    raw = read_csv_text(source, header=0, name=name)
    columns = {column.lower().strip(): column for column in raw.columns}
    if value_column is not None:
        return _named_column(raw, columns, value_column, name)
    note, first_line = None, 2
    if "timestamp" in columns and "value" in columns:
        time_name, value_name = columns["timestamp"], columns["value"]
    elif raw.shape[1] == 2:  # two columns by other names, or no header at all
        time_name, value_name = raw.columns
        if parse_timestamps(pd.Series([time_name])).notna().all():
            raw = read_csv_text(source, header=None, name=name)
            time_name, value_name = raw.columns
            note, first_line = "no header row: read the two columns as timestamp,value", 1
        else:
            note = f"read columns {quoted(time_name)},{quoted(value_name)} as timestamp,value"
    elif "timestamp" in columns and _one_row_per_event(
        stamps := parse_timestamps(raw[columns["timestamp"]])
    ):
        return request_log_columns(raw[columns["timestamp"]], stamps, name)
    else:
        raise InvalidInputError(
            f"{name}: expected columns timestamp,value, got {listing(raw.columns)}"
            + (f"; name the value column with {value_option}" if raw.shape[1] > 2 else "")
        )
    return TextColumns(raw[time_name], raw[value_name], note, first_line)


def _named_column(
    raw: pd.DataFrame, columns: dict[str, str], value_column: str, name: str
) -> TextColumns:
    """``value_column`` (any case) against the ``timestamp`` column, or the first column when
    none is named so; in a request log, that column summed per second."""
    column = columns.get(value_column.lower().strip())
    if column is None:
        raise InvalidInputError(
            f"{name}: no column {quoted(value_column)}; the columns are {listing(raw.columns)}"
        )
    time_column = columns.get("timestamp", raw.columns[0])
    if column == time_column:
        raise InvalidInputError(f"{name}: {quoted(value_column)} is the timestamp column")
    stamps = parse_timestamps(raw[time_column])
    if _one_row_per_event(stamps):
        return request_log_columns(raw[time_column], stamps, name, raw[column])
    note = f"read columns {quoted(time_column)},{quoted(column)} as timestamp,value"
    return TextColumns(raw[time_column], raw[column], note)


def _one_row_per_event(stamps: pd.Series) -> bool:
    """Whether rows come at irregular times (``stamps`` parsed, NaT where unreadable), one per
    request, not one per step of a series: most rows sharing a timestamp, or gaps neither
    exact (half within 1 % of the median gap) nor close to it (80 % within 25 %, as the gaps of
    rows jittered a fifth of a step either side of their marks are; arrivals at random, ~17 %).
    A wide metrics export must not be counted as requests: 5-minute rows up to 60 s off their
    marks were, and 864 CPU readings near 50 % became 258,894 per-second points, nearly all 0."""
    gaps = np.diff(np.sort(epoch_ns(pd.DatetimeIndex(stamps.dropna()))))
    if len(gaps) < 2:
        return False
    median = float(np.median(gaps))
    if median == 0:
        return True
    off = np.abs(gaps - median) / median
    return float(np.mean(off <= 0.01)) < 0.5 and float(np.mean(off <= 0.25)) < 0.8


def request_log_columns(
    stamps_text: pd.Series,
    stamps: pd.Series,
    name: str,
    amounts_text: pd.Series | None = None,
) -> TextColumns:
    """A request log (a ``timestamp`` column, no ``value``, rows at irregular times: one per
    request, as in Azure's LLM inference traces) read as a rate per second: requests, or the
    sum of ``amounts_text`` (tokens), per second (per minute or hour when seconds would exceed
    ``REQUEST_LOG_MAX_BUCKETS``), every bucket from the first request to the last, one without
    requests counting 0 (not missing). ``stamps`` is ``stamps_text`` parsed (the caller has
    parsed it to tell a log from a series).

    Why: a log of requests is what an inference service often has to hand; its per-second rate
    is the series the counted form holds, and ``--freq`` averages that to any step.
    """
    amounts = np.ones(len(stamps))
    if amounts_text is not None:
        amounts = coerce_numeric(amounts_text).to_numpy(dtype="float64")
    bad = stamps.isna().to_numpy() | ~np.isfinite(amounts)
    if bad.any():
        first = int(bad.nonzero()[0][0])
        amount = "" if amounts_text is None else f",{amounts_text.iloc[first]}"
        raise InvalidInputError(
            f"{name}: {int(bad.sum())} unreadable rows in a request log, first at line "
            f"{first + 2}: {stamps_text.iloc[first]}{amount}"
        )
    if stamps.empty:
        raise InvalidInputError(f"{name}: no rows: a request log needs at least one request")
    seconds = epoch_ns(pd.DatetimeIndex(stamps)) // 1_000_000_000
    span = int(seconds.max() - seconds.min()) + 1
    bucket = next((b for b in (1, 60, 3600) if span / b <= REQUEST_LOG_MAX_BUCKETS), 86400)
    first_bucket = int(seconds.min()) // bucket
    rates = np.bincount(seconds // bucket - first_bucket, weights=amounts) / bucket
    grid = pd.to_datetime((first_bucket + np.arange(len(rates))) * bucket, unit="s", utc=True)
    style = TimestampStyle.of(str(stamps_text.iloc[int(np.argmax(seconds))]))
    per = {1: "second", 60: "minute", 3600: "hour"}.get(bucket, "day")
    what = "requests" if amounts_text is None else str(amounts_text.name)
    return TextColumns(
        timestamps=pd.Series(style.format(pd.DatetimeIndex(grid))),
        values=pd.Series([f"{rate:.9g}" for rate in rates]),
        note=(
            f"read {len(stamps)} rows as a request log: {what} per second, counted per {per} "
            f"({len(rates)} {per}s)"
        ),
        counted=True,
    )


def points_to_store(
    source: Path | bytes,
    value_column: str | None = None,
    *,
    service: str,
    metric: str,
    unit: str | None = None,
    name: str | None = None,
    value_option: str = "--value-column",
) -> tuple[SeriesPoints, str | None]:
    """What ``forecaster ingest`` and the CSV upload store of a file, and a note on how it was
    read: :func:`read_text_columns` less the rows whose value is blank (or NaN, NA, null). The
    offline commands read those as gaps, and a gap in the database is a point not stored;
    refusing them would refuse a file that ``forecaster forecast`` reads. The rows are parsed
    here once (an unreadable one is named by its line), and the batch keeps the text as
    written and each row's line for the messages of the checks it runs."""
    columns = read_text_columns(source, value_column, name=name, value_option=value_option)
    missing = _values_written(columns, name or str(source))
    stamps, values = _parsed(columns, missing, name or str(source))
    kept = ~missing.to_numpy()
    note = columns.note
    if not kept.all():
        gaps = f"{int((~kept).sum())} rows without a value left out (gaps)"
        note = gaps if note is None else f"{note}; {gaps}"
    if repeats := _repeated_note(pd.DatetimeIndex(stamps[kept]), "the last row of each is stored"):
        note = repeats if note is None else f"{note}; {repeats}"
    lines = columns.lines()
    written = np.column_stack(
        [columns.timestamps.to_numpy(object), columns.values.to_numpy(object)]
    )
    points = SeriesPoints(
        service=service,
        metric=metric,
        unit=unit,
        timestamps=to_epoch_ms(stamps[kept]) / 1000.0,
        values=values.to_numpy(dtype="float64")[kept],
        raw=written[kept],
        lines=None if lines is None else lines[kept],
    )
    return points, note


def _values_written(columns: TextColumns, name: str) -> pd.Series:
    """Which rows' values are written as missing (:func:`_written_as_missing`); a file of only
    a header, or whose every value is blank, holds no points and is refused, naming it, rather
    than read as an empty series (ingest said "stored 0 points" and looked like a success)."""
    if columns.values.empty:
        raise InvalidInputError(f"{name}: no rows after the header")
    missing = _written_as_missing(columns.values)
    if missing.all():
        raise InvalidInputError(f"{name}: no readable rows (every value is blank)")
    return missing


def _repeated_note(stamps: pd.DatetimeIndex, outcome: str) -> str:
    """A note on rows that repeat an earlier row's timestamp (an export run twice, a join),
    saying what became of them; "" when none do."""
    repeated = int(stamps.duplicated().sum())
    if not repeated:
        return ""
    rows = "1 row repeats" if repeated == 1 else f"{repeated} rows repeat"
    return f"{rows} an earlier row's timestamp: {outcome}"


def read_series_csv(path: Path, value_column: str | None = None) -> SeriesFile:
    """Read a CSV with columns ``timestamp,value`` (or the layouts :func:`read_text_columns`
    reads, ``value_column`` naming the value of a wider file).

    A blank (or NaN, NA, null) value is a missing observation: the row is left out and the
    models see a gap. Any other unreadable value or timestamp refuses the file, naming the row.
    """
    columns = read_text_columns(path, value_column)
    missing = _values_written(columns, str(path))
    stamps, values = _parsed(columns, missing, str(path))
    kept = ~missing.to_numpy()
    last = stamps.idxmax()  # the file's last row, a row without a value included
    shift, clocks = clock_shift(columns.timestamps, last)
    rows = pd.DataFrame(
        {
            "value": values.to_numpy(dtype="float64"),
            "shift": 0 if shift is None else shift.to_numpy(),
        },
        index=pd.DatetimeIndex(stamps),
    )[kept].sort_index(kind="stable")
    repeats = _repeated_note(pd.DatetimeIndex(rows.index), "the values of a timestamp are averaged")
    return SeriesFile(
        points=rows["value"],
        style=TimestampStyle.of(str(columns.timestamps.at[last])),
        missing_values=int(missing.sum()),
        end=pd.Timestamp(stamps[last]),
        note="; ".join(filter(None, [columns.note, clocks, repeats])) or None,
        clock_shift=None if shift is None else rows["shift"],
    )


def _parsed(columns: TextColumns, missing: pd.Series, name: str) -> tuple[pd.Series, pd.Series]:
    """The timestamps and values read; any row unreadable (but a blank value, a gap) refuses
    the file, named by its line as a person sees it in an editor."""
    text = columns.values
    stamps = parse_timestamps(columns.timestamps)
    values = pd.to_numeric(text.where(~missing, "nan"), errors="coerce")
    numbers = values.to_numpy(dtype="float64")
    bad = stamps.isna() | (~np.isfinite(numbers) & ~missing)
    # as ingestion refuses them: sums of such values overflow to inf (1.7e308 planned NaN)
    with np.errstate(invalid="ignore"):
        huge = pd.Series(np.abs(numbers) > MAX_VALUE, index=bad.index) & ~bad
    for rows, why in (
        (bad, "unreadable rows"),
        (huge, f"values above {MAX_VALUE:g} (a unit error?)"),
    ):
        if rows.any():
            first = int(rows.to_numpy().nonzero()[0][0])
            line = first + columns.first_line
            stamp = columns.timestamps.iloc[first]
            raise InvalidInputError(
                f"{name}: {int(rows.sum())} {why}, first at line {line}: "
                f"{stamp},{text.iloc[first]}{_row_hint(stamp, text.iloc[first])}"
            )
    _refuse_serial_dates(columns.timestamps, name)
    return stamps, values


# spreadsheet serial dates (days since 1899-12-30) of the years 1954-2119
SERIAL_DATES = (20_000.0, 80_000.0)


def _refuse_serial_dates(timestamps: pd.Series, name: str) -> None:
    """Numbers that are all spreadsheet serial dates (``46096.541667``, 15 minutes apart as
    ``0.0104``) read as epoch seconds fall on 1 January 1970 less than a second apart: a 6 h
    forecast wrote 2,160,000 rows. Refused, naming what they probably are (a QA pass)."""
    numbers = coerce_numeric(timestamps).to_numpy(dtype="float64")
    if len(numbers) < 2 or not np.isfinite(numbers).all():
        return
    low, high = SERIAL_DATES
    spacing = np.diff(np.unique(numbers))
    if len(spacing) and numbers.min() >= low and numbers.max() <= high and np.median(spacing) < 1:
        raise InvalidInputError(
            f"{name}: timestamps such as {timestamps.iloc[-1]} read as epoch seconds fall on "
            "1 January 1970, under a second apart: spreadsheet serial dates (days since "
            "1899-12-30)? Give ISO-8601 or epoch seconds"
        )


def clock_shift(timestamps: pd.Series, last: Any) -> tuple[pd.Series | None, str]:
    """Each row's UTC offset (minutes) less the last row's, and a note, when every row carries
    an offset and they are not all the same (a daylight-saving change); else None and ""."""
    if _OFFSET.search(str(timestamps.at[last]).strip()) is None:
        return None, ""  # the usual case (UTC, naive, epoch), known without reading every row
    parts = timestamps.str.strip().str.extract(_OFFSET)
    if parts[0].isna().any():
        return None, ""
    minutes = parts[1].astype(int) * 60 + parts[2].fillna("0").astype(int)
    minutes = minutes.where(parts[0] == "+", -minutes)
    if minutes.nunique() < 2:
        return None, ""
    latest = int(minutes.at[last])
    written = listing(sorted({_offset_text(int(m)) for m in minutes.unique()}))
    note = (
        f"timestamps carry UTC offsets {written}: rows at another offset than the last row's "
        f"({_offset_text(latest)}) are read on its clock, as local time"
    )
    return minutes - latest, note


def _offset_text(minutes: int) -> str:
    """A UTC offset as ISO-8601 writes it: ``-05:00``, ``+05:45``."""
    hours, rest = divmod(abs(minutes), 60)
    return f"{'-' if minutes < 0 else '+'}{hours:02d}:{rest:02d}"


# 03/04/2024 or 04.03.2024 00:05: a spreadsheet's local date, day or month first
_LOCAL_DATE = re.compile(r"\s*\d{1,2}[./-]\d{1,2}[./-]\d{2,4}\b")
# 10,063, 1,234.5 or 10,5: a thousands separator or a decimal comma
_COMMA_NUMBER = re.compile(r"\s*[+-]?\d[\d,]*,\d+(\.\d*)?\s*")


def _row_hint(stamp: str, value: str) -> str:
    """Why a row was refused, when its form says: epoch milliseconds (or finer) read as
    seconds would land thousands of years ahead; a local date (``03/04/2024``) is ambiguous
    between day and month first; a comma in a number is a thousands separator or a decimal
    comma. Named rather than guessed (a QA sweep: such rows were refused without a why)."""
    number = coerce_numeric(pd.Series([stamp])).iloc[0]
    if math.isfinite(number) and abs(number) >= 1e11:
        return " (epoch milliseconds? give epoch seconds or ISO-8601)"
    if _LOCAL_DATE.match(stamp):
        return " (a day-first or month-first date? write ISO-8601, such as 2024-03-04 00:05:00)"
    if _COMMA_NUMBER.fullmatch(value):
        return " (a thousands separator or a decimal comma? write plain numbers, such as 1234.5)"
    return ""


def regular_history(
    series_file: SeriesFile, freq: str | None, *, whole_last_step: bool = False
) -> pd.Series:
    """The file's points on a regular grid: its own step and phase, or ``freq`` from epoch.

    The grid runs to the file's last timestamp: trailing rows without a value are a gap at the
    end, so the forecast still starts one step after the last row, as the contract says. With
    ``whole_last_step`` a last ``freq`` step the rows do not fill is left out, so the forecast
    starts with the step the file ends in (:func:`plan_file`).
    """
    points, end = series_file.points, series_file.end
    if len(points) < 2:
        raise InvalidInputError(
            f"{len(points)} row with a value: a forecast needs at least two, to know the step"
        )
    data_step = infer_step_seconds(points.index)
    points = series_file.on_latest_clock()
    if freq is None:
        return regularise(points, data_step, end=end)
    step = parse_duration(freq)
    if math.isclose(step, data_step):
        return regularise(points, step, end=end)
    history = regularise(points, step, anchor=pd.Timestamp(0, tz="UTC"), end=end)
    if (
        whole_last_step
        and len(history) > 2
        and not _fills_last_step(series_file, history, data_step)
    ):
        return history.iloc[:-1]
    return history


def detected_clock_change(series_file: SeriesFile) -> ClockChange | None:
    """The zone whose daylight-saving change the file's daily cycle followed, for the offline
    commands to read it on when given none (:func:`detect_clock_change`, on the file's own
    step); None for rows that carry their own offsets (read on their clock already)."""
    if series_file.clock_shift is not None:
        return None
    return detect_clock_change(regular_history(series_file, None))


def _fills_last_step(series_file: SeriesFile, history: pd.Series, rows_step: float) -> bool:
    """Whether the file's rows (each standing for ``rows_step`` seconds) reach the end of
    ``history``'s last step."""
    covered = (series_file.end or series_file.points.index[-1]) + pd.Timedelta(seconds=rows_step)
    return covered >= history.index[-1] + pd.Timedelta(history.index.freq)


def finer_freq_note(series_file: SeriesFile, freq: str | None) -> str:
    """Why ``--freq`` finer than the data's own step is worth a word ("" otherwise): most of
    its steps hold no row, and the models fill them in between the rows, so the forecast's
    detail within a row's step is made up."""
    if freq is None or len(series_file.points) < 2:
        return ""
    try:
        step = parse_duration(freq)
    except ValueError:
        return ""  # regular_history refuses it, saying why
    data_step = infer_step_seconds(series_file.points.index)
    per_row = round(data_step / step) if step > 0 else 0
    if per_row < 2:
        return ""
    return (
        f"--freq {freq} is finer than the data's step of {spoken_duration(data_step)}: "
        f"{per_row - 1} of every {per_row} steps have no row and are filled in between rows"
    )


def horizon_steps(horizon: str, history: pd.Series) -> int:
    """How many steps of ``history``'s grid cover a horizon such as ``48h``. A bare number is
    seconds; one that is shorter than a step was almost surely meant in hours or steps, so it
    is refused. So is one reaching past 2262, where timestamps end (pandas' own error named
    only a start and a number of periods)."""
    step_seconds = pd.Timedelta(history.index.freq).total_seconds()
    refuse_bare_seconds_under_a_step("--horizon", horizon, step_seconds)
    seconds = parse_duration(horizon)
    steps = max(1, math.ceil(seconds / step_seconds - 1e-9))
    last = pd.Timestamp.max.tz_localize("UTC")
    room = (last - history.index[-1]).total_seconds()
    if steps * step_seconds > room:
        raise InvalidInputError(
            f"--horizon {horizon} reaches past {last:%Y-%m-%d}, the last day a timestamp can "
            "hold; give a shorter one"
        )
    return steps


def forecast_file(
    series_file: SeriesFile,
    *,
    horizon: str,
    freq: str | None = None,
    model: str = "auto",
    quantiles: Sequence[float] = DEFAULT_QUANTILES,
    holidays: str | None = None,
    timezone: str | None = None,
    whole_last_step: bool = False,
) -> ForecastOutcome:
    """Forecast a loaded CSV: the engine behind ``forecaster forecast`` (``whole_last_step``:
    :func:`regular_history`'s)."""
    history = regular_history(series_file, freq, whole_last_step=whole_last_step)
    return make_forecast(
        history,
        horizon_steps(horizon, history),
        model=model,
        quantiles=quantiles,
        calendar=file_calendar(series_file, holidays, timezone),
    )


def file_calendar(
    series_file: SeriesFile, country: str | None, zone: str | None
) -> Calendar | None:
    """The calendar of ``--holidays COUNTRY`` and ``--timezone ZONE``, each refused clearly
    when unknown. A file whose rows carry more than one UTC offset is already read on its own
    clock (:meth:`SeriesFile.on_latest_clock`): the zone then adds nothing."""
    zone = None if series_file.clock_shift is not None else zone
    if not country and not zone:
        return None
    try:
        code = check_country(country)
        if zone:
            check_zone(zone)
    except ValueError as error:
        raise InvalidInputError(str(error)) from None
    return Calendar(holiday_country=code, timezone=zone)


def backtest_file(
    series_file: SeriesFile,
    *,
    horizon: str,
    freq: str | None = None,
    candidates: Sequence[str] | None = None,
    progress: Progress | None = None,
    holidays: str | None = None,
    timezone: str | None = None,
) -> ForecastOutcome:
    """Backtest every candidate on a loaded CSV: the engine behind ``forecaster backtest``.

    The same selection ``forecaster forecast --model auto`` runs; the outcome's leaderboard
    holds the scores and its champion the model ``forecast`` would use.
    """
    history = regular_history(series_file, freq)
    return make_forecast(
        history,
        horizon_steps(horizon, history),
        candidates=candidates,
        progress=progress,
        calendar=file_calendar(series_file, holidays, timezone),
    )


def plan_file(
    series_file: SeriesFile,
    profile: ScalingProfile,
    *,
    horizon: str,
    freq: str | None = None,
    model: str = "auto",
) -> pd.DataFrame:
    """Forecast then plan a loaded CSV: the engine behind ``forecaster plan --input``.

    The plan step is :func:`plan_freq`'s; the profile's ``holiday_country`` and ``timezone``
    count, as in the service. When the data is finer than that step, the plan also covers the
    typical peak inside a step (:func:`forecaster.planning.burst.peak_to_mean`), and its first
    row is the step the file ends in (as many rows as ever): after a file ending at 05:32, a
    15-minute plan starting at 05:45 left 13 minutes with no floor (an hourly one 28).
    """
    outcome = forecast_file(
        series_file,
        horizon=horizon,
        freq=plan_freq(series_file, profile, freq),
        model=model,
        quantiles=profile.forecast_quantiles,
        holidays=profile.holiday_country,
        timezone=profile.timezone,
        whole_last_step=True,
    )
    return plan_forecast(outcome, series_file, profile)


def plan_forecast(
    outcome: ForecastOutcome, series_file: SeriesFile, profile: ScalingProfile
) -> pd.DataFrame:
    """The plan of :func:`plan_file` from a forecast already made of the file (one forecast
    carrying several quantiles serves profiles that differ only in what they plan from)."""
    step = pd.Timedelta(outcome.frame.index.freq).total_seconds()
    column = profile.quantile_column
    factor = peak_to_mean(series_file.points, step_seconds=step)
    plan = plan_capacity(outcome.frame[column], profile, step_seconds=step, peak_factor=factor)
    checked = check_floor(plan, series_file.points, profile)
    checked.attrs["model"] = outcome.model  # what the forecast under the plan came from
    checked.attrs["message"] = outcome.message
    covered = covered_load(plan["load"].to_numpy(), profile, factor)
    if not profile.tiers:
        needed = replicas_for_load(covered, profile, profile.floor_utilization)
        checked.attrs["note"] = _cap_note(checked, profile, int(needed.max(initial=0)))
    else:
        checked.attrs["note"] = _tier_cap_note(plan, profile, covered)
    return checked


def _tier_cap_note(plan: pd.DataFrame, profile: ScalingProfile, covered: np.ndarray) -> str | None:
    """A tiered plan's rows whose mix falls short of the load: the fullest mix the maxima
    allow, which otherwise read like a calm forecast (:func:`_cap_note` for tiers)."""
    capacity = planned_capacity(profile, plan["replicas"], plan["tier"])
    short = int((capacity < covered * (1 - 1e-9)).sum())
    if not short:
        return None
    return (
        f"{short} of {len(plan)} plan rows cannot cover the {profile.quantile_column} load within "
        f"max_replicas {profile.max_replicas} and the tiers' own maxima: they hold the fullest "
        "mix allowed"
    )


def _cap_note(plan: pd.DataFrame, profile: ScalingProfile, needed: int) -> str | None:
    """Rows held at the replica ceiling below what the forecast needs: a flat plan at
    ``max_replicas`` otherwise reads like a calm forecast, not one the fleet cannot cover."""
    ceiling = effective_max_replicas(profile)
    held = int((plan["replicas"] >= ceiling).sum())
    if needed <= ceiling or not held:
        return None
    limit = f"max_replicas {profile.max_replicas}"
    if ceiling != profile.max_replicas:
        limit = f"{ceiling} ({limit} plus its {profile.max_capacity_buffer_pct:g}% buffer)"
    return (
        f"{held} of {len(plan)} plan rows are held at {limit}; the "
        f"{profile.quantile_column} load needs up to {needed} replicas"
    )


def plan_freq(series_file: SeriesFile, profile: ScalingProfile, freq: str | None) -> str | None:
    """The step a plan is made at: ``--freq`` if given, else the profile's ``step_seconds`` when
    the profile sets one coarser than the data (a plan cannot be finer than what it learnt
    from), else the data's own step."""
    if freq is not None or "step_seconds" not in profile.model_fields_set:
        return freq
    data_step = infer_step_seconds(series_file.points.index)
    return f"{profile.step_seconds}s" if profile.step_seconds > data_step * (1 + 1e-9) else None


def write_forecast_csv(frame: pd.DataFrame, path: Path | TextIO, *, style: TimestampStyle) -> None:
    """Write ``timestamp`` plus one column per quantile (``p50``, ``p90``, ...)."""
    out = frame.copy()
    out.insert(0, "timestamp", style.format(pd.DatetimeIndex(frame.index)))
    out.to_csv(path, index=False, float_format="%.6g")


def write_plan_csv(plan: pd.DataFrame, path: Path | TextIO, *, style: TimestampStyle) -> None:
    """Write ``timestamp,replicas,gpus`` (and ``tier`` when tiers are used): one row per step,
    "keep at least ``replicas`` from ``timestamp`` until the next row", already shifted for the
    start-up time; ``tier`` is the mix, e.g. ``A100:1+L4:3`` (``replicas`` is its total)."""
    columns = ["replicas", "gpus"] + (
        ["tier"] if "tier" in plan and plan["tier"].notna().any() else []
    )
    out = plan[columns].copy()
    out.insert(0, "timestamp", style.format(pd.DatetimeIndex(plan.index)))
    out.to_csv(path, index=False)
