"""A plan's change points as a short list of scheduled floors, for autoscalers that take a schedule.

AWS caps scheduled actions per group (125 for EC2 Auto Scaling), and a plan at a 5-minute step
can change hundreds of times in two days. We cut the timeline into blocks of at least
``hold`` (aligned to the clock, so names stay the same from one run to the next) and keep the
largest floor of each block: never below what the plan asked, never more than ``limit`` points.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from forecaster.actuators.window import ChangePoint

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def value_at(points: Sequence[ChangePoint], moment: datetime) -> int:
    """The floor in force at ``moment`` (the last change point at or before it)."""
    current = points[0].replicas
    for point in points:
        if point.at > moment:
            break
        current = point.replicas
    return current


def peak(points: Sequence[ChangePoint], start: datetime, end: datetime) -> int:
    """The largest floor in force anywhere in ``[start, end)``."""
    inside = [p.replicas for p in points if start < p.at < end]
    return max([value_at(points, start), *inside])


def boundary(moment: datetime, block: timedelta) -> datetime:
    """The first block boundary strictly after ``moment`` (blocks are aligned to the epoch)."""
    blocks = (moment - EPOCH) // block
    return EPOCH + (blocks + 1) * block


def align_down(moment: datetime, block: timedelta) -> datetime:
    """The block boundary at or before ``moment``."""
    return EPOCH + ((moment - EPOCH) // block) * block


def coarsen(
    points: Sequence[ChangePoint],
    *,
    start: datetime,
    end: datetime,
    hold: timedelta,
    limit: int,
    initial: int | None = None,
) -> list[ChangePoint]:
    """At most ``limit`` change points over ``[start, end)``, each block's peak floor.

    ``initial`` is the floor already in force at ``start`` (no point is emitted to repeat it).
    Blocks double in length until the points fit.
    """
    if not points or start >= end or limit < 1:
        return []
    block = hold
    while True:
        result: list[ChangePoint] = []
        previous = initial
        moment = start
        while moment < end:
            edge = min(boundary(moment, block), end)
            value = peak(points, moment, edge)
            if value != previous:
                result.append(ChangePoint(moment, value))
                previous = value
            moment = edge
        if len(result) <= limit:
            return result
        block *= 2
