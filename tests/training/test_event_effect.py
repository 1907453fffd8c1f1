"""Events declared without a multiplier are read at the level their past windows ran at.

Found in review: only Prophet learns such an event; every other champion trained with its
windows blanked and forecast the next window of a monthly sale as ordinary load (a third of it).
"""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd

from forecaster.profiles import ScalingProfile
from forecaster.training.event_effect import with_learned_events, with_past_windows_as_they_ran
from forecaster.training.forecasting import make_forecast
from forecaster.training.train import _champion_forecast
from models.calendar import Calendar, EventWindow
from tests.helpers import synthetic_traffic

SALE = 3.0
START = "2024-01-01"


def _window(day: str, name: str = "sale", multiplier: float | None = None) -> EventWindow:
    start = pd.Timestamp(f"{day} 10:00", tz="UTC")
    return EventWindow(name, start, start + pd.Timedelta(hours=4), multiplier)


# two past sales, the third after the history's end
SALES = (_window("2024-01-10"), _window("2024-01-24"), _window("2024-01-29"))


def _traffic(days: float = 28) -> pd.Series:
    series = synthetic_traffic(days, 300, seed=3, start=START)
    index = pd.DatetimeIndex(series.index)
    during = np.zeros(len(index), dtype=bool)
    for event in SALES:
        during |= event.mask(index)
    return series * np.where(during, SALE, 1.0)


def test_every_window_of_an_event_gets_the_level_its_past_windows_ran_at() -> None:
    calendar, note = with_learned_events(_traffic(), Calendar(events=SALES))
    levels = [event.multiplier for event in calendar.events]
    assert all(level is not None and abs(level - SALE) < 0.3 for level in levels), levels
    assert "events read at the level their past windows ran at: sale 3x (2 windows)" in note


def test_events_the_history_cannot_measure_or_that_change_nothing_are_left_alone() -> None:
    history = _traffic()
    ahead = Calendar(events=(_window("2024-02-05", "launch"),))  # no past window
    assert with_learned_events(history, ahead) == (ahead, "")
    quiet = Calendar(events=(_window("2024-01-16", "meeting"), _window("2024-01-30", "meeting")))
    assert with_learned_events(history, quiet) == (quiet, "")  # ran as usual
    declared = Calendar(events=(_window("2024-01-10", "sale", 2.0), _window("2024-01-29", "sale")))
    kept, _ = with_learned_events(history, declared)
    assert kept.events[0].multiplier == 2.0  # a declared multiplier is the user's word


def test_a_model_that_learns_no_events_forecasts_the_next_window_at_their_level() -> None:
    history = _traffic()
    history = history[history.index < pd.Timestamp("2024-01-29", tz="UTC")]
    outcome = make_forecast(history, 288, model="mstl", calendar=Calendar(events=SALES))
    index = pd.DatetimeIndex(outcome.frame.index)
    during = SALES[-1].mask(index)
    # against the same hours the day before, which were ordinary
    before = make_forecast(history, 288, model="mstl").frame["p50"][during].mean()
    ratio = outcome.frame["p50"][during].mean() / before
    assert 2.4 < ratio < 3.6, ratio  # it was 1.0: an ordinary day
    assert "sale 3x (2 windows)" in outcome.message


def test_the_refresh_keeps_the_levels_training_read() -> None:
    history = _traffic()
    history = history[history.index < pd.Timestamp("2024-01-29", tz="UTC")]
    calendar = Calendar(events=SALES)
    trained = make_forecast(history, 288, model="mstl", calendar=calendar)
    profile = ScalingProfile(capacity_per_replica=10, step_seconds=300, horizon_hours=24)
    refreshed, _ = _champion_forecast(pickle.dumps(trained.fitted), calendar, history, profile)
    np.testing.assert_allclose(refreshed["p50"], trained.frame["p50"], rtol=0.03)


