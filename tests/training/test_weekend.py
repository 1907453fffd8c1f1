"""A week of history that shows a weekend: the champion is averaged with last week's same day
while the history is too short to backtest a weekly model."""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest

from forecaster.training.forecasting import make_forecast, refreshed
from forecaster.training.history import read_as_load
from forecaster.training.weekend import (
    PARTLY_SEEN_CONTRAST,
    SHORT_WEEKEND_GAP,
    WEEKEND_CONTRAST,
    day_seconds,
    weekend_contrast,
    weekend_gap,
    whole_weekends,
)
from models.calendar import Calendar
from models.weekend_shift import WeekendShifted
from tests.helpers import synthetic_traffic

WEEKEND_LEVEL = 0.6


def _office_traffic(days: float, *, weekend: float = WEEKEND_LEVEL, seed: int = 0) -> pd.Series:
    """Daily-cycled load from Saturday 2024-01-06 whose weekends run at ``weekend`` x."""
    series = synthetic_traffic(days, 1800, weekly_amplitude=0.0, seed=seed, start="2024-01-06")
    weekends = pd.DatetimeIndex(series.index).day_of_week >= 5
    return series * np.where(weekends, weekend, 1.0)


def test_weekend_contrast_tells_a_weekend_from_day_to_day_noise() -> None:
    assert weekend_contrast(_office_traffic(8)) > 10 * WEEKEND_CONTRAST
    assert weekend_contrast(_office_traffic(8, weekend=1.0)) < WEEKEND_CONTRAST
    assert weekend_contrast(_office_traffic(6)) > 10 * WEEKEND_CONTRAST  # four weekdays
    assert weekend_contrast(_office_traffic(4)) == 0.0  # two weekdays: cannot tell
    daily = _office_traffic(60).resample("D").mean()
    assert weekend_contrast(daily) == 0.0  # steps of a day: no day to average within


@pytest.mark.parametrize("weekend", [WEEKEND_LEVEL, 1.0])
def test_a_week_with_a_weekend_forecasts_saturday_partly_from_last_saturday(
    weekend: float,
) -> None:
    full = _office_traffic(8, weekend=weekend, seed=3)
    history, saturday = full.iloc[: 7 * 48], full.iloc[7 * 48 :]  # ends on Friday night

    def error(outcome) -> float:
        return float(np.mean(np.abs(outcome.frame["p50"].to_numpy() - saturday.to_numpy())))

    auto = make_forecast(history, 48)
    daily_only = make_forecast(history, 48, model="holt_winters")  # asked for: left alone
    assert "averaged" not in daily_only.message
    if weekend < 1.0:
        assert "weekends moved to the weekdays' level" in auto.message
        assert "averaged with seasonal_naive_weekly" in auto.message
        # the daily model forecasts a weekday, about 40 % too high; the champion learnt one
        # kind of day and forecasts Saturday moved back (averaged with last Saturday: half
        # of that error, 0.5x, before weekends were moved)
        assert error(daily_only) > 0.3 * saturday.mean()
        assert error(auto) < 0.2 * error(daily_only)
    else:
        assert "averaged" not in auto.message


def test_a_stored_champion_refreshed_after_the_weekend_forecasts_a_weekday() -> None:
    """The service refreshes its champion from newer history without refitting: fitted on
    weekends moved, it reads the new weekend moved too, so Monday is not forecast as Sunday."""
    full = _office_traffic(10, seed=4)
    auto = make_forecast(full.iloc[: 7 * 48], 48)
    assert "weekends moved" in auto.message
    refreshed_model, _ = refreshed(
        pickle.loads(pickle.dumps(auto.fitted)), full.iloc[: 9 * 48], None, 48
    )
    monday = full.iloc[9 * 48 :].to_numpy()
    from_sunday = full.iloc[8 * 48 : 9 * 48].to_numpy()  # what a daily model would say
    error = np.mean(np.abs(refreshed_model.predict(48)["p50"].to_numpy() - monday))
    assert error < 0.3 * np.mean(np.abs(from_sunday - monday))


def test_a_backtest_of_weekdays_only_still_hears_about_weekends() -> None:
    """Ten days ending on a Friday night: weekly naive is backtested, but only on weekdays,
    where it is no better than yesterday; Saturday must not be forecast as a weekday."""
    full = _office_traffic(15, seed=5)
    history, saturday = full.iloc[4 * 48 : 14 * 48], full.iloc[14 * 48 :]
    assert history.index[-1].day_name() == "Friday"
    auto = make_forecast(history, 48)
    assert "seasonal_naive_weekly" in {row.model for row in auto.leaderboard if row.status == "ok"}
    if auto.model != "seasonal_naive_weekly":
        assert "no backtest fold forecast a weekend" in auto.message
    daily_only = make_forecast(history, 48, model="holt_winters")
    errors = [
        float(np.mean(np.abs(o.frame["p50"].to_numpy() - saturday.to_numpy())))
        for o in (auto, daily_only)
    ]
    assert errors[0] < 0.7 * errors[1]


