"""The replay grid (averaging, interpolation, gaps) and the learned peak-to-mean factor."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from forecaster.errors import InvalidInputError
from forecaster.planning.burst import peak_to_mean
from forecaster.planning.replay import step_means, to_ticks


def series(values: list[float], step: str, start: str = "2024-01-01") -> pd.Series:
    index = pd.date_range(start, periods=len(values), freq=step, tz="UTC")
    return pd.Series(values, index=index, dtype="float64")


def test_fine_traces_are_averaged_into_ticks() -> None:
    trace = to_ticks(series([1, 3, 5, 7, 9, 11], "5s"), tick_seconds=15)
    assert trace.load.tolist() == [3.0, 9.0]
    assert trace.source_step_seconds == 5


def test_coarse_traces_are_held_flat_over_their_steps() -> None:
    """No tick's load depends on a row stamped after it. Interpolated between step middles,
    the load climbed towards the 60 a quarter of a step before its row (7.5 and 22.5 at the
    ticks before it): every policy reacted to that row before its time."""
    trace = to_ticks(series([0, 60], "1min"), tick_seconds=15)
    assert trace.load.tolist() == [0, 0, 0, 0, 60, 60, 60, 60]
    # a step that is no whole number of ticks: the tick across its edge takes both shares
    trace = to_ticks(series([0, 60, 60, 0], "45s"), tick_seconds=30)
    assert trace.load.tolist() == pytest.approx([0, 30, 60, 60, 30, 0])


def test_gaps_replay_as_zero_load_and_are_counted() -> None:
    points = series([10] * 8, "15s")
    points = points.drop(points.index[3:6])
    trace = to_ticks(points, tick_seconds=15)
    assert trace.load.tolist() == [10, 10, 10, 0, 0, 0, 10, 10]
    assert trace.missing_ticks == 3


def test_a_trace_whose_step_changes_holds_each_row_over_its_own_step() -> None:
    """Retention leaves 5-minute rows before 1-minute ones: read on the 1-minute step alone,
    four minutes of every five replayed as outages (a third of QA's trace, silently)."""
    rolled = series([10, 20, 30] * 24, "5min", start="2024-01-01")
    raw = series([40] * 120, "1min", start="2024-01-01 06:00")
    trace = to_ticks(pd.concat([rolled, raw]), tick_seconds=15)
    assert trace.missing_ticks == 0
    assert len(trace.load) == (6 * 60 + 120) * 4
    assert trace.load[:20].tolist() == [10] * 20 and trace.load[20:40].tolist() == [20] * 20
    assert trace.load[-480:].tolist() == [40] * 480
    # finer than the tick too: 5-second rows, then 1-minute rows, on 15-second ticks
    trace = to_ticks(
        pd.concat([series([5] * 720, "5s"), series([8] * 60, "1min", start="2024-01-01 01:00")]),
        tick_seconds=15,
    )
    assert trace.missing_ticks == 0 and trace.load[-240:].tolist() == [8] * 240
    # rows missing among rows of one step still replay as an outage
    points = series([40] * 120, "1min")
    trace = to_ticks(points.drop(points.index[50:53]), tick_seconds=15)
    assert trace.missing_ticks == 3 * 4 and trace.load[200:212].tolist() == [0] * 12


def test_jittered_stamps_are_not_gaps() -> None:
    # 5-minute rows a few seconds either side of their marks: on a grid through the first row,
    # each row stamped earlier than that one fell into the step before, an empty step (outage)
    points = series([10] * 288, "5min")
    jitter = np.random.default_rng(0).normal(0, 3, len(points))
    points.index = points.index + pd.to_timedelta(jitter, unit="s")
    trace = to_ticks(points, tick_seconds=15)
    assert trace.missing_ticks == 0
    assert trace.load.min() == 10 and len(trace.load) == 288 * 20
    assert trace.start == pd.Timestamp("2024-01-01", tz="UTC")


def test_bad_traces_are_refused() -> None:
    with pytest.raises(InvalidInputError, match="at least two points"):
        to_ticks(series([1], "1min"))
    with pytest.raises(InvalidInputError, match="not negative"):
        to_ticks(series([1, -1], "1min"))
    # two points 100 days apart replayed 100 days after the last (found by a QA pass)
    with pytest.raises(InvalidInputError, match="100 days apart: a replay needs a row a day"):
        to_ticks(series([1, 50], "100D"))
    assert len(to_ticks(series([1, 50], "1D"), tick_seconds=30).load) == 2 * 2880


def test_step_means_for_the_forecaster() -> None:
    trace = to_ticks(series([2, 4, 6, 8, 10], "15s"), tick_seconds=15)
    means = step_means(trace, 30)
    assert means.tolist() == [3.0, 7.0]  # the trailing half step is left out
    with pytest.raises(InvalidInputError, match="whole number"):
        step_means(trace, 20)


def test_peak_to_mean_finds_the_thirty_second_burst() -> None:
    # per 5 minutes: 270 s at 10, then 30 s at 30 -> mean 12, busiest 30 s at 30: ratio 2.5
    block = [10.0] * 270 + [30.0] * 30
    points = series(block * 12, "1s")
    assert peak_to_mean(points, step_seconds=300) == pytest.approx(2.5)
    flat = series([10.0] * 3600, "1s")
    assert peak_to_mean(flat, step_seconds=300) == pytest.approx(1.0)


def test_peak_to_mean_needs_finer_data() -> None:
    rng = np.random.default_rng(0)
    coarse = series(list(rng.uniform(1, 100, 50)), "5min")
    assert peak_to_mean(coarse, step_seconds=300) == 1.0
