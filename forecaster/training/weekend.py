"""Does a history of about a week show a weekend? For a champion that cannot know about weeks.

From about nine days of history the backtest decides whether last week's same day beats the
daily models (``seasonal_naive_weekly`` is one of the candidates). With one week to eight days
nothing can be backtested at a weekly lag, and a champion of daily models forecasts Saturday
like Friday and Monday like Sunday: on half-hourly electricity demand 4.5x the error of last
week's same day. The history can still show that weekends differ: then its weekends are moved
onto the weekdays' level for the models and back in the forecast (``models.weekend_shift``), and
the champion is averaged with last week's same day (``forecaster.training.forecasting``), as
later while the backtest folds have forecast less than a whole weekend day.
"""

from __future__ import annotations

import warnings
from datetime import tzinfo

import numpy as np
import pandas as pd

from models.base import DAY_SECONDS, step_seconds_of
from models.calendar import Calendar

# the weekend's mean daily level must differ from the weekdays' mean by this many standard
# deviations of the weekdays' daily levels: day-to-day noise, or a trend, rarely does
WEEKEND_CONTRAST = 3.0
# twice that when the backtest folds did forecast some weekend hours, under a day's worth: they
# weighed the weekend a little, so only a weekend far apart overrules them (electricity's 14-16
# does, twitter's 3.1-3.6, where last week's same day only added its noise, does not)
PARTLY_SEEN_CONTRAST = 2 * WEEKEND_CONTRAST
# weekend_gap reads levels above this share of the weekdays' median hour (log of zero)
ZERO_FLOOR = 0.01
# a calendar day counts when it holds at least this share of the fullest day's points
FULL_DAY_SHARE = 0.9
# weekend_gap sets weekdays observed for this share of a day against the weekend too
HALF_DAY_SHARE = 0.5
# under three weekdays no standard deviation of daily levels can be had: then the weekend days
# must lie this far on average (a log ratio: 0.15 is 14 % below, 16 % above) from the weekdays
# (see weekend_gap). Of 3- and 4-day windows ending every 6 h, none of seeded traffic whose
# level wanders 5 % a day got there, or of noise; taylor's electricity demand in 254 of 644
SHORT_WEEKEND_GAP = 0.15
# weekend_gap asks two whole weekend days to lie this many times closer to each other than to
# any weekday: a steady trend sets each day as far from the next, so a launch growing 1.5x a
# day read Friday, Saturday and Sunday as a weekend 78 % above the weekdays (Monday was then
# forecast at Friday's level, 0.4x). Of windows whose gap passed the bar, taylor's and bike's
# all still pass, Victoria's 287 of 299
WEEKEND_DAYS_AGREE = 1.5


def weekend_contrast(history: pd.Series, zone: str | None = None) -> float:
    """How many weekday standard deviations the weekend's mean daily level lies from the
    weekdays' (calendar days on the clock of its last row in ``zone``, the profile's
    ``timezone``, else UTC: :func:`latest_clock`; whole days only); 0 when that cannot be
    told: steps of a day or more, or no whole weekend day and three weekdays (five days from a
    Wednesday to a Sunday will do). Far from UTC, UTC days cut each weekend in two (in
    Auckland, Saturday is two thirds UTC Friday) and dilute the contrast."""
    if not _within_days(history):
        return 0.0
    levels = whole_day_means(history, latest_clock(history, zone))
    weekend = pd.DatetimeIndex(levels.index).day_of_week >= 5
    weekdays, weekends = levels[~weekend], levels[weekend]
    if len(weekends) < 1 or len(weekdays) < 3:
        return 0.0
    spread = float(weekdays.std(ddof=1))
    gap = abs(float(weekends.mean()) - float(weekdays.mean()))
    if spread <= 1e-9 * max(abs(float(weekdays.mean())), 1e-12):
        return float("inf") if gap > 0 else 0.0
    return gap / spread