def test_nine_days_ending_sunday_night_forecast_monday_as_a_weekday() -> None:
    """Found by a QA pass: nine days from Saturday to Sunday night, weekends at 0.6x. The folds
    forecast Friday to Sunday, where models that follow the last day's level did well, so
    Monday was forecast like Sunday: 29 % low, 2.5x the error of last Monday repeated."""
    full = _office_traffic(10, seed=6)
    history, monday = full.iloc[: 9 * 48], full.iloc[9 * 48 :]
    assert history.index[-1].day_name() == "Sunday"
    auto = make_forecast(history, 48)
    assert "the forecast reaches a Monday and no backtest fold forecast one" in auto.message
    last_monday = history.iloc[2 * 48 : 3 * 48].to_numpy()
    error = float(np.mean(np.abs(auto.frame["p50"].to_numpy() - monday.to_numpy())))
    assert error < 1.2 * float(np.mean(np.abs(last_monday - monday.to_numpy())))
    assert abs(auto.frame["p50"].mean() / monday.mean() - 1) < 0.1


@pytest.mark.parametrize("weekend", [WEEKEND_LEVEL, 1.0])
def test_five_days_ending_sunday_night_forecast_monday_as_a_weekday(weekend: float) -> None:
    """Five days from Wednesday to Sunday night, under a week: nothing could weigh a weekend,
    so Monday was forecast like the quiet Sunday before it (half-hourly electricity demand
    cut so: 4.6x the error of last Monday repeated). Three weekdays and a weekend far apart
    now say the weekend is one; the Monday is then averaged with yesterday moved to a
    weekday's level, as no last Monday is there."""
    full = _office_traffic(11, weekend=weekend, seed=4)  # from Saturday 2024-01-06
    history, monday = full.iloc[4 * 48 : 9 * 48], full.iloc[9 * 48 : 10 * 48]
    assert (history.index[0].day_name(), history.index[-1].day_name()) == ("Wednesday", "Sunday")
    auto = make_forecast(history, 48)
    bias = auto.frame["p50"].mean() / monday.mean() - 1
    if weekend < 1.0:
        assert "averaged with seasonal_naive_daily" in auto.message
        assert "too short to backtest a weekly model" in auto.message
        assert abs(bias) < 0.1  # like Sunday: 40 % low
    else:  # no weekend to move
        assert "weekends moved" not in auto.message
        assert abs(bias) < 0.1


@pytest.mark.parametrize("weekend", [WEEKEND_LEVEL, 0.0])
@pytest.mark.parametrize(("days", "end"), [(3, 9 * 48), (4, 9 * 48), (3, 8 * 48 + 24)])
def test_three_or_four_days_to_a_monday_forecast_it_as_a_weekday(
    days: int, end: int, weekend: float
) -> None:
    """Found by a QA pass: three or four days to Sunday (one or two weekdays, too few for a
    standard deviation) left the weekend unread, so Monday was forecast like Sunday (taylor's
    electricity demand: 17-20 % low). A weekend far from every weekday, which agree, is one;
    so is a Thursday half seen (three days to Sunday noon), and a weekend with no traffic at
    all (review: its hours had no log, and Monday was forecast at 0)."""
    full = _office_traffic(11, weekend=weekend, seed=2)  # from Saturday 2024-01-06
    history, ahead = full.iloc[end - days * 48 : end], full.iloc[end : end + 48]
    assert history.index[-1].day_name() == "Sunday"
    assert weekend_contrast(history) == 0.0  # under three weekdays: it cannot tell
    auto = make_forecast(history, 48)
    assert isinstance(auto.fitted.base, WeekendShifted)
    assert "weekend days run" in auto.message
    # nothing is averaged when the champion is the partner itself (review)
    averaged = "averaged with seasonal_naive_daily" in auto.message
    assert averaged == (auto.model != "seasonal_naive_daily"), auto.message
    assert abs(auto.frame["p50"].mean() / ahead.mean() - 1) < 0.1  # Monday like Sunday: -40 %


