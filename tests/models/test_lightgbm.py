"""LightGBM direct multi-step: seasonality, gaps, the global fit, and update without refit."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd

from models.base import ForecastModel
from models.calendar import Calendar
from models.features import FEATURE_NAMES, rows
from models.lightgbm_model import LightGBM, LightGBMGlobal
from tests.helpers import afternoon_peaks, synthetic_traffic
from tests.models.cases import assert_recovers_daily_cycle, assert_survives_gaps


def test_recovers_cycle() -> None:
    assert_recovers_daily_cycle(LightGBM(rounds=100).configure(horizon=48))


def test_survives_gaps() -> None:
    assert_survives_gaps(LightGBM(rounds=50).configure(horizon=24))


def test_global_model_shares_one_booster_and_scales_per_series() -> None:
    small = [synthetic_traffic(days=10, step_seconds=3600, base=10, seed=s) for s in range(3)]
    large = [synthetic_traffic(days=10, step_seconds=3600, base=1000, seed=s) for s in range(3)]
    models = LightGBMGlobal.fit_many(small + large, horizon=24, rounds=60)
    assert len({id(model.booster_) for model in models}) == 1
    small_level = models[0].predict(24)["p50"].mean()
    large_level = models[3].predict(24)["p50"].mean()
    assert 50 < large_level / small_level < 200


def test_update_follows_new_data_without_refitting() -> None:
    series = synthetic_traffic(days=10, step_seconds=3600, seed=7)
    model = LightGBM(rounds=60).configure(horizon=24).fit(series.iloc[:-24])
    booster = model.booster_
    doubled = series.copy()
    doubled.iloc[-48:] *= 2
    model.update(doubled)
    assert model.booster_ is booster
    assert model.predict(12)["p50"].mean() > 1.3 * series.iloc[-12:].mean()


def test_forecast_is_deterministic() -> None:
    series = synthetic_traffic(days=6, step_seconds=3600, seed=8)
    first = LightGBM(rounds=40).configure(horizon=12).fit(series).predict(12)
    second = LightGBM(rounds=40).configure(horizon=12).fit(series).predict(12)
    assert np.allclose(first.to_numpy(), second.to_numpy())


def test_rolled_medians_equal_updating_origin_by_origin() -> None:
    """The one-pass fast path must give exactly what the update loop of the base class gives,
    on a history longer than the features reach back (so truncation is exercised too)."""
    series = synthetic_traffic(days=45, step_seconds=3600, seed=9)
    series.iloc[500:520] = np.nan  # a gap inside the rolled stretch
    origins = np.arange(800, 1060, 13)
    fast = LightGBM(rounds=30).configure(horizon=6).fit(series.iloc[: origins[0] + 1])
    slow = LightGBM(rounds=30).configure(horizon=6).fit(series.iloc[: origins[0] + 1])
    rolled = fast.rolled_medians(series, origins, 6)
    looped = ForecastModel.rolled_medians(slow, series, origins, 6)  # the generic update loop
    assert rolled.shape == (len(origins), 6)
    assert np.allclose(rolled, looped, rtol=1e-9, atol=1e-9)
    assert fast.last_timestamp_ == series.index[origins[-1]]
    assert np.allclose(fast.predict(6)["p50"], slow.predict(6)["p50"])


def test_a_one_off_spike_is_neither_repeated_nor_swells_the_scale() -> None:
    """One point at 10,000x yesterday: tomorrow's forecast is what it would have been."""
    series = synthetic_traffic(days=14, step_seconds=300, seed=4)
    spiked = series.copy()
    spiked.iloc[-200] = 1e4 * series.mean()
    clean = LightGBM().fit(series).predict(288, (0.5,))["p50"].to_numpy()
    after = LightGBM().fit(spiked).predict(288, (0.5,))["p50"].to_numpy()
    assert np.abs(after - clean).max() < 0.1 * series.mean()


def test_a_burst_at_the_end_is_not_forecast_again_at_odd_hours_tomorrow() -> None:
    """QA: the last 30 minutes at 1,000x. Trained on the raw series, the burst's own steps
    (read back from features as high as theirs) made leaves whose median was the burst, and
    the next day's p50 reached 3,228 at scattered steps against a level of about 100."""
    series = synthetic_traffic(days=21, step_seconds=300, seed=6)
    burst = series.copy()
    burst.iloc[-6:] *= 1000
    clean = LightGBM().fit(series).predict(288, (0.5,))["p50"].to_numpy()
    after = LightGBM().fit(burst).predict(288, (0.5,))["p50"].to_numpy()[12:]  # past an hour
    assert after.max() < 2 * clean.max()