def weekend_gap(history: pd.Series, zone: str | None = None) -> float:
    """Weaker evidence of a weekend, for when :func:`weekend_contrast` cannot tell for want of
    three whole weekdays (three or four days of history). Each whole weekend day is set
    against each weekday hour by hour, weekdays half observed included (three days to Sunday
    noon hold two whole days): the median of the log ratios is their gap (a burst of a few
    hours barely moves it), their spread its noise. The mean gap, negative when
    weekends run lower; 0 unless there are three such days, every weekend day lies on the
    same side of every weekday, ``WEEKEND_CONTRAST`` times the noise away, and the weekdays
    lie within a ``WEEKEND_CONTRAST``-th of the smallest gap of each other, two weekend days
    within a ``WEEKEND_DAYS_AGREE``-th (not a trend). A day's level can
    still wander as a whole, which a few days cannot show, so callers ask for
    :data:`SHORT_WEEKEND_GAP` at least."""
    if not _within_days(history):
        return 0.0
    clock = latest_clock(history, zone)
    whole = pd.DatetimeIndex(whole_day_means(history, clock).index)
    if (whole.day_of_week < 5).sum() >= 3:  # weekend_contrast's to tell
        return 0.0
    profiles = whole_day_profiles(history, clock, HALF_DAY_SHARE)
    days = pd.DatetimeIndex(profiles.index)
    # a weekend day only whole: a slot no weekend day was seen in is not moved at all
    profiles = profiles[(days.day_of_week < 5) | days.isin(whole)]
    weekend = pd.DatetimeIndex(profiles.index).day_of_week >= 5
    if len(profiles) < 3 or weekend.all() or not weekend.any():
        return 0.0
    values = profiles.to_numpy(dtype="float64")
    # a floor a hundredth of the weekdays' usual level: a weekend with no traffic at all (a
    # service closed on Saturday and Sunday) had no log and was never told apart
    floor = ZERO_FLOOR * float(np.nanmedian(np.maximum(values[~weekend], 0.0)))
    if not floor > 0:  # weekdays mostly idle: no level to set weekends against
        return 0.0
    logs = np.log(np.maximum(values, 0.0) + floor)
    gaps, noise = _paired_gaps(logs[weekend], logs[~weekend])
    one_side = (gaps > 0).all() or (gaps < 0).all()
    if not one_side or (np.abs(gaps) < WEEKEND_CONTRAST * noise).any():
        return 0.0
    # weekdays sharing no hour (a Thursday afternoon and a Monday morning) cannot be said to
    # agree: NaN had passed the test, and a Monday at twice Thursday's level read as a weekend
    between_weekdays, _ = _paired_gaps(logs[~weekend], logs[~weekend])
    if np.isnan(between_weekdays).any():
        return 0.0
    if WEEKEND_CONTRAST * float(np.abs(between_weekdays).max()) > np.abs(gaps).min():
        return 0.0
    between_weekend, _ = _paired_gaps(logs[weekend], logs[weekend])
    if WEEKEND_DAYS_AGREE * float(np.nanmax(np.abs(between_weekend))) > np.abs(gaps).min():
        return 0.0
    return float(gaps.mean())


def day_level_spread(history: pd.Series, zone: str | None = None) -> float:
    """How far one day's level lies from another's of its kind (weekday and weekday, weekend
    day and weekend day), as the root mean square of their log gaps hour by hour (days half
    observed included, as :func:`weekend_gap`); 0 without two days of a kind. A history whose
    weekends are moved onto the weekdays' level holds copies of that level where its weekend
    was, so the backtest residuals its bands are calibrated on barely stray from day to day
    (``models.weekend_shift``): taylor's electricity demand cut to three and four days before a
    Monday had p95 1 % above a median 3.5-5 % off, covering 0.73 and 0.79."""
    if not _within_days(history):
        return 0.0
    profiles = whole_day_profiles(history, latest_clock(history, zone), HALF_DAY_SHARE)
    values = profiles.to_numpy(dtype="float64")
    logs = np.log(values, out=np.full(values.shape, np.nan), where=values > 0)
    weekend = pd.DatetimeIndex(profiles.index).day_of_week >= 5
    gaps = []
    for kind in (weekend, ~weekend):
        if kind.sum() >= 2:
            between, _ = _paired_gaps(logs[kind], logs[kind])
            pairs = np.triu(np.ones((kind.sum(), kind.sum()), dtype=bool), k=1).ravel()
            gaps.append(between[pairs])
    both = np.concatenate(gaps) if gaps else np.array([])
    both = both[np.isfinite(both)]
    return float(np.sqrt(np.mean(both**2))) if len(both) else 0.0


def _within_days(history: pd.Series) -> bool:
    """Whether ``history`` has points within days to read each day's level from: two at
    least, at steps under a day."""
    return len(history) >= 2 and step_seconds_of(pd.DatetimeIndex(history.index)) < DAY_SECONDS


