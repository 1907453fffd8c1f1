"""Bucketed loads of many windows read per shared grid, with its figures written into the query.

A ``CASE`` of a term per series for each window's start, width and shift made PostgreSQL test
thousands of terms per point: the overview of 400 services of 30 pods ran past 250 s.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import pandas as pd
from sqlalchemy import event

from forecaster.profiles import ScalingProfile
from forecaster.storage.db import Database
from forecaster.storage.samples import (
    BUCKET_COLUMNS,
    BucketWindow,
    bucketed_samples_of,
    ensure_series,
    write_samples,
)
from forecaster.storage.services import upsert_service

MINUTE = 60_000
END = 1_796_000_000_000 // (15 * MINUTE) * (15 * MINUTE)  # on every bucket's grid


@contextmanager
def _statements(database: Database) -> Iterator[list[str]]:
    statements: list[str] = []

    def keep(*args: object) -> None:
        statements.append(str(args[2]))

    event.listen(database.engine, "before_cursor_execute", keep)
    try:
        yield statements
    finally:
        event.remove(database.engine, "before_cursor_execute", keep)


def _pods(database: Database, count: int) -> tuple[list[int], dict[int, pd.DataFrame]]:
    """Series of a point every minute, 40 s past it, over the last two hours; their points."""
    with database.session() as session:
        service, _ = upsert_service(
            session=session, name="chat", profile=ScalingProfile(capacity_per_replica=10)
        )
        keys = [(service.id, "rps", {"pod": str(pod)}, None) for pod in range(count)]
        ids = list(ensure_series(session=session, keys=keys).values())
    rng = np.random.default_rng(7)
    stamps = END - 120 * MINUTE + np.arange(120) * MINUTE + 40_000
    points = {one: pd.DataFrame({"ts": stamps, "value": rng.uniform(0, 9, 120)}) for one in ids}
    with database.session() as session:
        for one, frame in points.items():
            write_samples(
                session=session,
                series_id=np.full(len(frame), one),
                ts_ms=frame["ts"].to_numpy(),
                value=frame["value"].to_numpy(),
            )
    return ids, points


def _expected(points: dict[int, pd.DataFrame], window: BucketWindow) -> pd.Series:
    """Per bucket start, the window's per-series means summed (each point moved ahead first)."""
    means = []
    for one in window.series_ids:
        frame = points[one][points[one]["ts"] < window.end_ms]
        moved = frame["ts"] + (window.early_ms or {}).get(one, 0)
        bucket = (moved - window.start_ms) // window.bucket_ms
        inside = (bucket >= 0) & (window.start_ms + bucket * window.bucket_ms < window.end_ms)
        means.append(frame["value"][inside].groupby(bucket[inside]).mean())
    summed = pd.concat(means, axis=1).sum(axis=1).sort_index()
    summed.index = window.start_ms + summed.index * window.bucket_ms
    return summed


def test_windows_of_other_spans_steps_and_shifts_read_a_query_per_grid_without_case(
    database: Database,
) -> None:
    (a, b, c, d), points = _pods(database, 4)
    two_hours = {"start_ms": END - 120 * MINUTE, "end_ms": END, "bucket_ms": 5 * MINUTE}
    windows = {
        "shifted": BucketWindow([a, b], **two_hours, early_ms={b: 30_000}),
        "wider": BucketWindow([c], start_ms=END - 90 * MINUTE, end_ms=END, bucket_ms=15 * MINUTE),
        "plain": BucketWindow([d], **two_hours),
    }
    with database.session() as session, _statements(database) as statements:
        together = bucketed_samples_of(session=session, windows=windows)

    # grids: two hours by 5 min unmoved (a, d) and moved 30 s (b), 90 min by 15 min (c)
    assert len(statements) == 3
    assert not any("CASE" in statement.upper() for statement in statements)
    for key, window in windows.items():
        with database.session() as session:
            alone = bucketed_samples_of(session=session, windows={key: window})[key]
        for column in BUCKET_COLUMNS:
            np.testing.assert_array_equal(getattr(together[key], column), getattr(alone, column))
        expected = _expected(points, window)
        np.testing.assert_array_equal(together[key].bucket_ms, expected.index)
        np.testing.assert_allclose(together[key].mean, expected.to_numpy())