def test_a_gap_of_days_at_the_end_is_forecast_on_from_the_last_observed_hour() -> None:
    """Found on daily and hourly traces with their last week blank: every feature was missing
    and the scale fell to 1, so the forecast was about 1 against a level of 1,700. A gap of
    over a day is forecast as from a history that stopped at its last observed step."""
    series = synthetic_traffic(days=35, step_seconds=3600, base=1_700, seed=5)
    gap, horizon = 7 * 24, 48
    gappy = series.copy()
    gappy.iloc[-gap:] = np.nan
    frame = LightGBM().configure(horizon=horizon).fit(gappy).predict(horizon)
    assert frame.index[0] == series.index[-1] + series.index.freq
    expected = LightGBM().configure(horizon=horizon).fit(series.iloc[:-gap])
    np.testing.assert_allclose(frame["p50"], expected.predict(gap + horizon)["p50"][gap:])
    assert 0.7 * 1_700 < frame["p50"].mean() < 1.3 * 1_700


def test_a_missing_night_hour_does_not_move_the_morning_ramp() -> None:
    """Office hours at 5 minutes (10 at night, 100 from 09:00 to 17:00): an hour of the night
    missing 9 hours before the end (as a spring clock change leaves one) had raised the day's
    trailing level by 3 %, and the trees forecast the next two ramps at 20 and 66, not 101."""
    index = pd.date_range("2026-01-08 03:30", "2026-02-05 11:55", freq="5min", tz="UTC")
    hours = index.hour.to_numpy()
    noise = np.random.default_rng(0).uniform(0, 2, len(index))
    series = pd.Series(np.where((hours >= 14) & (hours < 22), 100.0, 10.0) + noise, index=index)
    gappy = series.copy()
    gappy[(index >= "2026-02-05 05:00") & (index < "2026-02-05 06:00")] = np.nan
    whole = LightGBM().configure(horizon=576).fit(series).predict(576)["p50"]
    holed = LightGBM().configure(horizon=576).fit(gappy).predict(576)["p50"]
    ramps = whole.index.hour == 14
    assert (whole[ramps] > 90).all()
    assert (holed[ramps] > 90).all()


def test_weekday_and_holiday_features_follow_the_services_own_clock() -> None:
    """In UTC a Tokyo holiday was flagged from 09:00 local that day to 09:00 the next, and a
    New York one from 19:00 the evening before (QA): the trees read days on the local clock."""
    history = synthetic_traffic(days=22, step_seconds=3600, seed=3, start="2024-04-09 15:00")
    calendar = Calendar(holiday_country="JP", timezone="Asia/Tokyo")
    model = LightGBM(rounds=30).configure(horizon=48, calendar=calendar).fit(history)
    ahead = np.arange(1, 49)
    x, _ = rows(model.prepared_, model.layout_, np.full(48, len(history) - 1), ahead)
    stamps = (history.index[-1] + pd.to_timedelta(ahead, unit="h")).tz_convert("Asia/Tokyo")
    holiday = np.asarray([s.date() in {date(2024, 5, 3)} for s in stamps])
    assert stamps[0].date() == date(2024, 5, 2) and stamps[-1].date() == date(2024, 5, 3)
    np.testing.assert_array_equal(x[:, FEATURE_NAMES.index("holiday")], holiday.astype(float))
    np.testing.assert_array_equal(x[:, FEATURE_NAMES.index("day_of_week")], stamps.day_of_week)
    hours = x[:, FEATURE_NAMES.index("time_of_day")] * 24
    np.testing.assert_allclose(hours, stamps.hour, atol=1e-9)


def test_a_calendar_given_after_the_fit_does_not_move_the_features() -> None:
    """Review: the global model is fitted without calendars (its trees learnt UTC days), and an
    ensemble champion then hands each member the service's calendar: its features moved five
    hours for New York, and a test forecast's error went from 0.5 to 7.2."""
    series = [synthetic_traffic(days=15, step_seconds=3600, seed=s) for s in range(2)]
    models = LightGBMGlobal.fit_many(series, horizon=24, rounds=40)
    before = models[0].update(series[0]).predict(24)["p50"].to_numpy()
    models[0].configure(calendar=Calendar(timezone="America/New_York")).update(series[0])
    np.testing.assert_array_equal(models[0].predict(24)["p50"].to_numpy(), before)


def test_a_cut_of_a_history_reads_days_on_the_clock_the_history_was_read_on() -> None:
    """A backtest fold fits on a cut of a history read on the clock of its last row (New York
    in November, -05:00). Its trees read the hours on the clock at the cut's end (-04:00 before
    the change), an hour off the rows, and, rolled on past the change, an hour off what they
    had learnt. On the history's clock they learn what a fit on the cut as read then does."""
    index = pd.date_range("2026-10-01", "2026-11-12", freq="15min", tz="UTC")
    history = afternoon_peaks(index, index - pd.Timedelta(hours=5))  # all on -05:00
    read_on = Calendar(timezone="America/New_York").on_clock_of(history.index[-1])
    cut = history[: pd.Timestamp("2026-10-29 12:00", tz="UTC")]
    then = cut.set_axis(cut.index - pd.Timedelta(hours=1))  # the cut read on -04:00
    forecasts = [
        LightGBM(rounds=30).configure(horizon=24, calendar=calendar).fit(part).predict(24)
        for part, calendar in ((cut, read_on), (then, Calendar(timezone="America/New_York")))
    ]
    np.testing.assert_array_equal(forecasts[0]["p50"], forecasts[1]["p50"])
