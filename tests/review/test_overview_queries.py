"""The overview reads every service's rows together: its queries do not grow with the fleet.

Read service by service it took ~19 queries a service, thousands a page load for hundreds of
services (each a round trip on PostgreSQL).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, replace

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import event

from forecaster.errors import NotReadyError
from forecaster.review.overview import (
    ServiceSummary,
    failed_jobs,
    summarize_service,
    summarize_services,
)
from forecaster.settings import Settings
from forecaster.storage import chunks
from forecaster.storage.db import Database
from forecaster.storage.orm import Service
from forecaster.storage.services import get_service, list_services, profile_of
from forecaster.timeutil import utc_now
from scripts.bench_overview import KINDS, NOW, seed
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


def _readable(service: Service) -> bool:
    """Whether the service's stored profile validates (the fleet holds one that does not)."""
    try:
        profile_of(service)
    except NotReadyError:
        return False
    return True


def test_each_service_of_a_varied_fleet_reads_alike_alone_and_with_the_fleet(
    database: Database,
) -> None:
    """The fleet's rows are read as numbers and cut per service in one pass (sample buckets,
    forecast points): each summary is the one its service's rows read alone make, on the
    benchmark's fleet (label sets summed and lagging, gaps, silent, hourly and 1-minute
    services, forecasts run out or carrying a risk quantile, load out of the band, plans in
    force, run out or too old, failed pushes and jobs)."""
    seed(database, 2 * KINDS)
    with database.session() as session:
        together = {one.name: one for one in summarize_services(session=session, now=NOW)}
        failures = failed_jobs(session=session, now=NOW)
        alone = [
            summarize_service(
                session=session,
                service=service,
                now=NOW,
                last_actuation=together[service.name].last_actuation,
                failures=failures.get(service.name, []),
            )
            for service in list_services(session=session)
            if _readable(service)
        ]

    assert len(alone) == 2 * (KINDS - 1)  # all but the unreadable profiles
    assert sum(bool(one.band and one.band.left_band) for one in alone) >= 2
    assert sum(len(one.sparkline.p50) > 0 for one in alone) >= 2 * (KINDS - 3)
    for summary in alone:
        grouped = together[summary.name]
        if database.engine.dialect.name == "sqlite":
            assert summary == grouped
        # PostgreSQL's avg may add a bucket's points in another order alone (another plan)
        mine, theirs = _leaves(summary), _leaves(grouped)
        assert [one for one in mine if not isinstance(one, float)] == [
            one for one in theirs if not isinstance(one, float)
        ]
        np.testing.assert_allclose(
            [one for one in mine if isinstance(one, float)],
            [one for one in theirs if isinstance(one, float)],
            rtol=1e-12,
        )


def _leaves(summary: ServiceSummary) -> list[object]:
    """A summary's values, nested ones flattened (its last push aside: an ORM row)."""

    def flat(value: object) -> list[object]:
        if isinstance(value, dict):
            return [leaf for one in value.values() for leaf in flat(one)]
        if isinstance(value, list | tuple):
            return [leaf for one in value for leaf in flat(one)]
        return [value]

    return flat(asdict(replace(summary, last_actuation=None)))
