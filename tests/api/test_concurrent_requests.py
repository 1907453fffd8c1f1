"""Concurrent requests that create the same service or series, through a real HTTP server on a
SQLite file and on PostgreSQL: each had found nothing, inserted, and all but one answered 500.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import httpx
from sqlalchemy import func, select

from api.app import create_app
from forecaster.settings import Settings
from forecaster.storage.db import Database
from forecaster.storage.orm import Sample, Series, Service
from forecaster.storage.samples import labels_key
from tests.helpers import live_server

CLIENTS = 12
PROFILE = {"step_seconds": 300, "horizon_hours": 24, "capacity_per_replica": 10}


def _all_at_once(request: Callable[[int], httpx.Response]) -> list[httpx.Response]:
    """``request(i)`` from CLIENTS threads released together."""
    start = threading.Barrier(CLIENTS)

    def released(number: int) -> httpx.Response:
        start.wait()
        return request(number)

    with ThreadPoolExecutor(CLIENTS) as pool:
        return list(pool.map(released, range(CLIENTS)))


def _count(database: Database, entity: type) -> int:
    with database.session() as session:
        return int(session.scalar(select(func.count()).select_from(entity)) or 0)


def test_concurrent_creates_of_one_service_and_one_series_all_succeed_once(
    settings: Settings, database: Database
) -> None:
    with live_server(create_app(settings, database)) as base, httpx.Client(timeout=60) as client:
        created = _all_at_once(
            lambda number: client.put(
                f"{base}/v1/services/chat", json=PROFILE | {"capacity_per_replica": 10 + number}
            )
        )
        assert [r.status_code for r in created if r.status_code not in (200, 201)] == []
        assert sorted(r.status_code for r in created).count(201) == 1
        # each replaced another client's profile, so each says what became of the plan
        replaced = [r.json() for r in created if r.status_code == 200]
        assert all(answer["plan_change"] is not None for answer in replaced), replaced

        def point(number: int) -> httpx.Response:
            series = {"service": "chat", "metric": "requests_per_second", "labels": {"az": "b"}}
            stamp = f"2026-12-01T00:{number:02d}:00Z"
            return client.post(
                f"{base}/v1/metrics", json={"series": [series | {"points": [[stamp, 1.0]]}]}
            )

        stored = _all_at_once(point)
        assert [r.text for r in stored if r.status_code != 200] == []

    assert _count(database, Service) == 1
    with database.session() as session:
        labelled = select(func.count()).where(Series.labels_key == labels_key({"az": "b"}))
        assert session.scalar(labelled) == 1
    assert _count(database, Sample) == CLIENTS
