"""Twenty clients creating the same service or series at once, over a real HTTP server on a
SQLite file and on PostgreSQL: each saw "absent" and inserted, and all but one hit the unique
constraint (a 500). Every request must succeed and the row exist exactly once."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from threading import Barrier

import httpx
import pytest
from sqlalchemy import func, select

from api.app import create_app
from forecaster.settings import Settings
from forecaster.storage.db import Database
from forecaster.storage.orm import Series, Service
from forecaster.storage.samples import sample_count
from tests.helpers import live_server

CLIENTS = 20
ROUNDS = 3  # a fresh name each round: more chances for the race to show
PROFILE = {"capacity_per_replica": 10}
T0 = 1_704_067_200


@pytest.fixture
def base(settings: Settings, database: Database) -> Iterator[str]:
    with live_server(create_app(settings, database)) as url:
        yield url


def all_at_once(base: str, send: Callable[[httpx.Client, int], httpx.Response]) -> list[int]:
    """Status codes of ``CLIENTS`` requests released together, each on its own connection."""
    barrier = Barrier(CLIENTS)

    def one(number: int) -> int:
        with httpx.Client(base_url=base, timeout=60) as client:
            client.get("/healthz")  # connect first, so the requests leave together
            barrier.wait()
            response = send(client, number)
            assert response.status_code < 500, response.text
            return response.status_code

    with ThreadPoolExecutor(CLIENTS) as pool:
        return list(pool.map(one, range(CLIENTS)))


def put_service(name: str, client: httpx.Client, _number: int) -> httpx.Response:
    return client.put(f"/v1/services/{name}", json=PROFILE)


def post_point(region: str, client: httpx.Client, number: int) -> httpx.Response:
    """Client ``number``'s own point of the series ``chat`` requests_per_second{region}."""
    series = {
        "service": "chat",
        "metric": "requests_per_second",
        "labels": {"region": region},
        "points": [[T0 + 60 * number, float(number)]],
    }
    return client.post("/v1/metrics", json={"series": [series]})


def count(database: Database, column: object, *where: object) -> int:
    with database.session() as session:
        return int(session.execute(select(func.count(column)).where(*where)).scalar_one())


def test_concurrent_puts_create_a_service_once(base: str, database: Database) -> None:
    for round_ in range(ROUNDS):
        name = f"chat-{round_}"
        statuses = all_at_once(base, partial(put_service, name))
        assert sorted(statuses) == [200] * (CLIENTS - 1) + [201]
        assert count(database, Service.id, Service.name == name) == 1


def test_concurrent_ingests_create_a_series_once(base: str, database: Database) -> None:
    with httpx.Client(base_url=base) as client:
        assert client.put("/v1/services/chat", json=PROFILE).status_code == 201

    for round_ in range(ROUNDS):
        region = f"r{round_}"
        assert all_at_once(base, partial(post_point, region)) == [200] * CLIENTS
        assert count(database, Series.id, Series.labels_key == f'{{"region":"{region}"}}') == 1
    with database.session() as session:
        assert sample_count(session=session) == CLIENTS * ROUNDS  # every point kept


def test_concurrent_puts_of_different_profiles_each_say_what_became_of_the_plan(
    base: str,
) -> None:
    """Each PUT but the creating one replaced another client's profile, so each re-plans or
    says why not, also a PUT that found no service before the winner created it."""

    def put_own_profile(client: httpx.Client, number: int) -> httpx.Response:
        return client.put("/v1/services/chat", json={"capacity_per_replica": 10 + number})

    with ThreadPoolExecutor(CLIENTS) as pool, httpx.Client(base_url=base, timeout=60) as client:
        barrier = Barrier(CLIENTS)

        def one(number: int) -> httpx.Response:
            barrier.wait()
            return put_own_profile(client, number)

        answers = list(pool.map(one, range(CLIENTS)))
    replaced = [answer.json() for answer in answers if answer.status_code == 200]
    assert len(replaced) == CLIENTS - 1, [answer.text for answer in answers]
    assert all(body["plan_change"] is not None for body in replaced), replaced
