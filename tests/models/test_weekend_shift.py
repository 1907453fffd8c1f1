"""Weekends moved onto the weekdays' level by time of day, and forecast back."""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest

from models.conformal import Calibrated, ConformalBands
from models.naive import SeasonalNaiveDaily
from models.weekend_shift import WeekendShift, WeekendShifted


def _office_week(days: int = 8, start: str = "2024-01-06", zone: str | None = None) -> pd.Series:
    """Half-hourly load from a Saturday: 100 at night, 300 in weekday office hours (9-17), and
    on weekends 100 at night and 150 by day (on ``zone``'s clock)."""
    index = pd.date_range(start, periods=days * 48, freq="30min", tz=zone or "UTC")
    day = (index.hour >= 9) & (index.hour < 17)
    weekend = index.day_of_week >= 5
    load = np.where(day, np.where(weekend, 150.0, 300.0), 100.0)
    return pd.Series(load, index=index.tz_convert("UTC"))


def test_the_shift_is_the_weekends_difference_at_each_time_of_day() -> None:
    history = _office_week()
    shift = WeekendShift.of(history)
    for day in (0, 1):  # Saturday, Sunday
        by_hour = pd.Series(shift.offsets[day], index=np.arange(48) / 2)
        assert np.allclose(by_hour.loc[10.0:15.5], -150.0)  # office hours, away from the edges
        assert np.allclose(by_hour.loc[0.0:7.5], 0.0)  # nights alike
    moved = shift.removed(history)
    weekdays = pd.DatetimeIndex(history.index).day_of_week < 5
    assert (moved[weekdays] == history[weekdays]).all()  # weekdays never move
    noon = pd.DatetimeIndex(moved.index).hour == 12
    assert np.allclose(moved[noon], 300.0)  # Saturday's noon now looks like Friday's


def test_saturday_and_sunday_keep_their_own_levels() -> None:
    """Half-hourly electricity demand runs lower on Sunday than on Saturday: one weekend
    offset would forecast both at their average."""
    history = _office_week(days=7)  # Saturday to Friday
    saturdays = pd.DatetimeIndex(history.index).day_of_week == 5
    history = history.where(~saturdays, history + 60.0)  # Saturday 210 by day, Sunday 150
    shift = WeekendShift.of(history)
    noon = 24
    assert shift.offsets[0][noon] == pytest.approx(-90.0)
    assert shift.offsets[1][noon] == pytest.approx(-150.0)
    shifted = WeekendShifted(SeasonalNaiveDaily(despike=False), shift).fit(history)
    weekend = shifted.predict(96)["p50"]  # Saturday and Sunday
    assert weekend.iloc[noon] == pytest.approx(210.0)
    assert weekend.iloc[48 + noon] == pytest.approx(150.0)


def test_the_shift_reads_the_services_own_clock() -> None:
    """In Auckland, Saturday office hours are Friday night in UTC: read in UTC, the shift would
    move Friday's (UTC) steps and miss half of the weekend."""
    history = _office_week(zone="Pacific/Auckland")
    shift = WeekendShift.of(history, "Pacific/Auckland")
    local_noon_saturday = pd.DatetimeIndex(
        [pd.Timestamp("2024-01-13 12:00", tz="Pacific/Auckland")]
    )
    latest = history.index[-1]
    assert shift.at(local_noon_saturday.tz_convert("UTC"), latest)[0] < -100
    friday_noon = pd.DatetimeIndex([pd.Timestamp("2024-01-12 12:00", tz="Pacific/Auckland")])
    assert shift.at(friday_noon.tz_convert("UTC"), latest)[0] == 0.0


def test_days_before_a_clock_change_are_read_on_the_clock_the_history_is_on() -> None:
    """Training reads a history on the clock of its last row (``read_as_load``): New York's
    winter clock here, a fixed -5 h. Read on each row's own offset, an hour at every day's
    edge before the November change counted in the next day, and the weekend's level was
    moved into Friday night and out of Monday's first hour (review)."""
    index = pd.date_range("2026-10-19", "2026-11-06", freq="15min", tz="UTC")
    on_the_clock = index - pd.Timedelta(hours=5)  # the winter clock, all through
    history = pd.Series(np.where(on_the_clock.day_of_week >= 5, 20.0, 100.0), index=index)
    shift = WeekendShift.of(history, "America/New_York")
    assert np.allclose(shift.removed(history), 100.0)
    saturday_night = pd.DatetimeIndex([pd.Timestamp("2026-11-07 23:45")]) + pd.Timedelta(hours=5)
    assert shift.at(saturday_night.tz_localize("UTC"), index[-1])[0] == pytest.approx(-80.0)


