"""Regularising raw points onto the model grid keeps every point, even over years."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from forecaster.timeutil import spoken_duration
from forecaster.training.history import (
    exclude_windows,
    held_on_grid,
    infer_step_seconds,
    regularise,
    without_idle_start,
    without_outages,
    without_stray_start,
)
from models.calendar import EventWindow
from tests.helpers import synthetic_traffic


def test_a_long_history_keeps_its_last_point() -> None:
    index = pd.date_range("2011-12-31 13:00", periods=52_608, freq="30min", tz="UTC")
    points = pd.Series(np.arange(len(index), dtype="float64"), index=index)
    history = regularise(points, 1800.0)
    assert len(history) == len(points)
    assert history.index[-1] == index[-1]
    assert history.iloc[-1] == len(index) - 1


def test_gaps_stay_missing_and_buckets_average() -> None:
    index = pd.DatetimeIndex(["2024-01-01 00:00", "2024-01-01 00:02", "2024-01-01 00:10"], tz="UTC")
    history = regularise(pd.Series([1.0, 3.0, 5.0], index=index), 300.0)
    assert history.tolist()[0] == 2.0 and np.isnan(history.iloc[1]) and history.iloc[2] == 5.0


def test_excluded_windows_are_blanked() -> None:
    index = pd.date_range("2024-01-01", periods=6, freq="h", tz="UTC")
    history = pd.Series(np.ones(6), index=index)
    cleaned = exclude_windows(history, [(index[2].to_pydatetime(), index[4].to_pydatetime())])
    assert cleaned.isna().tolist() == [False, False, True, True, False, False]
    # a window off the hour blanks every hour it touches (each hour's mean holds some of it)
    half = pd.Timedelta(minutes=30)
    cleaned = exclude_windows(history, [(index[2] + half, index[4] + half)])
    assert cleaned.isna().tolist() == [False, False, True, True, True, False]
    inside = exclude_windows(history, [(index[1] + pd.Timedelta(minutes=10), index[1] + half)])
    assert inside.isna().tolist() == [False, True, False, False, False, False]


def test_an_event_covers_every_step_it_overlaps() -> None:
    """On an hourly profile an event from 12:30 to 14:30 got no capacity for its first half
    hour, and one from 12:10 to 12:50 none at all (steps counted only when they started in it)."""
    index = pd.date_range("2024-01-01 10:00", periods=6, freq="h", tz="UTC")
    at = pd.Timestamp("2024-01-01", tz="UTC")

    def covered(start: str, end: str) -> list[int]:
        window = EventWindow("promo", at + pd.Timedelta(start), at + pd.Timedelta(end), 3.0)
        return [int(hour) for hour in index.hour[window.mask(index)]]

    assert covered("12h", "14h") == [12, 13]
    assert covered("12h30min", "14h30min") == [12, 13, 14]
    assert covered("12h10min", "12h50min") == [12]
    irregular = index.delete(3)  # no frequency: the usual spacing stands in
    assert [
        int(h)
        for h in irregular.hour[
            EventWindow("x", at + pd.Timedelta("12h30min"), at + pd.Timedelta("12h40min")).mask(
                irregular
            )
        ]
    ] == [12]


def test_scrape_jitter_keeps_the_step_and_one_point_per_step() -> None:
    grid = pd.date_range("2024-03-17 12:05", periods=500, freq="5min", tz="UTC")
    jitter = np.random.default_rng(4).uniform(-0.9, 0.9, len(grid))  # seconds, both ways
    index = grid + pd.to_timedelta(jitter, unit="s")
    step = infer_step_seconds(index)
    assert step == 300.0
    history = regularise(pd.Series(np.arange(len(grid), dtype="float64"), index=index), step)
    assert len(history) == len(grid) and history.notna().all()
    assert history.tolist() == list(range(len(grid)))  # each point in its own step


def test_jittered_rows_count_for_their_own_minute_on_a_coarser_grid() -> None:
    """QA: 1-minute rows jittered by up to 3 s, put on a 5-minute grid from epoch: the row of
    the 18:00 minute stamped 17:59:57 was averaged into 17:55, which read 82 where every
    minute of it had been 100 (a plan row one replica short)."""
    minutes = pd.date_range("2024-03-03 17:00", "2024-03-03 19:00", freq="1min", tz="UTC")
    jitter = np.random.default_rng(7).uniform(-3, 3, len(minutes))
    jitter[60] = -3.0  # the 18:00 minute's row at 17:59:57
    load = np.where(minutes < pd.Timestamp("2024-03-03 18:00", tz="UTC"), 100.0, 10.0)
    points = pd.Series(load, index=minutes + pd.to_timedelta(jitter, unit="s"))
    history = regularise(points, 300, anchor=pd.Timestamp(0, tz="UTC"))
    assert history[:"2024-03-03 17:55"].eq(100.0).all()
    assert history["2024-03-03 18:00":].eq(10.0).all()
    # points already on the coarse grid (a roll-up of old raw points) stay in their bucket
    rolled = pd.Series(
        [5.0, 7.0], index=pd.DatetimeIndex(["2024-03-03 16:50", "2024-03-03 16:55"], tz="UTC")
    )
    both = regularise(pd.concat([rolled, points]), 300, anchor=pd.Timestamp(0, tz="UTC"))
    assert both[:"2024-03-03 16:55"].tolist() == [5.0, 7.0]
    # a step that does not divide the grid's keeps its points where they are: 11:00 of a
    # 7-minute series is in the 11:00 hour, though the nearest 7-minute mark from epoch is 10:57
    odd = pd.date_range("2024-03-03 11:00", periods=8, freq="7min", tz="UTC")
    hourly = regularise(
        pd.Series(np.arange(8.0), index=odd), 3600, anchor=pd.Timestamp(0, tz="UTC")
    )
    assert hourly.index[0] == odd[0] and hourly.tolist() == [3.5]


@pytest.mark.parametrize(
    ("freq", "periods", "spread"),
    [("5min", 864, (-60, 60)), ("1h", 24, (0, 59)), ("1D", 15, (0, 600))],
)
def test_wide_jitter_keeps_the_nominal_step(
    freq: str, periods: int, spread: tuple[float, float]
) -> None:
    # rows a minute either side of 5-minute marks, or stamped anywhere in their hour's first
    # minute: the median gap came out a second or more off (301 s, 3597 s), a drifting grid
    grid = pd.date_range("2024-03-01", periods=periods, freq=freq, tz="UTC")
    misses = 0
    for seed in range(20):
        jitter = np.random.default_rng(seed).uniform(*spread, len(grid))
        index = grid + pd.to_timedelta(jitter, unit="s")
        misses += infer_step_seconds(index) != pd.Timedelta(freq).total_seconds()
    assert misses == 0


@pytest.mark.parametrize(
    ("values", "kept_from"),
    [
        ([1, None, None, None, 2, 3, 4, 5], 4),  # one row, then a longer gap: stray
        ([None, None, 1, 2], 2),  # leading steps without values
        ([1, 2, 3, None, None, 4, 5], 0),  # an outage shorter than what came before it
        ([1, None, 2, None, 3], 0),  # sparse, but no gap outweighs the rows before it
        ([1, 2, None, None, None, 3] + [None] * 6 + [4, 5], 12),  # the last stray gap counts
        ([1, 2, None, None, None, None], 0),  # a gap up to the end is kept as it is
    ],
)
def test_without_stray_start_drops_only_rows_outweighed_by_the_gap_after_them(
    values: list[float | None], kept_from: int
) -> None:
    index = pd.date_range("2024-01-01", periods=len(values), freq="h", tz="UTC")
    history = pd.Series([np.nan if v is None else v for v in values], index=index, dtype=float)
    kept = without_stray_start(history)
    pd.testing.assert_series_equal(kept, history.iloc[kept_from:])


@pytest.mark.parametrize(
    ("idle_hours", "live_hours", "kept_from"),
    [
        (120, 48, 120),  # five days of zeros before two live days: the service was not up
        (36, 24, 36),  # a day and a half of zeros, then a day
        (12, 6, 0),  # zeros for under a day: a quiet night, kept
        (48, 200, 0),  # a zero weekend before a longer history: kept
        (48, 0, 0),  # nothing but zeros: kept (a degenerate series, said so later)
    ],
)
def test_without_idle_start_drops_days_of_zeros_before_a_service_went_live(
    idle_hours: int, live_hours: int, kept_from: int
) -> None:
    values = [0.0] * idle_hours + [5.0 + h % 3 for h in range(live_hours)]
    values[idle_hours // 2] = np.nan  # a gap among the zeros is part of them
    index = pd.date_range("2024-01-01", periods=len(values), freq="h", tz="UTC")
    history = pd.Series(values, index=index, dtype=float)
    kept, note = without_idle_start(history)
    pd.testing.assert_series_equal(kept, history.iloc[kept_from:])
    # said, or a fallback's "only 1 observed point" on a file of thousands reads as a misreading
    expected = f"the {spoken_duration(kept_from * 3600)} of zeros or missing values before"
    expected = expected if kept_from else ""
    assert note.startswith(expected) and bool(note) == bool(kept_from)


def _ending_in_zeros(hours: float, *, days: float = 8, noise: float = 0.05) -> pd.Series:
    """Synthetic 5-minute load (never zero) whose last ``hours`` are zeros."""
    history = synthetic_traffic(days=days, step_seconds=300, noise=noise, seed=4)
    zeros = round(hours * 12)
    if zeros:
        history.iloc[-zeros:] = 0.0
    return history


@pytest.mark.parametrize("hours", [5 / 60, 0.25, 2, 6, 12])
def test_a_short_trailing_run_of_zeros_in_a_zero_free_series_is_an_outage(hours: float) -> None:
    history = _ending_in_zeros(hours)
    cleaned, note = without_outages(history)
    run = round(hours * 12)
    assert cleaned.iloc[-run:].isna().all()
    pd.testing.assert_series_equal(cleaned.iloc[:-run], history.iloc[:-run])
    assert "outage" in note


def _no_outage(history: pd.Series) -> None:
    cleaned, note = without_outages(history)
    assert cleaned is history and note == ""


@pytest.mark.parametrize("hours", [12.5, 24, 72])
def test_zeros_for_longer_than_half_a_day_are_real(hours: float) -> None:
    _no_outage(_ending_in_zeros(hours))


def test_a_series_with_zeros_of_its_own_keeps_its_trailing_zeros() -> None:
    """Sparse counts (a Poisson of mean 1 is zero a third of the time), as the per-second
    Azure traces are: their zeros are load."""
    history = _ending_in_zeros(0)
    counts = np.random.default_rng(2).poisson(history.to_numpy() / 100)
    history = pd.Series(counts.astype(float), index=history.index)
    history.iloc[-6:] = 0.0
    _no_outage(history)


def test_a_run_no_longer_than_one_of_the_week_before_is_load() -> None:
    history = _ending_in_zeros(0.25)
    history.iloc[-2 * 288 : -2 * 288 + 3] = 0.0  # three zero steps two days ago: 0.15 %
    cleaned, note = without_outages(history)
    assert (cleaned.iloc[-3:] == 0.0).all() and note == ""  # (those three: an outage inside)
    history.iloc[-4] = 0.0  # four trailing zeros: longer than any before
    assert without_outages(history)[0].iloc[-4:].isna().all()


@pytest.mark.parametrize(
    "history",
    [
        _ending_in_zeros(0),  # ends on a normal value
        _ending_in_zeros(2, days=0.5),  # under a day to compare with
        pd.Series(0.0, index=pd.date_range("2024-01-01", periods=600, freq="5min", tz="UTC")),
    ],
)
def test_no_outage_without_an_abnormal_trailing_run(history: pd.Series) -> None:
    _no_outage(history)


def test_the_outage_rule_reads_no_later_values() -> None:
    """At every step of a two-hour outage, the rule blanks exactly the zeros so far, whatever
    comes after (the outage going on, or traffic back), and never an earlier value: a backtest
    origin before the run sees the series as it was, and the note names a run still going on."""
    history = _ending_in_zeros(0)
    history.iloc[-36:-12] = 0.0  # two hours of zeros, then an hour of traffic
    start = len(history) - 36
    back = len(history) - 12  # the first step with traffic again
    for end in range(start - 3, len(history) + 1):
        cut = history.iloc[:end]
        cleaned, note = without_outages(cut)
        blank = min(max(0, end - start), back - start)  # the zeros so far
        assert cleaned.isna().sum() == blank
        assert ("outage" in note) == (start < end <= back)
        pd.testing.assert_series_equal(cleaned.iloc[:start], cut.iloc[:start])
        pd.testing.assert_series_equal(cleaned.iloc[back:], cut.iloc[back:])


def _with_zeros(start: int, length: int) -> pd.Series:
    """Synthetic 5-minute load over 10 days (never zero), zeros at ``start:start + length``."""
    history = synthetic_traffic(days=10, step_seconds=300, seed=4)
    history.iloc[start : (start + length) or None] = 0.0
    return history


@pytest.mark.parametrize("hours", [0.25, 2, 24, 7 * 24])
def test_zeros_the_series_came_back_from_are_an_outage(hours: float) -> None:
    length = round(hours * 12)
    history = _with_zeros(-length - 12, length)  # an hour of traffic back at the end
    cleaned, _ = without_outages(history)
    blanked = cleaned.isna() & history.notna()
    assert blanked.sum() == length and (history[blanked] == 0.0).all()
    pd.testing.assert_series_equal(cleaned[~blanked], history[~blanked])


@pytest.mark.parametrize(
    "history",
    [
        _with_zeros(-12 - 7 * 288 - 1, 7 * 288 + 1),  # over a week: the service was gone
        _with_zeros(200, 24),  # under a day observed before it: nothing to compare with
        _with_zeros(-13 * 12, 13 * 12),  # going on for over half a day: traffic moved away
    ],
)
def test_zeros_that_are_not_an_outage_stay(history: pd.Series) -> None:
    assert without_outages(history)[0] is history


def test_a_series_with_zeros_of_its_own_keeps_them_inside() -> None:
    history = _with_zeros(0, 0)
    counts = np.random.default_rng(2).poisson(history.to_numpy() / 100)
    history = pd.Series(counts.astype(float), index=history.index)
    history.iloc[-200:-100] = 0.0
    assert without_outages(history)[0] is history


def test_an_outage_read_as_missing_stays_missing_once_traffic_is_back() -> None:
    """While it lasts the trailing rule blanks it; the next step with traffic had turned it
    back into eight hours of load for every model to learn (and Prophet to follow)."""
    history = _with_zeros(-97, 96)
    during, _ = without_outages(history.iloc[:-1])
    after, _ = without_outages(history)
    pd.testing.assert_series_equal(after.iloc[:-1], during)


def test_a_run_inside_no_longer_than_one_of_the_week_before_is_load() -> None:
    history = _with_zeros(-1000, 3)
    history.iloc[-300:-297] = 0.0
    cleaned, _ = without_outages(history)
    assert cleaned.iloc[-1000:-997].isna().all()  # the first: an outage
    assert (cleaned.iloc[-300:-297] == 0.0).all()  # as long as one two days before: load


def test_missing_steps_among_the_zeros_are_part_of_one_outage() -> None:
    """A scrape gap inside an outage does not split it into two runs, the second of which
    would be compared with the first (as long: load)."""
    history = _with_zeros(-200, 100)
    history.iloc[-150:-140] = np.nan
    cleaned, note = without_outages(history)
    assert cleaned.iloc[-200:-100].isna().all() and note == ""
    pd.testing.assert_series_equal(cleaned.iloc[:-200], history.iloc[:-200])


@pytest.mark.parametrize("ending", [np.nan, 0.0])
def test_a_trailing_outage_counts_its_missing_steps_toward_half_a_day(ending: float) -> None:
    """Eleven hours of zeros then two missing hours: 13 hours down, too long to be an outage
    still going on (traffic may have moved away), whatever the last step holds."""
    history = _ending_in_zeros(13)
    history.iloc[-24:] = np.nan
    history.iloc[-1] = ending
    assert without_outages(history)[0] is history
    assert without_outages(history.iloc[:-24])[0].iloc[-11 * 12 :].isna().all()


def test_rolled_up_points_are_held_over_their_step_on_a_finer_grid() -> None:
    """A replay reads a service on its samples' own step: 5-minute points retention rolled up,
    then raw 1-minute ones. Each rolled-up point stands for its five minutes, not one of
    them followed by four read as an outage; the last raw point is not stretched."""
    old = pd.date_range("2024-01-01 00:00", periods=12, freq="5min", tz="UTC")
    raw = pd.date_range("2024-01-01 01:00", periods=120, freq="1min", tz="UTC")
    points = pd.Series(np.r_[np.full(12, 50.0), np.full(120, 80.0)], index=old.append(raw))
    grid = held_on_grid(points, 60, pd.Timestamp(0, tz="UTC"), least_hold_seconds=300)
    assert grid.notna().all()
    assert (grid[:"2024-01-01 00:59"] == 50.0).all() and len(grid[:"2024-01-01 00:59"]) == 60
    assert grid.index[-1] == raw[-1]
    assert held_on_grid(points, 60, pd.Timestamp(0, tz="UTC")).isna().sum() == 48