@pytest.mark.parametrize("seed", range(4))
def test_a_short_history_without_a_weekend_keeps_its_weekends(seed: int) -> None:
    """The control: three or four days ending on any day, of traffic whose days wander in level
    (5 % a day) with no weekly cycle, or of plain noise, never read as having a weekend."""
    rng = np.random.default_rng(seed)
    index = pd.date_range("2024-01-01", periods=28 * 48, freq="30min", tz="UTC")
    wander = np.exp(np.cumsum(rng.normal(0, 0.05, 28)))[(index - index[0]).days]
    daily = 100 * wander * (1.5 + np.sin(2 * np.pi * index.hour / 24))
    for load in (daily * rng.lognormal(0, 0.08, len(index)), rng.lognormal(4, 0.3, len(index))):
        series = pd.Series(load, index=index)
        for days in (3, 4):
            for end in range(days * 48, len(series) + 1, 12):
                assert abs(weekend_gap(series.iloc[end - days * 48 : end])) <= SHORT_WEEKEND_GAP
    for weekend in (1.0, 0.95):  # none, or too mild to tell from a day's wander
        history = _office_traffic(11, weekend=weekend, seed=seed).iloc[6 * 48 : 9 * 48]
        auto = make_forecast(history, 48)
        assert not isinstance(auto.fitted.base, WeekendShifted)


def test_weekend_gap_wants_weekdays_that_agree() -> None:
    """Two weekdays 10 % apart cannot vouch for a weekend 20 % below them, a weekend day
    between the weekdays is no gap, and two days are too few; the gap is the mean, signed."""
    index = pd.date_range("2024-01-04", periods=4 * 24, freq="h", tz="UTC")  # Thu to Sun
    levels = {"Thursday": 100.0, "Friday": 100.0, "Saturday": 80.0, "Sunday": 70.0}
    noise = np.random.default_rng(0).lognormal(0, 0.02, len(index))
    load = pd.Series([levels[day] for day in index.day_name()], index=index) * noise
    assert weekend_gap(load) == pytest.approx(np.log(0.8 * 0.7) / 2, abs=0.01)
    assert weekend_gap(load.iloc[24:]) == pytest.approx(np.log(0.8 * 0.7) / 2, abs=0.01)
    assert weekend_gap(load.where(index.day_name() != "Thursday", 110.0)) == 0.0
    assert weekend_gap(load.where(index.day_name() != "Saturday", 105.0)) == 0.0
    assert weekend_gap(load.iloc[24:72]) == 0.0  # Friday and Saturday alone
    assert weekend_gap(load.iloc[:48]) == 0.0  # no weekend day
    assert weekend_gap(load * np.random.default_rng(1).lognormal(0, 2, len(index))) == 0.0
    # Thursday afternoon and Monday morning share no hour, so the weekdays cannot be said to
    # agree: a Monday at twice Friday's level had passed as a weekend's edge (review)
    later = pd.date_range("2024-01-04 12:00", "2024-01-08 11:00", freq="h", tz="UTC")
    monday_twice = {**levels, "Monday": 200.0}
    unsure = pd.Series([monday_twice[day] for day in later.day_name()], index=later)
    assert weekend_gap(unsure * np.random.default_rng(2).lognormal(0, 0.02, len(later))) == 0.0


PARTLY_SEEN = "the backtest folds forecast under a day of weekend and the history holds one"


def _ten_days_to_saturday_morning(weekend: float) -> tuple[pd.Series, pd.Series]:
    """Half-hourly load peaking at 15:00, weekends at ``weekend`` x, 8 % noise: ten days of
    history to Saturday 2024-01-20 06:00, and the whole series a day beyond."""
    rng = np.random.default_rng(0)
    index = pd.date_range("2024-01-10 06:00", "2024-01-21 06:00", freq="30min", tz="UTC")
    hour = index.hour + index.minute / 60
    daily = 1 + 0.6 * np.cos(2 * np.pi * (hour - 15) / 24)
    mean = 200 * daily * np.where(index.day_of_week >= 5, weekend, 1.0)
    full = pd.Series(mean * rng.lognormal(0, 0.08, len(index)), index=index)
    return full.iloc[: 10 * 48], full


def test_a_history_ending_saturday_morning_with_one_weekend_forecasts_the_weekend() -> None:
    """Ten days ending Saturday 06:00: the last fold forecast Saturday's quiet night, which a
    daily model gets right, and Prophet, half-learnt on the one weekend seen, was picked on
    those folds and forecast a 0.3x Saturday near the weekdays' level (15x the error of last
    week's same day). A few weekend hours do not count as a weekend backtested."""
    history, full = _ten_days_to_saturday_morning(0.3)
    end = history.index[-1] + pd.Timedelta(minutes=30)
    saturday = full[full.index >= end].iloc[:48]
    assert whole_weekends(history) == 1
    auto = make_forecast(history, 48)
    assert PARTLY_SEEN in auto.message
    error = float(np.mean(np.abs(auto.frame["p50"].to_numpy() - saturday.to_numpy())))
    last_week = full[(full.index >= end - pd.Timedelta(days=7))].iloc[:48].to_numpy()
    assert error < 1.5 * float(np.mean(np.abs(last_week - saturday.to_numpy())))


