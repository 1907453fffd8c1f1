"""Public holidays are read at the level the history's own holidays ran at, for every model.

Found by a QA pass: with major US holidays at 0.4x in four months of 5-minute history, MSTL
(the champion) forecast Christmas as an ordinary day, +164 %, with or without the country.
"""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd

from forecaster.profiles import ScalingProfile
from forecaster.training.forecasting import make_forecast, refreshed
from forecaster.training.holiday_effect import with_learned_holidays
from forecaster.training.train import _champion_forecast
from models.calendar import Calendar, EventWindow
from tests.helpers import synthetic_traffic

US = Calendar(holiday_country="US")
MAJOR = 0.4  # Labor Day, Thanksgiving and Christmas; the other US holidays run as usual
MAJOR_DAYS = ("2023-09-04", "2023-11-23", "2023-12-25", "2024-09-02", "2024-11-28")


def _traffic(start: str, end: str) -> pd.Series:
    days = (pd.Timestamp(end) - pd.Timestamp(start)).days
    series = synthetic_traffic(days, 3600, weekly_amplitude=0.0, seed=7, start=start)
    major = pd.DatetimeIndex(series.index).normalize().isin(pd.DatetimeIndex(MAJOR_DAYS, tz="UTC"))
    return series * np.where(major, MAJOR, 1.0)


def _multipliers(calendar: Calendar) -> dict[str, float]:
    return {str(e.start.date()): e.multiplier or 1.0 for e in calendar.events}


def test_each_holiday_reads_at_its_own_level_or_at_the_holidays_median() -> None:
    history = _traffic("2024-08-01", "2024-12-24")  # Labor Day to Thanksgiving; not Christmas
    calendar, note = with_learned_holidays(history, US, horizon=48)
    levels = _multipliers(calendar)
    assert abs(levels["2024-09-02"] - MAJOR) < 0.05  # as it ran
    assert "2024-10-14" not in levels and "2024-11-11" not in levels  # ran as usual: left alone
    # Christmas is not in the history: the median of the four seen (two at 0.4, two at 1.0)
    assert 0.6 < levels["2024-12-25"] < 0.8
    assert "public holidays (US) read at the level the 4 in the history ran at" in note

    year = _traffic("2023-11-01", "2024-12-24")  # last Christmas seen: its own level
    assert (
        abs(_multipliers(with_learned_holidays(year, US, horizon=48)[0])["2024-12-25"] - MAJOR)
        < 0.05
    )


def test_without_a_country_or_a_past_holiday_nothing_changes() -> None:
    history = _traffic("2024-08-01", "2024-12-24")
    assert with_learned_holidays(history, Calendar(), horizon=48) == (Calendar(), "")
    short = _traffic("2024-12-01", "2024-12-24")  # no holiday in the history to learn from
    assert with_learned_holidays(short, US, horizon=48) == (US, "")
    declared = EventWindow(
        "sale", pd.Timestamp("2024-12-25", tz="UTC"), pd.Timestamp("2024-12-26", tz="UTC"), 3.0
    )
    kept, _ = with_learned_holidays(history, Calendar("US", (declared,)), horizon=48)
    assert [e.name for e in kept.events if e.start.date().isoformat() == "2024-12-25"] == ["sale"]


def test_a_model_that_knows_no_holidays_forecasts_christmas_at_the_holiday_level() -> None:
    history = _traffic("2024-08-01", "2024-12-25")
    normal = make_forecast(history, 24, model="mstl")
    holiday = make_forecast(history, 24, model="mstl", calendar=US)
    ratio = holiday.frame["p50"].mean() / normal.frame["p50"].mean()
    assert 0.6 < ratio < 0.8  # the holidays' median level, where it was an ordinary day before


def test_a_regional_holiday_is_forecast_at_the_holiday_level() -> None:
    """A Bavarian service quiet on Bavaria's holidays (All Saints' Day is not Germany's):
    with DE-BY, Epiphany is forecast at their level; with DE, as an ordinary day."""
    import holidays

    bavarian = holidays.country_holidays("DE", subdiv="BY", years=[2024, 2025])
    series = synthetic_traffic(72, 3600, weekly_amplitude=0.0, seed=7, start="2024-10-26")
    quiet = np.array([moment.date() in bavarian for moment in series.index])
    history = series * np.where(quiet, MAJOR, 1.0)  # to 5 January; Epiphany is next
    means = {}
    for code in ("DE-BY", "DE"):
        forecast = make_forecast(history, 24, model="seasonal_naive_daily", calendar=Calendar(code))
        means[code] = forecast.frame["p50"].mean()
    assert abs(means["DE-BY"] / means["DE"] - MAJOR) < 0.05


def test_the_refresh_keeps_the_holidays_training_read() -> None:
    """The 15-minute refresh set the champion's events to the declared ones alone: from the
    first refresh after each training, Christmas was forecast as an ordinary day again."""
    history = _traffic("2024-08-01", "2024-12-25")
    trained = make_forecast(history, 24, model="mstl", calendar=US)
    profile = ScalingProfile(
        capacity_per_replica=10, step_seconds=3600, horizon_hours=24, holiday_country="US"
    )
    refreshed, _ = _champion_forecast(pickle.dumps(trained.fitted), US, history, profile)
    # the same forecast, up to the update's own drift (1 %), not an ordinary day (2.5x)
    np.testing.assert_allclose(refreshed["p50"], trained.frame["p50"], rtol=0.03)


def test_training_and_the_refresh_place_a_past_holiday_on_the_rows_as_moved() -> None:
    """A New York service across the November change: its rows before it are moved an hour
    later (onto the current clock). Training learnt the holidays on the moved rows with the
    windows where the zone's days fall in UTC, an hour off them (ordinary hours divided by the
    holiday's level, holiday hours left low), while the refresh placed them on the rows."""
    zone = "America/New_York"
    local = pd.date_range("2024-08-01", "2024-12-24", freq="h", tz=zone, inclusive="left")
    rng = np.random.default_rng(7)
    cycle = 100 * (1 + 0.5 * np.sin(2 * np.pi * local.hour / 24)) * rng.uniform(0.95, 1.05)
    major = local.tz_localize(None).normalize().isin(pd.DatetimeIndex(MAJOR_DAYS))
    history = pd.Series(cycle * np.where(major, MAJOR, 1.0), index=local.tz_convert("UTC"))
    calendar = Calendar(holiday_country="US", timezone=zone)
    trained = make_forecast(history, 24, model="mstl", calendar=calendar)
    labor_day = [e for e in trained.fitted.events if e.name == "holiday: Labor Day"]
    # local midnight of 2 September on the current clock (-05:00), where its rows now are
    assert [e.start for e in labor_day] == [pd.Timestamp("2024-09-02 05:00", tz="UTC")]
    newer, _ = refreshed(pickle.loads(pickle.dumps(trained.fitted)), history, calendar, 24)
    assert newer.events == trained.fitted.events
