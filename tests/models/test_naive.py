"""Seasonal-naive: the baseline, the MASE yardstick and the fallback."""

from __future__ import annotations

import numpy as np
import pandas as pd

from models.base import ForecastModel
from models.naive import SeasonalNaiveDaily, SeasonalNaiveWeekly
from tests.helpers import synthetic_traffic
from tests.models.cases import (
    assert_forecasts_past_a_missing_end,
    assert_recovers_daily_cycle,
    assert_survives_gaps,
)


def test_daily_recovers_cycle() -> None:
    assert_recovers_daily_cycle(SeasonalNaiveDaily())


def test_survives_gaps() -> None:
    assert_survives_gaps(SeasonalNaiveDaily())


def test_weekly_copies_the_same_day_last_week() -> None:
    series = synthetic_traffic(days=15, step_seconds=3600, weekly_amplitude=0.4, seed=3)
    frame = SeasonalNaiveWeekly().fit(series).predict(24)
    week_ago = series.iloc[-168:-144].to_numpy()
    assert np.allclose(frame["p50"].to_numpy(), week_ago)


def test_weekly_on_under_a_week_repeats_yesterday_until_a_week_is_in() -> None:
    """So a ten-day history can backtest it: its first folds start before a week is in."""
    series = synthetic_traffic(days=9, step_seconds=3600, weekly_amplitude=0.4, seed=3)
    five_days = series.iloc[: 5 * 24]
    frame = SeasonalNaiveWeekly().fit(five_days).predict(24)
    assert np.allclose(frame["p50"].to_numpy(), five_days.iloc[-24:].to_numpy())
    origins = np.arange(5 * 24, 8 * 24, 5)  # across the one-week mark
    fast = SeasonalNaiveWeekly().fit(series.iloc[: origins[0] + 1])
    slow = SeasonalNaiveWeekly().fit(series.iloc[: origins[0] + 1])
    rolled = fast.rolled_medians(series, origins, 24)
    assert np.allclose(rolled, ForecastModel.rolled_medians(slow, series, origins, 24))
    last = int(origins[-1])
    assert np.allclose(rolled[-1], series.iloc[last - 167 : last - 143].to_numpy())


def test_short_history_repeats_the_last_value_with_wide_bands() -> None:
    series = synthetic_traffic(days=0.5, step_seconds=3600, seed=4)
    frame = SeasonalNaiveDaily().fit(series).predict(6)
    assert np.allclose(frame["p50"], series.iloc[-1])
    assert (frame["p95"] - frame["p50"] > 0.2 * series.mean()).all()


def test_rolled_medians_equal_updating_origin_by_origin() -> None:
    """The gather fast path gives what the generic update loop gives: across the one-season
    mark (last value before it, the last day after), around a gap (the loop's filling) and
    around a spike and a drop that despiking replaces."""
    series = synthetic_traffic(days=4, step_seconds=3600, seed=5)
    series.iloc[40:43] = np.nan
    series.iloc[60:62] *= 20
    series.iloc[75] = 0.0
    origins = np.arange(10, 90, 3)
    for model_class in (SeasonalNaiveDaily, SeasonalNaiveWeekly):
        fast = model_class().fit(series.iloc[: origins[0] + 1])
        slow = model_class().fit(series.iloc[: origins[0] + 1])
        rolled = fast.rolled_medians(series, origins, 30)
        looped = ForecastModel.rolled_medians(slow, series, origins, 30)
        assert np.allclose(rolled, looped)
        assert fast.last_timestamp_ == series.index[origins[-1]]
    despiked = SeasonalNaiveDaily().fit(series.iloc[:11]).rolled_medians(series, origins, 30)
    textbook = SeasonalNaiveDaily(despike=False).fit(series.iloc[:11])
    assert not np.allclose(textbook.rolled_medians(series, origins, 30), despiked)


def _with_spike(series, start: int, steps: int, factor: float = 20.0):
    spiked = series.copy()
    spiked.iloc[start : start + steps] *= factor
    return spiked


