"""Which common time zone's daylight-saving changes a history stored in UTC follows, if any.

The offline commands ask when no ``--timezone`` is given: traffic follows its users' clocks, so
its daily ramp moves an hour at their clock's change, and read in UTC every model learnt a
cycle an hour off for weeks after it (``auto`` lost to "yesterday repeated" by 1.15-1.64x on
four such histories). The detector only names a zone when the whole daily profile moved by
the change's hour at its instant, nearly every day, and more than at any other date nearby.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from forecaster.timeutil import epoch_ns
from models.calendar import utc_offset_minutes

# one zone per set of change instants (Europe/London's and Europe/Berlin's are the same); the
# US zones change an hour apart in UTC on the same dates, New York named first
ZONES = (
    "America/New_York",
    "America/Chicago",
    "America/Denver",
    "America/Los_Angeles",
    "Europe/London",
    "Australia/Sydney",
)
HOUR_NS = 3_600 * 10**9
LEAST_DAYS = 4  # days either side of a change it can be judged on
WINDOW_DAYS = 7  # days either side whose median profiles are compared
PLACEBO_DAYS = 35  # other dates within this many days of a change are the placebos
MOST_RATIO = 0.6  # the moved profile's error at most this share of the unmoved one's
LEAST_VOTES = 0.75  # share of single days either side that fit the moved profile better
CLIP = 4.0  # an hour above 4x its day's mean counts as 4x (a burst)


@dataclass(frozen=True)
class ClockChange:
    """A zone whose daylight-saving change at ``instant`` (UTC) the daily cycle followed."""

    zone: str
    instant: pd.Timestamp

    def note(self, choose: str = "pass --timezone") -> str:
        """What an offline command says when it reads the history on this clock, and how its
        user chooses another (``choose``)."""
        return (
            f"the daily cycle moved an hour at {self.instant:%Y-%m-%dT%H:%MZ} as {self.zone}'s "
            f"clock did: read on that clock ({choose} to choose)"
        )


def detect_clock_change(history: pd.Series) -> ClockChange | None:
    """The zone of :data:`ZONES` most of whose changes inside ``history`` (a regular series on
    a UTC grid of an hour or finer) moved its daily cycle, or None. Of zones that fit, the one
    the cycles fit best; of zones changing on the same dates, the first listed: the US zones
    change hours apart in the night, which the cycle rarely tells apart (on 227 generated
    histories it named another US zone than the traffic's 96 times), and reading one on the
    other's clock differs by those night hours only."""
    if len(history) < 2 or (history.index[1] - history.index[0]) > pd.Timedelta(hours=1):
        return None
    hours = _hourly(history)
    fitting: list[tuple[float, tuple[object, ...], ClockChange]] = []
    for zone in ZONES:
        changes = _changes(hours.index, zone)
        judged = [_judge(hours, at, shift) for at, shift in changes]
        fits = [at for fit, _, at in filter(None, judged) if fit]
        considered = [result for result in judged if result is not None]
        if fits and 2 * len(fits) > len(considered):
            gain = float(np.mean([result[1] for result in considered]))
            dates = tuple(hours.index[at].date() for at, _ in changes)
            fitting.append((gain, dates, ClockChange(zone, fits[-1])))
    if not fitting:
        return None
    dates = max(fitting, key=lambda fit: fit[0])[1]
    return next(change for _, same, change in fitting if same == dates)


def _hourly(history: pd.Series) -> pd.Series:
    """The mean of each UTC hour, on a complete hourly grid (NaN where nothing was observed)."""
    stamps = epoch_ns(pd.DatetimeIndex(history.index)) // HOUR_NS * HOUR_NS
    means = pd.Series(history.to_numpy(dtype="float64")).groupby(stamps).mean()
    grid = np.arange(int(means.index[0]), int(means.index[-1]) + 1, HOUR_NS, dtype="int64")
    return pd.Series(means.reindex(grid).to_numpy(), index=pd.to_datetime(grid, utc=True))


def _changes(index: pd.Index, zone: str) -> list[tuple[int, int]]:
    """Each change of ``zone``'s UTC offset inside an hourly ``index``: where, and by how many
    hours (+1 in spring)."""
    offsets = utc_offset_minutes(pd.DatetimeIndex(index), zone) / 60
    where = np.flatnonzero(np.diff(offsets)) + 1
    return [(int(at), int(round(offsets[at] - offsets[at - 1]))) for at in where]


def _judge(hours: pd.Series, at: int, shift: int) -> tuple[bool, float, pd.Timestamp] | None:
    """Whether the daily cycle moved by ``shift`` hours at hour ``at`` of ``hours``, how much
    closer the moved profile fits than the unmoved one, and the instant; None when there are
    too few whole days either side to judge.

    Days run 24 hours from the change's hour, each divided by its mean. At every day boundary
    within :data:`PLACEBO_DAYS` the median profile of the week after is compared with the week
    before's, as it was and moved: at the change the moved one must fit clearly better, better
    than it does at any boundary a week or more away, nearly every single day must agree, and
    moving it the other way must fit no better than leaving it."""
    reach = (PLACEBO_DAYS + WINDOW_DAYS) * 24
    start = max(at - reach, at % 24)
    span = hours.to_numpy()[start : at + reach]
    days = _days(span[: len(span) // 24 * 24])
    change = (at - start) // 24
    before, after, counts = _window_profiles(days)
    if counts[change] < LEAST_DAYS:
        return None
    moved = np.roll(before, -shift, axis=1)  # spring: local 09:00 comes an hour earlier in UTC
    unmoved_error = ((after - before) ** 2).sum(axis=1)
    gain = unmoved_error - ((after - moved) ** 2).sum(axis=1)
    boundaries = np.arange(len(gain))
    placebo = (np.abs(boundaries - change) >= WINDOW_DAYS) & (counts >= LEAST_DAYS)
    rival = float(np.nanmax(gain[placebo], initial=0.0))
    against = ((after[change] - np.roll(before[change], shift)) ** 2).sum()
    fit = bool(
        gain[change] > max(rival, (1 - MOST_RATIO) * unmoved_error[change])
        and against >= unmoved_error[change]
        and _votes(days, change, before[change], after[change], shift) >= LEAST_VOTES
    )
    return fit, float(gain[change]), hours.index[at]


def _days(values: np.ndarray) -> np.ndarray:
    """Rows of 24 hours, each divided by its mean and clipped at :data:`CLIP`; a row with a
    missing hour, or no load, is all NaN."""
    rows = values.reshape(-1, 24)
    means = rows.mean(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(means > 0, np.minimum(rows / means, CLIP), np.nan)


def _window_profiles(days: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """At each day boundary, the median profile of the :data:`WINDOW_DAYS` days before and
    after it (a median: a burst on one day moves a mean), and the whole days on the thinner
    side."""
    pad = np.full((WINDOW_DAYS, 24), np.nan)
    padded = np.concatenate([pad, days, pad])
    windows = np.lib.stride_tricks.sliding_window_view(padded, WINDOW_DAYS, axis=0)
    whole = np.isfinite(padded).all(axis=1)
    counts = np.lib.stride_tricks.sliding_window_view(whole, WINDOW_DAYS).sum(axis=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN windows at the edges
        medians = np.nanmedian(windows, axis=2)
    count = len(days) + 1
    before, after = medians[:count], medians[WINDOW_DAYS : WINDOW_DAYS + count]
    return before, after, np.minimum(counts[:count], counts[WINDOW_DAYS : WINDOW_DAYS + count])


def _votes(
    days: np.ndarray, change: int, before: np.ndarray, after: np.ndarray, shift: int
) -> float:
    """Share of the single days either side of the change that fit the other side's profile
    better moved by the change than not: a clock change moves nearly every day, a burst one."""
    later = days[change : change + WINDOW_DAYS]
    earlier = days[max(0, change - WINDOW_DAYS) : change]
    later = later[np.isfinite(later).all(axis=1)]
    earlier = earlier[np.isfinite(earlier).all(axis=1)]

    def closer(rows: np.ndarray, profile: np.ndarray, moved: np.ndarray) -> np.ndarray:
        return ((rows - moved) ** 2).sum(axis=1) < ((rows - profile) ** 2).sum(axis=1)

    agree = np.concatenate(
        [
            closer(later, before, np.roll(before, -shift)),
            closer(earlier, after, np.roll(after, shift)),
        ]
    )
    return float(agree.mean()) if len(agree) else 0.0
