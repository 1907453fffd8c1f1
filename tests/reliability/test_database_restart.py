"""PostgreSQL restarted in the middle of ingestion: clients get 503 and retry; nothing is lost.

A client thread keeps posting batches of distinct points over real HTTP, retrying on 503 or a
dropped connection, while the database server is restarted underneath the API. Afterwards every
acknowledged point is stored, and every batch is either wholly stored or not at all.
"""

from __future__ import annotations

import threading
import time

import httpx

from api.app import create_app
from forecaster.settings import Settings
from forecaster.storage.db import Database
from forecaster.storage.samples import read_samples
from tests.helpers import live_server
from tests.reliability.conftest import PrivatePostgres

BATCH = 200
START = 1_704_067_200


def post_with_retry(client: httpx.Client, number: int, outcomes: list[int]) -> None:
    """Send batch ``number`` until it is acknowledged, recording each status seen."""
    points = [[START + (number * BATCH + i) * 10, float(number)] for i in range(BATCH)]
    body = {"series": [{"service": "chat", "metric": "requests_per_second", "points": points}]}
    while True:
        try:
            status = client.post("/v1/metrics", json=body).status_code
        except httpx.TransportError:
            status = 0
        outcomes.append(status)
        if status == 200:
            return
        assert status in (0, 503), f"unexpected status {status}"
        time.sleep(0.05)


def test_restart_during_ingestion_loses_no_acknowledged_point(
    private_postgres: PrivatePostgres,
) -> None:
    settings = Settings(database_url=private_postgres.url, auth_enabled=False)
    database = Database(settings.database_url)
    app = create_app(settings, database)
    acknowledged: list[int] = []
    outcomes: list[int] = []
    stop = threading.Event()

    with live_server(app) as base, httpx.Client(base_url=base, timeout=30) as client:
        assert client.put("/v1/services/chat", json={"capacity_per_replica": 10}).status_code == 201

        def ingest() -> None:
            number = 0
            while not stop.is_set():
                post_with_retry(client, number, outcomes)
                acknowledged.append(number)
                number += 1

        writer = threading.Thread(target=ingest)
        writer.start()
        time.sleep(1.0)
        private_postgres.restart()
        time.sleep(1.0)
        private_postgres.restart()
        time.sleep(1.0)
        stop.set()
        writer.join(timeout=120)
        assert not writer.is_alive()

    assert 0 in outcomes or 503 in outcomes, "the restarts never reached a request"
    assert len(acknowledged) > 10
    with database.session() as session:
        stored = read_samples(session=session, series_ids=[1])
    per_batch = stored.groupby(stored["value"].astype(int)).size()
    for number in acknowledged:
        assert per_batch.get(number) == BATCH, f"acknowledged batch {number} incomplete"
    # batches that were never acknowledged were stored whole or not at all
    assert set(per_batch.unique()) == {BATCH}
    database.dispose()


def test_metrics_are_served_through_a_database_outage(private_postgres: PrivatePostgres) -> None:
    """An outage is when an operator watches /metrics: it answered 503 throughout."""
    settings = Settings(database_url=private_postgres.url, auth_enabled=False)
    database = Database(settings.database_url)
    database.migrate()
    with live_server(create_app(settings, database)) as base, httpx.Client(base_url=base) as client:
        assert client.get("/metrics").status_code == 200
        private_postgres.stop()
        try:
            during = client.get("/metrics", timeout=60)
            assert during.status_code == 200, during.text
            assert "forecaster_" in during.text
            assert client.get("/v1/services", timeout=60).status_code == 503  # data routes say so
        finally:
            private_postgres.start()
        assert client.get("/metrics", timeout=60).status_code == 200
    database.dispose()
