"""What a model may know about the calendar: a country's (or region's) public holidays and
declared events.

The training engine builds one :class:`Calendar` per series from the service's profile and its
events; Prophet turns it into holidays and regressors, LightGBM into a holiday feature. Models
never read the database, so the events arrive here as plain windows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import date, timezone, tzinfo

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class EventWindow:
    """A declared event: ``[start, end)`` in UTC, with the expected load multiplier if known."""

    name: str
    start: pd.Timestamp
    end: pd.Timestamp
    multiplier: float | None = None

    def mask(self, index: pd.DatetimeIndex) -> np.ndarray:
        """Which steps of ``index`` the event overlaps (:func:`overlapping_steps`)."""
        return overlapping_steps(index, self.start, self.end)


def overlapping_steps(
    index: pd.DatetimeIndex, start: pd.Timestamp, end: pd.Timestamp
) -> np.ndarray:
    """Which steps of ``index`` (each from its timestamp until the next) overlap
    ``[start, end)``: on an hourly grid an event from 12:30 to 14:30 covers 12:00, 13:00 and
    14:00, where testing the steps' starts alone missed its first half hour and, for one
    inside a step (12:10 to 12:50), all of it."""
    from models.base import step_seconds_of  # models.base imports this module

    lone = index.freq is None and len(index) < 2  # one step without a frequency: its instant
    spacing = pd.Timedelta(0) if lone else pd.Timedelta(seconds=step_seconds_of(index))
    return np.asarray((index < end) & (index + spacing > start))


def utc_offset_minutes(index: pd.DatetimeIndex, zone: str) -> np.ndarray:
    """Each instant of a UTC ``index``'s offset from UTC on ``zone``'s clock, in minutes."""
    local = index.tz_convert(zone).tz_localize(None)
    return np.asarray((local - index.tz_localize(None)).total_seconds() / 60, dtype="float64")


def clock_shift_steps(
    index: pd.DatetimeIndex, zone: str | None, since: pd.Timestamp, step_seconds: float
) -> np.ndarray:
    """Whole steps by which each time of ``index`` stands later on ``zone``'s clock than it did
    at ``since`` (+1 h after a spring daylight-saving change, -1 h after an autumn one).

    Training reads the history on the clock of its last row, so a model's step at ``t`` is
    traffic at local time ``t`` + the offset then; once the clock changes inside the horizon, a
    forecast for ``t`` is the model's step ``t`` + this shift. Read in UTC, the next morning's
    ramp after a spring change came an hour late (a plan short 4.5 % of that day).
    """
    if not zone or len(index) == 0:
        return np.zeros(len(index), dtype="int64")
    offsets = utc_offset_minutes(pd.DatetimeIndex([since]).append(index), zone)
    return np.round((offsets[1:] - offsets[0]) * 60 / step_seconds).astype("int64")


@dataclass(frozen=True)
class HolidayRegion:
    """A country's public holidays, with those of one of its subdivisions if given, spelt as
    the ``holidays`` package lists them (``DE``, ``BY``): :func:`holiday_region` reads one."""

    country: str
    subdivision: str | None = None

    @property
    def code(self) -> str:
        """The ISO 3166 (``US``) or 3166-2 (``DE-BY``) form a profile stores."""
        return f"{self.country}-{self.subdivision}" if self.subdivision else self.country


class UnknownHolidayRegionError(ValueError):
    """A holiday code whose country (``subdivision`` None) or subdivision the ``holidays``
    package lacks; ``choices`` are the country's subdivisions, for a message to offer."""

    def __init__(self, country: str, subdivision: str | None, choices: Sequence[str]) -> None:
        what = f"country {country!r}" if subdivision is None else f"subdivision {subdivision!r}"
        super().__init__(f"unknown holiday {what}" + (f" of {country}" if subdivision else ""))
        self.country = country
        self.subdivision = subdivision
        self.choices = tuple(choices)


def holiday_region(code: str) -> HolidayRegion:
    """The region of a holiday code in any case: a country (``US``) or an ISO 3166-2
    subdivision (``de-by``: Germany's holidays plus Bavaria's). The one reading of the code,
    for profiles, ``--holidays`` and models alike; the package wants its own spelling (``BY``,
    not ``by``; ``Augsburg``). Spaces around either part are dropped (`` DE-BY `` pasted from a
    table was refused as country " DE"), and a country the package also knows by its alpha-3
    code or an alias (``DEU``, ``UK``) is read as its alpha-2 one (``DE``, ``GB``), so two
    spellings of a region are one calendar. Raises :class:`UnknownHolidayRegionError`."""
    import holidays

    given, dash, subdivision = (part.strip() for part in code.partition("-"))
    supported = holidays.list_supported_countries()  # cached by the package
    if given.upper() not in supported:
        raise UnknownHolidayRegionError(given, None, ())
    country: str = getattr(holidays, given.upper()).country  # the class's alpha-2 code
    if not dash:
        return HolidayRegion(country)
    known = supported[country]
    spelt = {name.upper(): name for name in known}.get(subdivision.upper())
    if spelt is None:
        raise UnknownHolidayRegionError(country, subdivision, known)
    return HolidayRegion(country, spelt)


