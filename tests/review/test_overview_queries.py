"""The overview reads every service's rows together: its queries do not grow with the fleet.

Read service by service it took ~19 queries a service, thousands a page load for hundreds of
services (each a round trip on PostgreSQL).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import event

from forecaster.review.overview import summarize_services
from forecaster.settings import Settings
from forecaster.storage import chunks
from forecaster.storage.db import Database
from forecaster.storage.services import get_service
from forecaster.timeutil import utc_now
from tests.actuators.factories import hours, make_service, record_push, store_plan
from tests.helpers import ending_now, store_points


def _add_services(database: Database, settings: Settings, first: int, count: int) -> None:
    """Services with samples, a forecast covering their recent load, a plan and a push each."""
    for number in range(first, first + count):
        name = f"svc-{number}"
        target = {
            "kind": "kubernetes-hpa",
            "name": name,
            "config": {"namespace": "ml", "name": name},
        }
        make_service(database, name=name, targets=[target])
        steps = pd.date_range(end="2024-01-01", periods=36, freq="5min", tz="UTC")
        store_points(database, settings, name, ending_now(pd.Series(np.full(36, 8.0), steps)))
        store_plan(database, name=name, replicas=[2] * 24, data_until=utc_now() - hours(1))
        with database.session() as session:
            service_id = get_service(session=session, name=name).id
            record_push(session, service_id, outcome="failed", target=name, error="refused")


@contextmanager
def _counting(database: Database) -> Iterator[list[str]]:
    statements: list[str] = []

    def count(*args: object) -> None:
        statements.append(str(args[2]))

    event.listen(database.engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        event.remove(database.engine, "before_cursor_execute", count)


def _overview_queries(database: Database) -> int:
    with database.session() as session, _counting(database) as statements:
        summaries = summarize_services(session=session, now=utc_now())
    assert all(summary.plan is not None and summary.band for summary in summaries)
    assert all(summary.warnings for summary in summaries)  # the failed push
    return len(statements)


def test_the_overview_reads_all_services_in_the_same_few_queries(
    database: Database, settings: Settings
) -> None:
    _add_services(database, settings, 0, 2)
    two = _overview_queries(database)
    _add_services(database, settings, 2, 4)
    assert _overview_queries(database) == two <= 20


def test_a_fleet_past_one_chunk_reads_alike_in_one_query_more_a_chunk(
    database: Database, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    _add_services(database, settings, 0, 5)
    now = utc_now()
    with database.session() as session:
        with _counting(database) as whole:
            in_one = summarize_services(session=session, now=now)
        monkeypatch.setattr(chunks, "CHUNK", 2)
        monkeypatch.setattr(chunks, "ID_CHUNK", 2)
        with _counting(database) as chunked:
            in_chunks = summarize_services(session=session, now=now)

    assert in_chunks == in_one
    # the thirteen reads with a term per forecast, plan or service, or an IN list of ids (the
    # two of bucketed loads, five services of one series sharing a window; the series, plans,
    # last actuations, champions and forecasts by id; the factory's plans name no forecast, so
    # those are not read): five in three
    assert len(chunked) == len(whole) + 13 * 2