def test_a_model_fitted_on_moved_weekends_forecasts_them_back() -> None:
    """Daily naive on a week ending on Friday night forecasts Saturday as Friday; moved and
    back, it forecasts Saturday's own level, and keeps doing so as newer history arrives."""
    full = _office_week(days=15)
    history, saturday = full.iloc[: 7 * 48], full.iloc[7 * 48 : 8 * 48]
    shift = WeekendShift.of(history)
    plain = SeasonalNaiveDaily(despike=False).fit(history).predict(48)["p50"]
    shifted = WeekendShifted(SeasonalNaiveDaily(despike=False).fit(shift.removed(history)), shift)
    forecast = shifted.predict(48)["p50"]
    assert list(forecast.index) == list(saturday.index)

    def error(path: pd.Series, actual: pd.Series) -> float:
        return float(np.mean(np.abs(path.to_numpy() - actual.to_numpy())))

    assert error(plain, saturday) == 50.0  # 150 too high for eight hours of the day
    # exact but where the hour-wide smoothing of the shift meets the office's edges
    assert error(forecast, saturday) < 0.15 * error(plain, saturday)
    assert forecast.iloc[24] == saturday.iloc[24] == 150.0  # noon
    # the service's refresh, from the raw newer history after a weekend: Monday is forecast
    # as a weekday, not as the Sunday before it
    later = pickle.loads(pickle.dumps(shifted)).update(full.iloc[: 9 * 48])
    monday = full.iloc[9 * 48 : 10 * 48]
    plain_monday = SeasonalNaiveDaily(despike=False).fit(full.iloc[: 9 * 48]).predict(48)["p50"]
    assert error(later.predict(48)["p50"], monday) < 0.15 * error(plain_monday, monday)


def test_a_shift_fitted_inside_the_wrapper_moves_its_history_first() -> None:
    history = _office_week(days=7)  # Saturday to Friday
    shift = WeekendShift.of(history)
    wrapped = WeekendShifted(SeasonalNaiveDaily(despike=False), shift).fit(history)
    friday = history.iloc[-48:].to_numpy()
    assert np.allclose(wrapped.base.predict(48)["p50"].to_numpy(), friday)
    assert wrapped.predict(48)["p50"].iloc[24] == 150.0  # and the wrapper forecasts a Saturday


def test_calibrated_bands_widen_on_weekends_by_how_far_the_weekend_days_strayed() -> None:
    """A backtest of weekdays cannot show how far Sunday is from Saturday: the champion's
    bands add that spread on weekend steps as an independent error, and only there."""
    history = _office_week(days=9, start="2024-01-06")  # Saturday to Sunday of the next week
    saturdays = pd.DatetimeIndex(history.index).day_of_week == 5
    uneven = history.where(~saturdays, history * 1.4)  # Saturday busier than Sunday
    horizons = np.tile(np.arange(1, 49), 20)
    noise = np.random.default_rng(2).normal(0, 5.0, len(horizons))
    bands = ConformalBands.fit(noise, horizons, horizons * 1800.0)
    widths = {}
    for label, series in (("alike", history), ("uneven", uneven)):
        shift = WeekendShift.of(series)
        base = SeasonalNaiveDaily(despike=False).fit(shift.removed(series))
        frame = Calibrated(WeekendShifted(base, shift), bands).predict(7 * 48)
        weekend = pd.DatetimeIndex(frame.index).day_of_week >= 5
        width = (frame["p95"] - frame["p50"]).to_numpy()
        widths[label] = (width[weekend], width[~weekend])
    # alike weekends stray only where the hour-wide average meets the office's edges
    assert np.median(widths["alike"][0]) == pytest.approx(np.median(widths["alike"][1]))
    assert np.median(widths["uneven"][0]) > 2 * np.median(widths["uneven"][1])
    assert np.allclose(widths["uneven"][1], widths["alike"][1])  # weekdays untouched


def test_a_days_level_straying_widens_every_step_and_old_shifts_keep_their_bands() -> None:
    """A history with moved weekends holds copies of the weekdays' level, so its backtest never
    shows a new day's level straying: ``day_spread`` (a log ratio) adds that, times the
    weekdays' level at each step, as an independent error on weekdays and weekends alike. A
    shift stored before it existed widens only its weekends."""
    history = _office_week(days=9)
    horizons = np.tile(np.arange(1, 49), 20)
    noise = np.random.default_rng(2).normal(0, 5.0, len(horizons))
    bands = ConformalBands.fit(noise, horizons, horizons * 1800.0)
    plain, straying = WeekendShift.of(history), WeekendShift.of(history, day_spread=0.1)
    old = pickle.loads(pickle.dumps(plain))
    del old.__dict__["level"], old.__dict__["day_spread"]  # as stored before them
    widths = {}
    for label, shift in (("plain", plain), ("straying", straying), ("old", old)):
        base = SeasonalNaiveDaily(despike=False).fit(shift.removed(history))
        frame = Calibrated(WeekendShifted(base, shift), bands).predict(7 * 48)
        widths[label] = (frame["p95"] - frame["p50"]).to_numpy()
    office = (frame.index.hour >= 10) & (frame.index.hour < 16) & (frame.index.day_of_week < 5)
    # at 300 in office hours, one standard deviation of 30: p95 about 1.645 * 30 out
    assert np.all(widths["straying"][office] > 1.645 * 30)
    assert np.all(widths["straying"] >= widths["plain"] - 1e-9)
    assert np.allclose(widths["old"], widths["plain"])