def test_a_few_weekend_hours_in_the_folds_raise_the_bar_for_a_weekend() -> None:
    """Those weekend hours weighed the weekend a little: a weekend 5 % below the weekdays
    (4.9 weekday standard deviations, enough when no fold saw a weekend) is left to them."""
    history, _ = _ten_days_to_saturday_morning(0.95)
    assert WEEKEND_CONTRAST < weekend_contrast(history) < PARTLY_SEEN_CONTRAST
    assert "weekends moved" not in make_forecast(history, 48).message


def test_day_seconds_and_whole_weekends_read_the_services_days() -> None:
    def hours(start: str, count: int) -> np.ndarray:
        stamps = pd.date_range(start, periods=count, freq="h", tz="UTC")
        return stamps.as_unit("s").asi8.astype("float64")

    assert day_seconds(hours("2024-01-06 00:00", 24), 3600) == 86_400  # all of Saturday
    assert day_seconds(hours("2024-01-05 06:00", 24), 3600) == 6 * 3600  # to Sat 06:00
    assert day_seconds(hours("2024-01-05 00:00", 24), 3600) == 0  # Friday
    night = hours("2024-01-05 06:00", 24)  # the same hours in two folds count once
    assert day_seconds(np.stack([night, night]), 3600) == 6 * 3600
    # in Auckland (+13:00 in January) Friday from 11:00 UTC is already Saturday
    assert day_seconds(hours("2024-01-05 11:00", 24), 3600, "Pacific/Auckland") == 86_400
    office = _office_traffic(16)  # Saturday 6 January to Sunday 21 January, whole days
    assert whole_weekends(office) == 3
    assert whole_weekends(office.iloc[48 : 8 * 48]) == 2  # Sunday 7 to Saturday 13
    assert whole_weekends(office.iloc[2 * 48 : 12 * 48]) == 1  # Monday 8 to Wednesday 17
    assert whole_weekends(office.iloc[2 * 48 : 6 * 48]) == 0


def test_the_weekend_is_read_in_the_services_own_days() -> None:
    """Far from UTC, UTC days cut each weekend in two and dilute the contrast; the profile's
    time zone reads the history in the days its users live (a zone unknown here: UTC days)."""
    local = pd.date_range("2024-01-08", periods=14 * 24, freq="h", tz="Pacific/Auckland")
    load = pd.Series(np.where(local.day_of_week >= 5, 20.0, 100.0), index=local.tz_convert("UTC"))
    load += np.random.default_rng(1).normal(0, 5, len(load))
    in_utc, in_auckland = weekend_contrast(load), weekend_contrast(load, "Pacific/Auckland")
    assert in_auckland > 2 * in_utc


def test_days_before_a_clock_change_are_read_on_the_clock_the_history_is_on() -> None:
    """The engine reads the history on the clock of its last row (``read_as_load``); its days
    read on each row's own offset put an hour of every day before New York's November change
    into the next, so Saturdays there held Friday's last hour (23.3 against 20) and Mondays
    Sunday's (96.7 against 100): flat weekdays read as noisy ones."""
    index = pd.date_range("2026-10-19 04:00", "2026-11-06 05:00", freq="15min", tz="UTC")
    local = index.tz_convert("America/New_York")
    load = pd.Series(np.where(local.day_of_week >= 5, 20.0, 100.0), index=index)
    read, note = read_as_load(load, "America/New_York")
    assert "clock" in note
    assert weekend_contrast(read, "America/New_York") == float("inf")


def test_a_zone_unknown_here_reads_the_weekends_in_utc_too() -> None:
    """A stored profile may name a zone a later tzdata dropped: training reads the history in
    UTC, says so, and weighs the weekends by UTC days as well instead of failing there."""
    history = _office_traffic(8, seed=3).iloc[: 7 * 48]
    outcome = make_forecast(history, 48, calendar=Calendar(timezone="Mars/Olympus"))
    assert "time zone Mars/Olympus is unknown here" in outcome.message
    assert "averaged with seasonal_naive_weekly" in outcome.message
    assert outcome.frame["p50"].notna().all()


