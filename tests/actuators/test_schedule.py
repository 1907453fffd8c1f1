"""Coarsening a plan's change points into a few scheduled floors, never below the plan."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from forecaster.actuators.schedule import coarsen, peak, value_at
from forecaster.actuators.window import ChangePoint

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
HOLD = timedelta(minutes=15)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


POINTS = [
    ChangePoint(at(0), 2),
    ChangePoint(at(20), 6),
    ChangePoint(at(25), 3),
    ChangePoint(at(70), 4),
]


def test_value_and_peak_follow_the_step_function() -> None:
    assert value_at(POINTS, at(10)) == 2 and value_at(POINTS, at(20)) == 6
    assert peak(POINTS, at(15), at(30)) == 6
    assert peak(POINTS, at(30), at(60)) == 3


def test_blocks_keep_the_peak_and_are_aligned_to_the_clock() -> None:
    result = coarsen(POINTS, start=at(0), end=at(120), hold=HOLD, limit=10, initial=2)
    assert result == [ChangePoint(at(15), 6), ChangePoint(at(30), 3), ChangePoint(at(60), 4)]
    for point in result:
        assert point.at.minute % 15 == 0


def test_limit_is_met_by_longer_blocks_never_by_dropping_peaks() -> None:
    wiggly = [ChangePoint(at(m), 2 + (m // 15) % 3) for m in range(0, 24 * 60, 15)]
    result = coarsen(wiggly, start=at(0), end=at(24 * 60), hold=HOLD, limit=5)
    assert len(result) <= 5
    for index, point in enumerate(result):
        end = result[index + 1].at if index + 1 < len(result) else at(24 * 60)
        assert point.replicas >= peak(wiggly, point.at, end)


def test_nothing_to_schedule() -> None:
    assert coarsen([], start=at(0), end=at(60), hold=HOLD, limit=5) == []
    assert coarsen(POINTS, start=at(60), end=at(60), hold=HOLD, limit=5) == []
