"""Turn raw points into the regular series models expect.

Used by the train job (points from the database) and by the offline CLI (points from a CSV), so
both see exactly the same history.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

import numpy as np
import pandas as pd

from forecaster.timeutil import epoch_ns, freq_alias, spoken_duration
from forecaster.training.level_shift import with_recent_rise_levelled
from forecaster.training.trailing_dip import without_trailing_dip
from models.base import DAY_SECONDS, step_seconds_of
from models.calendar import overlapping_steps, utc_offset_minutes


def infer_step_seconds(index: pd.DatetimeIndex) -> float:
    """The typical spacing of observations, in seconds: the mean of the gaps near the median
    gap, to whole days, hours or minutes within 1 %, else rounded to whole seconds from 10 s up
    (or within 2 % of a whole second) and to milliseconds otherwise, so scrape jitter (300.012 s,
    0.999 s, hourly rows stamped anywhere in their first minute) still gives the step it stands
    for and a grid whose frequency pandas can hold.

    Why a mean: the jitter of a timestamp enters the gap before it and the gap after it with
    opposite signs, so it cancels in a mean but not in a median, which lands a second or more
    off on a few days of 5-minute rows jittered by a few percent; a grid a second off drifts a
    step away within days (forecasts stamped 23:59:14, rows read as gaps).
    """
    if len(index) < 2:
        raise ValueError("need at least two timestamps to infer the step; pass --freq")
    return step_of_gaps(np.diff(epoch_ns(index)) / 1e9)


def step_of_gaps(gaps: np.ndarray) -> float:
    """:func:`infer_step_seconds` of the gaps between observations (seconds, in order), for
    stamps already held as numbers (the overview reads those of every series)."""
    gaps = gaps[gaps > 0]
    if len(gaps) == 0:
        raise ValueError("all timestamps are equal; cannot infer the step")
    median = float(np.median(gaps))
    near = gaps[(gaps > median / 2) & (gaps < median * 1.5)]  # missed rows are not the step
    typical = float(near.mean()) if len(near) else median
    for unit in (86_400.0, 3_600.0, 60.0):  # steps are whole days, hours or minutes
        count = round(typical / unit)
        if count >= 1 and abs(typical - count * unit) <= 0.01 * typical:
            return count * unit
    whole = float(round(typical))
    if typical >= 10 or (whole >= 1 and abs(typical - whole) <= 0.02 * typical):
        return whole
    return max(0.001, round(typical, 3))


PHASE_STEPS = 5  # a grid's phase is read from the last day, or from this many steps if longer


def regularise(
    points: pd.Series,
    step_seconds: float,
    *,
    anchor: pd.Timestamp | None = None,
    end: pd.Timestamp | None = None,
) -> pd.Series:
    """Average points into one bucket per step of a grid: ``[t, t + step)`` on a grid through
    ``anchor``, or centred on ``t`` on the data's own grid.

    Missing buckets stay NaN (models fill them their own way). Without an anchor the grid is
    the data's own (:func:`_own_phase`), so a CSV sampled at 21:42:53, 21:47:53, ... keeps it;
    on that grid each point counts for the nearest step (buckets centred on it), so a point a
    little early (jitter) does not fall into the step before. On a coarser grid through
    ``anchor``, points first move to the nearest mark of their own finer step from it: the
    18:00 minute's row stamped 17:59:57 counted for the 17:55 bucket of a 5-minute grid.
    """
    if points.empty:
        raise ValueError("no points to build a history from")
    points = points.sort_index()
    step_ns = int(round(step_seconds * 1e9))
    origin_ns = anchor.value if anchor is not None else _own_phase(points.index, step_ns)
    stamps = epoch_ns(points.index)
    if anchor is not None and points.index.nunique() > 1:
        own_ns = int(round(infer_step_seconds(points.index) * 1e9))
        if early := early_allowance(own_ns, step_ns):  # marks of both grids from the anchor
            stamps = origin_ns + (stamps - origin_ns + early) // own_ns * own_ns
    centre = (step_ns - 1) // 2 if anchor is None else 0  # a point half-way counts earlier
    offsets = (stamps - origin_ns + centre) // step_ns
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


def early_allowance(own: int, step: int) -> int:
    """How early (in ``own``'s unit) a point of a finer own step may be stamped and still
    count for the next mark: training moves such points to their nearest own mark when that
    step divides the grid's (:func:`regularise`); 0 when it does not. Whatever else buckets
    stored points on that grid (the roll-up, the review) moves them the same way."""
    return (own - 1) // 2 if 0 < own < step and step % own == 0 else 0


def _own_phase(index: pd.DatetimeIndex, step_ns: int) -> int:
    """A point of the data's own grid: the last timestamp moved by the median offset from its
    phase of the timestamps of the last day, or of the last five steps if longer (so one late
    scrape does not shift the grid), rounded to the second (to the millisecond for sub-second
    steps), or to the minute for a step of whole minutes when the rows scatter about it by at
    least as much as that moves it. The latest rows decide, since the grid is the one forecasts
    continue: daily rows at local midnight move an hour at a DST change.

    Why the minute: rows jittered either side of half-hour marks have a median offset a second
    or so off the mark, and forecasts were stamped 12:29:59, 12:59:59; a grid the rows cannot
    place within a second is the round one they stand for."""
    stamps = epoch_ns(index)
    stamps = stamps[stamps >= stamps[-1] - max(DAY_SECONDS * 10**9, (PHASE_STEPS - 1) * step_ns)]
    half = step_ns // 2
    offsets = (stamps - stamps[-1] + half) % step_ns - half
    middle = float(np.median(offsets))
    phase = int(stamps[-1] + middle)
    minute = 60_000_000_000
    minute_phase = (phase + minute // 2) // minute * minute
    scatter = float(np.median(np.abs(offsets - middle)))
    if step_ns % minute == 0 and abs(phase - minute_phase) <= scatter:
        return minute_phase
    unit = 1_000_000_000 if step_ns % 1_000_000_000 == 0 else 1_000_000
    return (phase + unit // 2) // unit * unit


def held_on_grid(
    points: pd.Series, step_seconds: float, anchor: pd.Timestamp, least_hold_seconds: float = 0
) -> pd.Series:
    """``points`` averaged onto a grid of ``step_seconds`` through ``anchor`` (:func:`regularise`),
    each held over the steps up to the next as far as the points' own spacing reaches: a point
    coarser than the grid (a daily row on a 5-minute profile) stands for its whole period. Left
    empty, the 287 steps between daily rows read as gaps, and the one before the last row as a
    stray start, so a service with 35 days of rows trained on one point. A missing row stays a
    gap; the last row is held over its period too (the caller cuts what lies after now).
    Every point but the last is held over at least ``least_hold_seconds`` (a rolled-up point
    on a finer grid: it stands for the service's whole step)."""
    history = regularise(points, step_seconds, anchor=anchor)
    if len(points) < 2:
        return history
    own = max(1, round(infer_step_seconds(pd.DatetimeIndex(points.index)) / step_seconds))
    steps = max(own, round(least_hold_seconds / step_seconds))
    if steps < 2:
        return history
    step = pd.Timedelta(seconds=step_seconds)
    grid = pd.date_range(history.index[0], history.index[-1] + (own - 1) * step, freq=step)
    return history.reindex(grid).ffill(limit=steps - 1)


LAGGING_STEPS = 3  # a label set this many steps behind the others has stopped, not lagged


def reported_through(reporting: np.ndarray) -> int:
    """How many leading rows of a sum over label sets are complete, given how many label sets
    reported in each row: trailing rows fewer sets reached than the row before them are still
    arriving (one region's samples come a scrape later than another's), and summed they read
    as a drop of that region's share. At most ``LAGGING_STEPS`` rows are held back, so a label
    set that really stopped counts as stopped after that."""
    count = len(reporting)
    tail = np.asarray(reporting[max(0, count - LAGGING_STEPS - 1) :])
    if len(tail) < 2:
        return count
    full = tail.max()
    # the last row every set the tail saw reached, and nothing after it
    reached = np.flatnonzero(tail >= full)[-1]
    return count - (len(tail) - 1 - reached)


def without_stray_start(history: pd.Series) -> pd.Series:
    """``history`` from the end of its last gap that is longer than everything observed
    before it: a stray row (or a few) weeks before the rest is not history to learn from, and
    backtest folds placed in the gap after it had nothing to train on. A gap the service came
    back from with more behind it than missing (an outage of days in a month) is kept."""
    missing = np.isnan(history.to_numpy(dtype="float64"))
    if not missing.any():
        return history
    starts, ends = _runs(missing)
    observed_before = np.cumsum(~missing)[np.maximum(starts - 1, 0)] * (starts > 0)
    # a gap running to the end is not followed by anything to keep
    stray = np.flatnonzero((observed_before < ends - starts) & (ends < len(missing)))
    return history.iloc[ends[stray[-1]] :] if len(stray) else history


def without_idle_start(history: pd.Series) -> tuple[pd.Series, str]:
    """``history`` from its first positive value when the zeros (or gaps) before it last a day
    or more and longer than what follows: a service exported from before it went live. Those
    zeros are no history of its load: calibrated on them (every model forecasts a dead service
    exactly), the first hour's p99 of a new service at 34 requests per step was its p50, and
    on four synthetic launches (2.5-4 days live after 4.5-11.5 days of zeros) the day-ahead
    MAE fell by 13-43 % without them. A zero weekend at the start of a longer history stays.
    The note says so: a fallback's "only 1 observed point" on a file of 4,032 rows read as a
    misreading of the file.
    """
    values = history.to_numpy(dtype="float64")
    live = np.flatnonzero(values > 0)
    if not len(live) or live[0] == 0:
        return history, ""
    idle = (history.index[live[0]] - history.index[0]).total_seconds()
    after = (history.index[-1] - history.index[live[0]]).total_seconds()
    if idle < DAY_SECONDS or idle <= after:
        return history, ""
    note = (
        f"the {spoken_duration(idle)} of zeros or missing values before the first load (from "
        f"{history.index[0].isoformat()}) are left out: no history of its load yet"
    )
    return history.iloc[live[0] :], note


# a run of zeros is an outage when the week before it had at most this share of zeros, and it
# lasted at most a week if the series came back, or at most 12 hours so far if it goes on
# (see :func:`without_outages`)
MAX_OUTAGE_SECONDS = 12 * 3_600
MAX_INTERIOR_OUTAGE_SECONDS = 7 * DAY_SECONDS
OUTAGE_LOOKBACK_SECONDS = 7 * DAY_SECONDS
MAX_ZERO_SHARE = 0.05


def without_outages(history: pd.Series) -> tuple[pd.Series, str]:
    """``history`` with each run of exact zeros that looks like an outage (the service or its
    metrics down) set missing (NaN), and a note when the run still going on at the end was one;
    otherwise ``history`` and ``""``. Models fill missing steps from the seasons around them (at
    the end: they forecast from the last observed value, and the forecast still starts after the
    last timestamp), while zeros are load to learn from.

    A run (missing steps among its zeros count in) is an outage when the day or more (up to a
    week) observed before it had at most 5 % zeros and no run of zeros as long, and it lasted
    at most a week if the series came back, or at most 12 hours so far if it goes on.

    Why: a history ending in two hours of zeros was forecast at a third of its usual level for
    the whole next day (six hours: a sixth), so the plan held no floor when traffic came back;
    a day of zeros five days back took Prophet's next day to 61 against 115 (on log(1 + y) a
    zero is a deep drop, and its trend followed) and ``auto`` chose Prophet. Longer runs at
    the end are accepted as real: traffic moved away, and following it up to half a day late
    costs capacity, not availability. Series with zeros of their own (sparse counts, a quiet
    night) keep theirs. A run is judged on the values up to its end, so a backtest origin
    before an outage sees the series as it was, and one inside it sees the zeros so far blanked.
    """
    values = history.to_numpy(dtype="float64")
    if not (values == 0.0).any():
        return history, ""
    step = step_seconds_of(history.index)
    outages = _outage_runs(values, step)
    if not outages:
        return history, ""
    cleaned = history.copy()
    for start, end in outages:
        cleaned.iloc[start:end] = np.nan
    start, end = outages[-1]
    if end < len(values):
        return cleaned, ""
    note = (
        f"the last {spoken_duration((end - start) * step)} of zeros read as an outage "
        "(missing data), not load: the days before had no such run"
    )
    return cleaned, note


def read_as_load(history: pd.Series, zone: str | None = None) -> tuple[pd.Series, str]:
    """The history models learn from: read on ``zone``'s current clock (:func:`on_local_clock`),
    outages read as missing (:func:`without_outages`), a young dip at the end too
    (:mod:`forecaster.training.trailing_dip`), then a recent lasting rise levelled
    (:mod:`forecaster.training.level_shift`), with a note for each that applied. On the local
    clock: the weeks before a daylight-saving change compared on UTC put the morning ramp an
    hour off, and read it as a dip. Training and the 15-minute refresh both read the history so
    (:func:`forecaster.training.forecasting.read_for_models`)."""
    local, clock = on_local_clock(history, zone)
    cleaned, outage = without_outages(local)
    undipped, dip = without_trailing_dip(cleaned)
    levelled, rise = with_recent_rise_levelled(undipped)
    return levelled, "; ".join(filter(None, [clock, outage, dip, rise]))


def on_latest_clock(points: pd.Series, shift_minutes: np.ndarray) -> pd.Series:
    """``points`` each moved by its UTC offset less the latest one's (``shift_minutes``), so
    that local 09:00 before a daylight-saving change lands where local 09:00 falls now. Traffic
    follows its users' clocks; read in UTC, cycles learnt before a change put the daily ramp an
    hour off for weeks after it. An hour that happened twice (autumn) lands twice on the same
    steps, and the one that never happened (spring) is a gap."""
    moved = points.copy()
    moved.index = points.index + pd.to_timedelta(np.asarray(shift_minutes), unit="min")
    return moved.sort_index(kind="stable")


def zone_problem(zone: str | None) -> str:
    """Why ``zone`` cannot be read here, or "" when it can (or there is none): profiles check
    their zone when it is set, but a stored one may name a zone a later tzdata dropped, and
    training then reads the history (and its weekends) in UTC rather than failing."""
    if not zone:
        return ""
    try:
        pd.DatetimeIndex([], tz="UTC").tz_convert(zone)
    except Exception as error:  # noqa: BLE001 - whatever the tz database raises for the name
        return f"time zone {zone} is unknown here ({error}): read in UTC"
    return ""


def on_local_clock(history: pd.Series, zone: str | None) -> tuple[pd.Series, str]:
    """A regular ``history`` read on the current clock of ``zone`` (an IANA name, the scaling
    profile's ``timezone``), on its own grid again, with a note; unchanged, with no note, when
    no zone is given or no daylight-saving change falls inside it."""
    if not zone or history.empty:
        return history, ""
    if problem := zone_problem(zone):
        return history, problem
    offsets = utc_offset_minutes(pd.DatetimeIndex(history.index), zone)
    shift = offsets - offsets[-1]
    if not shift.any():
        return history, ""
    observed = history.notna().to_numpy()
    moved = on_latest_clock(history[observed], shift[observed])
    regular = regularise(moved, step_seconds_of(history.index), end=history.index[-1])
    return regular, f"read on {zone}'s clock across its daylight-saving changes"


def _outage_runs(values: np.ndarray, step: float) -> list[tuple[int, int]]:
    """Start and one-past-end index of each run of zeros that is an outage by the test of
    :func:`without_outages`. The week before a run is ``back`` steps, wherever it has gaps."""
    zero = values == 0.0
    observed = np.isfinite(values)
    starts, ends = _runs(zero | ~observed)  # zeros with any missing steps among them
    zeros_until = np.concatenate([[0], np.cumsum(zero)])
    observed_until = np.concatenate([[0], np.cumsum(observed)])
    back, day = round(OUTAGE_LOOKBACK_SECONDS / step), round(DAY_SECONDS / step)
    lows = np.maximum(starts - back, 0)
    seen = observed_until[starts] - observed_until[lows]
    share = (zeros_until[starts] - zeros_until[lows]) / np.maximum(seen, 1)
    longest = np.where(ends == len(values), MAX_OUTAGE_SECONDS, MAX_INTERIOR_OUTAGE_SECONDS)
    candidates = (
        (zeros_until[ends] > zeros_until[starts])
        & ((ends - starts) * step <= longest)
        & (seen >= max(2, day))
        & (share <= MAX_ZERO_SHARE)
    )
    zero_starts, zero_ends = _runs(zero)
    outages = []
    for run in np.flatnonzero(candidates):  # a few runs, not a loop over points
        start, end, low = int(starts[run]), int(ends[run]), int(lows[run])
        earlier = (zero_ends > low) & (zero_starts < start)  # runs of zeros in the week before
        as_long = (zero_ends - np.maximum(zero_starts, low))[earlier].max(initial=0)
        if as_long < end - start:
            outages.append((start, end))
    return outages


def _runs(flags: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Where each run of consecutive ``True`` starts, and one past where it ends."""
    edges = np.diff(np.concatenate([[0], flags.astype("int8"), [0]]))
    return np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)


def exclude_windows(history: pd.Series, windows: Iterable[tuple[datetime, datetime]]) -> pd.Series:
    """Blank out (set NaN) steps excluded windows such as incidents and outages overlap."""
    cleaned = history.copy()
    index = pd.DatetimeIndex(cleaned.index)
    for start, end in windows:  # every step the window touches: its mean holds some of it
        cleaned[overlapping_steps(index, pd.Timestamp(start), pd.Timestamp(end))] = np.nan
    return cleaned