def test_weekdays_at_one_level_are_named_so_not_as_infinitely_many_deviations() -> None:
    """QA: flat weekdays and one spike on a Sunday read "weekends stand inf weekday standard
    deviations apart"."""
    end = pd.Timestamp("2026-12-06 23:55", tz="UTC")  # a Sunday
    index = pd.date_range(end=end, periods=10 * 288, freq="5min")
    values = np.ones(len(index))
    values[-5] = 1e15
    message = make_forecast(pd.Series(values, index), 288).message
    assert "weekends stand apart from weekdays that hold one level" in message
    assert "inf" not in message


def test_bands_after_a_moved_weekend_allow_for_a_new_days_level() -> None:
    """Found by a QA pass: a weekend moved onto the weekdays' level copies that level, so the
    one backtest fold of three or four days barely strayed, and the bands after it stayed
    about 1 % wide while each new day's level wanders (taylor's electricity demand to a
    Monday: p95 covered 0.73 and 0.79). Smooth load whose days each wander 6 % in level, with
    weekends at 0.6x: of the nine Mondays after three and four days to Sunday night, those
    whose weekend was moved had p95 cover 0.58 of the Monday, pooled; 0.83 now (one or two
    pairs of days say little of how far a day strays: 0.95 would take bands several times
    wider on every such forecast)."""
    rng = np.random.default_rng(7)
    index = pd.date_range("2024-01-06", periods=71 * 48, freq="30min", tz="UTC")  # a Saturday
    hour = index.hour + index.minute / 60
    day = (index - index[0]).days.to_numpy()
    level = rng.lognormal(0, 0.06, 71)[day] * np.where(index.day_of_week >= 5, WEEKEND_LEVEL, 1)
    noise = rng.lognormal(0, 0.01, len(index))
    full = pd.Series(200 * (1 + 0.5 * np.cos(2 * np.pi * (hour - 14) / 24)) * level * noise, index)
    covered = []
    for monday in range(9, 71, 7):
        for days in (3, 4):
            end = monday * 48
            history, ahead = full.iloc[end - days * 48 : end], full.iloc[end : end + 48]
            auto = make_forecast(history, 48)
            if isinstance(auto.fitted.base, WeekendShifted):  # a weekend read and moved
                covered.append(ahead.to_numpy() <= auto.frame["p95"].to_numpy())
    assert len(covered) >= 12
    assert np.mean(covered) >= 0.75


@pytest.mark.parametrize("weekend", [WEEKEND_LEVEL, 0.0])
def test_two_weeks_to_friday_morning_forecast_saturday_as_a_weekend(weekend: float) -> None:
    """Found by a QA pass: two weeks to Friday 09:00 had folds from Sunday to Thursday, none
    reaching a Saturday; 1-minute office traffic's ensemble forecast Saturday's idle night as
    a weekday's, 1.1x the error of last week's same day (here weekly naive won and was it)."""
    full = _office_traffic(22, weekend=weekend, seed=7)  # from Saturday 2024-01-06
    end = 20 * 48 + 18  # Friday 09:00
    history, ahead = full.iloc[end - 14 * 48 : end], full.iloc[end : end + 48]
    auto = make_forecast(history, 48)
    assert "the forecast reaches a Saturday and no backtest fold forecast one" in auto.message
    last_week = full.iloc[end - 7 * 48 : end - 6 * 48].to_numpy()
    error = float(np.mean(np.abs(auto.frame["p50"].to_numpy() - ahead.to_numpy())))
    assert error < 0.9 * float(np.mean(np.abs(last_week - ahead.to_numpy())))


def test_three_days_of_a_growing_launch_are_not_read_as_a_weekend() -> None:
    """Found by a QA pass: a launch growing 20 % a day, three days from Friday 09:00 to Monday
    09:00. Each weekend day lay above Friday, so the weekend read as 27 % above the weekdays and
    Monday was forecast at Friday's level: 25 % low, 1.7x the error of yesterday repeated. Its
    Saturday and Sunday lie as far apart as Saturday from Friday: a trend, not a weekend."""
    full = _office_traffic(11, weekend=1.0, seed=0)  # from Saturday 2024-01-06
    full = full * 1.2 ** np.asarray((full.index - full.index[0]) / pd.Timedelta("1D"))
    end = 9 * 48 + 18  # Monday 09:00
    history, ahead = full.iloc[end - 3 * 48 : end], full.iloc[end : end + 48]
    assert history.index[0].day_name() == "Friday"
    assert weekend_gap(history) == 0.0
    auto = make_forecast(history, 48)
    assert "weekends moved" not in auto.message
    assert abs(auto.frame["p50"].mean() / ahead.mean() - 1) < 0.1