def test_a_one_off_spike_is_not_repeated_a_day_later_but_a_daily_one_is() -> None:
    """Half an hour at 20x yesterday (an incident, a load test) is not tomorrow's forecast; the
    textbook rule repeats it. A spike that comes every day at that time is repeated."""
    series = synthetic_traffic(days=6, step_seconds=300, seed=6)
    day, at = 288, len(series) - 288 + 100  # yesterday, 100 steps after this time of day
    window = slice(100, 106)
    one_off = _with_spike(series, at, 6)
    usual = series.iloc[at - day : at - day + 6].mean()
    despiked = SeasonalNaiveDaily().fit(one_off).predict(day)["p50"].iloc[window].mean()
    textbook = SeasonalNaiveDaily(despike=False).fit(one_off).predict(day)
    assert despiked < 1.5 * usual
    assert textbook["p50"].iloc[window].mean() > 10 * usual
    daily = series.copy()
    for start in range(100, len(series), day):
        daily = _with_spike(daily, start, 6)
    repeated = SeasonalNaiveDaily().fit(daily).predict(day)["p50"].iloc[window].mean()
    assert repeated > 10 * usual


def test_a_level_shift_is_followed_after_a_few_hours() -> None:
    """Traffic that doubles and stays doubled is not a spike: after a few hours (the local
    window) the forecast repeats the new level."""
    series = synthetic_traffic(days=6, step_seconds=300, seed=7)
    shifted = _with_spike(series, len(series) - 144, 144, factor=2.0)  # the last 12 hours
    frame = SeasonalNaiveDaily().fit(shifted).predict(288)
    late = slice(144 + 48, 288)  # from 4 hours after the shift
    assert np.allclose(frame["p50"].iloc[late], shifted.iloc[-96:])


def test_an_outage_is_not_repeated_even_after_a_spike() -> None:
    """Three hours at zero yesterday are not tomorrow's forecast, also when a huge spike the
    week before has raised the mean change (each change counts at most 20x the median one)."""
    series = synthetic_traffic(days=10, step_seconds=3600, noise=0.05, seed=9)
    series.iloc[-24 * 7 + 5] = 50 * series.max()
    series.iloc[-22:-19] = 0.0
    frame = SeasonalNaiveDaily().fit(series).predict(24)
    usual = series.iloc[-46:-43].to_numpy()  # the same hours the day before
    assert (frame["p50"].iloc[2:5].to_numpy() > 0.5 * usual).all()


def test_weekly_does_not_replay_a_spike_from_last_week_on_two_weeks_of_history() -> None:
    """Two weeks hold no moment with the two earlier weeks weekly despiking needs; one value
    of 1e7 a week ago had been the next day's forecast (and the ensemble's). It is judged
    against the days before instead; the textbook rule still replays it."""
    series = synthetic_traffic(days=14, step_seconds=300, seed=4)
    at = len(series) - 2016 + 100  # a week ago, 100 steps after this time of week
    series.iloc[at] = 1e7
    frame = SeasonalNaiveWeekly().fit(series).predict(288)
    assert frame["p50"].max() < 3 * series.median()
    assert SeasonalNaiveWeekly(despike=False).fit(series).predict(288)["p50"].iloc[100] == 1e7


def test_weekly_despiking_keeps_the_weekend() -> None:
    """Judging values against the days before must not flatten a weekly cycle: on three weeks
    of traffic whose weekends run at half the weekday level, the forecast of the next week is
    unchanged by despiking."""
    series = synthetic_traffic(days=21, step_seconds=300, noise=0.05, seed=8)
    weekend = series.index.day_of_week >= 5
    series[weekend] *= 0.5
    despiked = SeasonalNaiveWeekly().fit(series).predict(2016)["p50"].to_numpy()
    textbook = SeasonalNaiveWeekly(despike=False).fit(series).predict(2016)["p50"].to_numpy()
    assert np.abs(despiked - textbook).mean() < 0.01 * textbook.mean()


