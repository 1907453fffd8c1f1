"""Inputs of a what-if simulation: inline points or a stored service's history, validated.

Called by ``POST /v1/simulations`` (and usable by any caller with a session): turns raw
``[timestamp, value]`` pairs or a service name into the load series the simulator replays, with
errors that name the bad point, so a request never reaches the simulator half-valid.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy.orm import Session

from forecaster.errors import InvalidInputError, PayloadTooLargeError, json_text
from forecaster.ingestion.batch import epoch_ms, numbers, point_checks
from forecaster.offline import SeriesFile, TimestampStyle, clock_shift
from forecaster.planning.replay import DEFAULT_TICK_SECONDS
from forecaster.profiles import ScalingProfile
from forecaster.storage.services import get_service, profile_of
from forecaster.timeutil import from_epoch_ms
from forecaster.training.service_data import load_history

MAX_POINTS = 200_000
MAX_SPAN_DAYS = 120.0


def points_file(points: list[tuple[Any, Any]] | list[list[Any]]) -> SeriesFile:
    """``[[timestamp, value], ...]`` (ISO-8601 or epoch seconds) read as the CLI reads a CSV of
    them: time-ordered points, and the UTC offsets they were written at (a daylight-saving
    change), so :meth:`SeriesFile.on_its_clock` finds the same zone for both."""
    if len(points) > MAX_POINTS:
        raise PayloadTooLargeError(f"{len(points)} points; a simulation takes at most {MAX_POINTS}")
    if len(points) < 2:
        raise InvalidInputError("points: a simulation needs at least two points")
    millis = epoch_ms([p[0] for p in points])
    values = numbers([p[1] for p in points])
    for bad, reason in point_checks(millis, values):
        if bad.any():
            first = int(np.flatnonzero(bad)[0])
            raise InvalidInputError(
                f"points: {int(bad.sum())} refused, first at index {first} "
                f"{json_text(list(points[first]))}: {reason}"
            )
    written = pd.Series([str(p[0]) for p in points])
    last = int(np.argmax(millis))
    shift, _ = clock_shift(written, last)
    rows = pd.DataFrame(
        {"value": values, "shift": 0 if shift is None else shift.to_numpy()},
        index=from_epoch_ms(millis),
    )
    if rows.index.has_duplicates:
        raise InvalidInputError("points: timestamps must be unique")
    rows = rows.sort_index()
    span = (rows.index[-1] - rows.index[0]).total_seconds() / 86_400
    if span > MAX_SPAN_DAYS:
        raise InvalidInputError(f"points span {span:.4g} days; at most {MAX_SPAN_DAYS:g}")
    return SeriesFile(
        points=rows["value"],
        style=TimestampStyle.of(written[last]),
        clock_shift=None if shift is None else rows["shift"],
    )


def service_history(
    *, session: Session, name: str, days: float
) -> tuple[pd.Series, ScalingProfile]:
    """The last ``days`` of a stored service's driving metric as it came (its own step,
    exclusions kept) and the service's own profile."""
    service = get_service(session=session, name=name)
    profile = profile_of(service)
    history = load_history(
        session=session,
        service=service,
        profile=profile,
        days=days,
        replay_tick_seconds=DEFAULT_TICK_SECONDS,
    )
    return history.dropna(), profile