def _paired_gaps(days: np.ndarray, others: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each pair of a row of ``days`` and a row of ``others`` (log levels by time of day),
    the median of their differences and its standard error (from the differences' median
    absolute deviation, as if times of day were independent); NaN where none holds both."""
    differences = (days[:, None, :] - others[None, :, :]).reshape(-1, days.shape[1])
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a pair with no time of day in common
        gaps = np.nanmedian(differences, axis=1)
        spread = 1.4826 * np.nanmedian(np.abs(differences - gaps[:, None]), axis=1)
        # a median's standard error is sqrt(pi / 2) times a mean's
        return gaps, 1.2533 * spread / np.sqrt(np.isfinite(differences).sum(axis=1))


def whole_day_profiles(
    history: pd.Series, zone: str | tzinfo | None = None, share: float = FULL_DAY_SHARE
) -> pd.DataFrame:
    """The days of :func:`whole_day_means`, one row each, by hour of the day (a few tweets per
    5 minutes, often none, say little about a level one by one)."""
    local = history.set_axis(_in_zone(pd.DatetimeIndex(history.index), zone))
    index = pd.DatetimeIndex(local.index)
    days = index.normalize()
    whole = days.isin(whole_day_means(history, zone, share).index)
    hours = (index - days).floor("h")
    return local[whole].groupby([days[whole], hours[whole]]).mean().unstack()


def whole_weekends(history: pd.Series, zone: str | None = None) -> int:
    """How many weekends of ``history`` hold a whole Saturday or Sunday (days on the clock of
    its last row in ``zone``, else UTC: :func:`latest_clock`): the weekends a model can have
    learnt from."""
    if len(history) < 2:
        return 0
    days = pd.DatetimeIndex(whole_day_means(history, latest_clock(history, zone)).index)
    weekend = days[days.day_of_week >= 5]
    return len(set(zip(weekend.isocalendar().year, weekend.isocalendar().week, strict=True)))


WEEKEND_DAYS = (5, 6)
MONDAY = (0,)
SATURDAY = (5,)


def day_seconds(
    target_seconds: np.ndarray,
    step_seconds: float,
    zone: str | tzinfo | None = None,
    days: tuple[int, ...] = WEEKEND_DAYS,
) -> float:
    """How much of ``days`` (Saturday and Sunday unless told) these target times (epoch
    seconds, steps of ``step_seconds``, each counted once however many folds forecast it)
    cover, in ``zone`` (else UTC; a history's rows and forecasts: on its :func:`latest_clock`)."""
    seconds = np.unique(np.asarray(target_seconds, dtype="float64").ravel())
    stamps = _in_zone(pd.DatetimeIndex(pd.to_datetime(seconds, unit="s", utc=True)), zone)
    return float(np.isin(stamps.day_of_week, days).sum() * step_seconds)


def latest_clock(history: pd.Series, zone: str | None) -> tzinfo | None:
    """``zone``'s clock at the last row of ``history`` as a fixed offset (None without a zone):
    the engine reads a history on it (``history.read_as_load``), so its days are that clock's.
    On each row's own offset, an hour of every day before a daylight-saving change fell into
    the next: a Friday's last hour raised Saturday's level to 23.4 where it ran at 20.1."""
    if history.empty:
        return None
    return Calendar(timezone=zone).clock_at(history.index[-1])


def whole_day_means(
    history: pd.Series, zone: str | tzinfo | None = None, share: float = FULL_DAY_SHARE
) -> pd.Series:
    """The mean of each calendar day of ``history`` in ``zone`` (else UTC), keyed by its
    local midnight, that holds at least ``share`` of the fullest day's points. Rows as they
    ran take the zone's name; a history read on the clock of its last row takes that clock
    (:func:`latest_clock`)."""
    local = history.set_axis(_in_zone(pd.DatetimeIndex(history.index), zone))
    by_day = local.resample("D")
    counts = by_day.count()
    return by_day.mean()[counts >= share * counts.max()]


def _in_zone(index: pd.DatetimeIndex, zone: str | tzinfo | None) -> pd.DatetimeIndex:
    """``index`` on ``zone``'s clock (UTC without one; training drops a zone this installation
    does not know, see ``history.zone_problem``)."""
    return index.tz_convert(zone) if zone else index