def test_forecasts_past_a_missing_end() -> None:
    assert_forecasts_past_a_missing_end(SeasonalNaiveDaily)
    assert_forecasts_past_a_missing_end(SeasonalNaiveWeekly)


def _office_hours(days: int, end_weekday: int) -> pd.Series:
    """Five-minute requests of an office-hours API: ~190 from 09:00 to 18:00 on weekdays, ~0
    otherwise; the history ends at midnight before ``end_weekday`` (0 is Monday)."""
    rng = np.random.default_rng(1)
    end = pd.Timestamp("2026-03-02") + pd.Timedelta(days=end_weekday)  # 2026-03-02 is a Monday
    index = pd.date_range(end=end - pd.Timedelta(minutes=5), periods=days * 288, freq="5min")
    hours = index.hour + index.minute / 60
    busy = (hours >= 9) & (hours < 18) & (index.day_of_week < 5)
    ramp = np.clip(np.minimum(hours - 8.5, 18.5 - hours), 0, 1)
    return pd.Series(rng.poisson(0.3 + 200 * busy * ramp).astype(float), index=index)


def test_the_first_office_hours_after_a_weekend_are_not_one_off_spikes() -> None:
    """QA: against the three days before (a Friday and the weekend's zeros) and the night before,
    a Monday's and a Tuesday's first office hours looked like one-off spikes and were replaced
    by zeros, in every model reading despiked values: the weekly rule forecast a Tuesday
    morning at 0.6 with last Tuesday's at 185, and the plan was short for three hours. A value
    met at the same moment of a day in the week before is not a one-off."""
    morning = slice(9 * 12, 12 * 12)
    for weekday in (0, 1):  # forecasting a Monday, a Tuesday
        history = _office_hours(21, weekday)
        weekly = SeasonalNaiveWeekly().fit(history).predict(288)["p50"].iloc[morning]
        last_week = history.iloc[-7 * 288 :].iloc[morning]
        assert weekly.mean() > 0.9 * last_week.mean() > 150
    tuesday = SeasonalNaiveDaily().fit(_office_hours(21, 1)).predict(288)["p50"].iloc[morning]
    assert tuesday.mean() > 150  # Monday's morning, repeated


def test_a_weekly_job_is_replayed_by_the_weekly_rule() -> None:
    """QA: a Sunday 02:00 job at 8x was removed by the daily despiking that runs before the
    weekly one, so the weekly rule forecast the job's hour at the usual level (20 against 135)."""
    series = synthetic_traffic(days=21, step_seconds=300, noise=0.05, seed=3)
    job = (series.index.day_of_week == 6) & (series.index.hour == 2)
    series[job] *= 8
    history = series.iloc[: -(series.index[-1] - series.index[job][-1]).days * 288 - 288]
    frame = SeasonalNaiveWeekly().fit(history).predict(2016)
    forecast_job = frame.index.isin(history.index[job[: len(history)]][-12:] + pd.Timedelta(days=7))
    assert forecast_job.sum() == 12
    assert frame["p50"][forecast_job].mean() > 0.8 * history[job[: len(history)]][-12:].mean()


def test_a_weekday_outage_of_an_office_hours_service_is_still_replaced() -> None:
    """Review: a drop matched against every day of the week before met the weekend's zeros, so
    a two-hour outage on a Wednesday afternoon was kept and forecast for Thursday at 0. A drop
    recurs only when seen on the same day a week before (a weekend's zeros are)."""
    history = _office_hours(17, 3)  # ends at midnight before a Thursday
    outage = slice(-288 + 14 * 12, -288 + 16 * 12)  # Wednesday 14:00-16:00
    history.iloc[outage] = 0.0
    thursday = SeasonalNaiveDaily().fit(history).predict(288)["p50"].iloc[14 * 12 : 16 * 12]
    assert thursday.mean() > 150
    saturday = SeasonalNaiveWeekly().fit(_office_hours(21, 5)).predict(288)["p50"]
    assert saturday.max() < 5  # the weekend's zeros are not replaced by weekday load