def test_past_windows_before_a_clock_change_are_read_where_their_rows_were_moved() -> None:
    """Training reads a profile's ``timezone`` history on its latest clock, moving rows from
    before a daylight-saving change by an hour; the UTC event windows were left where they
    were, so a 3x sale before New York's autumn change read as 2.6x and the coming one was
    forecast about 15 % low."""

    def ordinary(index: pd.DatetimeIndex) -> np.ndarray:
        local_hour = index.tz_convert("America/New_York").hour.to_numpy()
        return 100 * (1 + 0.5 * np.sin(2 * np.pi * (local_hour - 8) / 24))

    index = pd.date_range(end="2024-12-06 15:00", periods=60 * 24, freq="h", tz="UTC")
    sales = tuple(
        EventWindow("sale", start, start + pd.Timedelta(hours=4))
        for start in pd.to_datetime(
            ["2024-10-16 14:00", "2024-10-23 14:00", "2024-12-07 14:00"], utc=True
        )
    )
    during = np.zeros(len(index), dtype=bool)
    for event in sales[:2]:  # both before the change of 2024-11-03
        during |= event.mask(index)
    history = pd.Series(ordinary(index) * np.where(during, SALE, 1.0), index=index)
    calendar = Calendar(events=sales, timezone="America/New_York")
    outcome = make_forecast(history, 36, model="seasonal_naive_daily", calendar=calendar)
    assert "sale 3x (2 windows)" in outcome.message, outcome.message
    ahead = pd.DatetimeIndex(outcome.frame.index)
    inside = sales[2].mask(ahead)
    ratio = outcome.frame["p50"].to_numpy()[inside] / ordinary(ahead)[inside]
    assert inside.sum() == 4 and np.allclose(ratio, SALE, rtol=0.05), ratio
    profile = ScalingProfile(
        capacity_per_replica=10, step_seconds=3600, horizon_hours=36, timezone="America/New_York"
    )
    refreshed, _ = _champion_forecast(pickle.dumps(outcome.fitted), calendar, history, profile)
    np.testing.assert_allclose(refreshed["p50"], outcome.frame["p50"], rtol=0.03)


def test_an_event_running_across_a_clock_change_keeps_its_end() -> None:
    """Only the edges before the history's end move: the whole window moved by its start's
    offset, so a sale begun before New York's spring change ended an hour early ahead."""
    sale = EventWindow(
        "sale",
        pd.Timestamp("2026-03-01 05:00", tz="UTC"),  # midnight EST
        pd.Timestamp("2026-03-20 04:00", tz="UTC"),  # midnight EDT, ahead of the history
        SALE,
    )
    calendar = Calendar(events=(sale,), timezone="America/New_York")
    moved = calendar.on_clock_of(pd.Timestamp("2026-03-12 12:00", tz="UTC")).events[0]
    assert moved.start == sale.start - pd.Timedelta(hours=1)  # its rows moved an hour back
    assert moved.end == sale.end
    assert Calendar(events=(sale,)).on_clock_of(pd.Timestamp("2026-03-12", tz="UTC")).events == (
        sale,
    )


def test_an_ended_window_that_ran_far_off_its_declared_multiplier_is_taken_as_it_ran() -> None:
    """QA: the history is divided by a window's multiplier, so a maintenance declared at 0.01
    that was called off (the hour ran as usual) became a 100x spike in what the models learn,
    and the plan went to max_replicas. A window that ran as declared keeps the user's word, and
    an ongoing or future one keeps it too."""
    history = _traffic()  # the sales ran at 3x; nothing else did
    called_off = _window("2024-01-16", "maintenance", 0.01)
    ongoing = EventWindow(
        "maintenance", history.index[-3], history.index[-1] + pd.Timedelta(hours=2), 0.01
    )
    declared = (_window("2024-01-10", "sale", SALE), called_off, ongoing)
    calendar, note = with_past_windows_as_they_ran(history, Calendar(events=declared))
    sale, maintenance, still = calendar.events
    assert sale.multiplier == SALE and still.multiplier == 0.01
    assert maintenance.multiplier is not None and 0.8 < maintenance.multiplier < 1.25
    assert "maintenance 2024-01-16 10:00 ran at 1x, not the declared 0.01x" in note
    past = history[history.index < pd.Timestamp("2024-01-29", tz="UTC")]
    plain = make_forecast(past, 288, model="holt_winters").frame["p95"].max()
    with_event = make_forecast(
        past, 288, model="holt_winters", calendar=Calendar(events=(called_off,))
    )
    assert with_event.frame["p95"].max() < 1.5 * plain
    assert "not the declared 0.01x" in with_event.message