@dataclass(frozen=True)
class Calendar:
    """Holiday country (``US``, or ``DE-BY`` with a subdivision: :func:`holiday_region`) and
    events models may use, and the time zone whose clock the traffic follows (an IANA name;
    None: UTC), with the instant whose clock the history was read on (:meth:`on_clock_of`;
    None: each history's last row)."""

    holiday_country: str | None = None
    events: tuple[EventWindow, ...] = field(default_factory=tuple)
    timezone: str | None = None
    clock_of: pd.Timestamp | None = None

    def holiday_dates(self, index: pd.DatetimeIndex) -> pd.DatetimeIndex:
        """Public-holiday dates (UTC midnight) covering the years of ``index``."""
        days = self.holiday_names(index)
        return pd.DatetimeIndex(sorted(pd.Timestamp(day) for day in days)).tz_localize("UTC")

    def holiday_names(self, index: pd.DatetimeIndex) -> dict[date, str]:
        """Each public holiday covering the years of ``index``, by date, with its name."""
        if not self.holiday_country or len(index) == 0:
            return {}
        import holidays

        region = holiday_region(self.holiday_country)  # profiles refuse an unknown one first
        years = range(int(index.min().year), int(index.max().year) + 1)
        days = holidays.country_holidays(region.country, subdiv=region.subdivision, years=years)
        return {day: str(name) for day, name in days.items()}

    def utc_offset(self, at: pd.Timestamp) -> pd.Timedelta:
        """The time zone's offset from UTC at ``at``: a history on the clock of its latest row
        is on local time by that much. Zero without a zone, or with one tzdata lacks."""
        if not self.timezone:
            return pd.Timedelta(0)
        try:
            minutes = utc_offset_minutes(pd.DatetimeIndex([pd.Timestamp(at)]), self.timezone)
        except Exception:  # noqa: BLE001 - an unknown zone: the history is read in UTC too
            return pd.Timedelta(0)
        return pd.Timedelta(minutes=float(minutes[0]))

    def clock_at(self, latest: pd.Timestamp) -> tzinfo | None:
        """The clock of a history read on that of its row at ``latest`` (``read_as_load``), as
        a fixed offset to read its days on (None without a zone): on each row's own offset,
        an hour of every day before a daylight-saving change fell into the next."""
        if not self.timezone:
            return None
        return timezone(self.utc_offset(latest).to_pytimedelta())

    def clock_offset(self, latest: pd.Timestamp) -> pd.Timedelta:
        """How far the clock a history ending at ``latest`` is on stands ahead of UTC: that of
        the instant it was read at (:meth:`on_clock_of`) when later, else of ``latest``. A
        backtest fold is a cut of a history read at its end: on the cut's own last clock its
        days before a daylight-saving change read an hour off its rows. A newer history (the
        refresh reads each on its own last clock) is on that of its latest row."""
        since = self.clock_of
        return self.utc_offset(latest if since is None else max(pd.Timestamp(latest), since))

    def on_clock_of(self, latest: pd.Timestamp) -> Calendar:
        """This calendar for a history read on the clock of its row at ``latest`` (training's
        ``on_local_clock``): each window edge before ``latest`` moved as the rows around it
        were, by its own UTC offset less the latest one's; edges from ``latest`` on are on
        that clock already. Left in UTC, a sale window from before an autumn change covered
        the hour before the sale and missed its last hour, so its level read 2.5x instead of
        3x and the coming window was forecast 15 % low. It remembers ``latest`` (``clock_of``),
        the clock models read days on (:meth:`clock_offset`)."""
        if not self.timezone:
            return self
        latest = pd.Timestamp(latest)
        if not self.events:
            return replace(self, clock_of=latest)
        edges = pd.DatetimeIndex(
            [edge for event in self.events for edge in (event.start, event.end)]
        ).tz_convert("UTC")
        try:
            offsets = utc_offset_minutes(edges.append(pd.DatetimeIndex([latest])), self.timezone)
        except Exception:  # noqa: BLE001 - an unknown zone: the history is read in UTC too
            return self
        shifts = np.where(edges < latest, offsets[:-1] - offsets[-1], 0.0)
        moved = edges + pd.to_timedelta(shifts, unit="min")
        return replace(
            self,
            clock_of=latest,
            events=tuple(
                replace(event, start=moved[2 * i], end=moved[2 * i + 1])
                for i, event in enumerate(self.events)
            ),
        )

    def regressor_events(self) -> Sequence[EventWindow]:
        """Events with no declared multiplier: a model has to learn their effect."""
        return [event for event in self.events if event.multiplier is None]

    def regressor_names(self) -> list[str]:
        """Distinct names of those events: windows sharing a name share one learned effect."""
        return sorted({event.name for event in self.regressor_events()})

    def regressor_flags(self, name: str, index: pd.DatetimeIndex) -> np.ndarray:
        """1.0 on steps inside any window of the named event, else 0.0."""
        flags = np.zeros(len(index))
        for event in self.regressor_events():
            if event.name == name:
                flags[event.mask(index)] = 1.0
        return flags


def without_events(
    history: pd.Series, events: Sequence[EventWindow], *, learns_events: bool = False
) -> pd.Series:
    """The history as it would have looked without declared events, so models learn normal load:
    windows with a multiplier are divided by it; the others are blanked unless the model
    learns their effect itself (Prophet takes them as regressors)."""
    if not events:
        return history
    cleaned = history.astype("float64").copy()
    index = pd.DatetimeIndex(cleaned.index)
    for event in events:
        mask = event.mask(index)
        if event.multiplier is not None and event.multiplier > 0:
            cleaned[mask] = cleaned[mask] / event.multiplier
        elif not learns_events:
            cleaned[mask] = np.nan
    return cleaned
