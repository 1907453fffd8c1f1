"""Profile writes racing each other over real HTTP: a target claimed, an enabled state read.

One write is held open in its transaction (a PUT between its check and its commit) while a
PUT through the API server starts; the held one commits once the PUT waits on a lock (or has
answered, as it did when it read before taking one).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, event

from api.app import create_app
from forecaster.settings import Settings
from forecaster.storage.db import Database
from forecaster.storage.services import (
    delete_service,
    find_service,
    locked_service,
    upsert_service,
)
from tests.actuators.factories import make_service, scaling_profile
from tests.helpers import live_server

WAITING_SECONDS = 0.5  # a statement running this long waits on a lock
DEADLINE_SECONDS = 20.0


@pytest.fixture
def base(settings: Settings, database: Database) -> Iterator[str]:
    with live_server(create_app(settings, database)) as url:
        yield url


def hpa_targets(kubeconfig: str) -> list[dict[str, Any]]:
    config = {"namespace": "ml", "name": "chat", "kubeconfig": kubeconfig}
    return [{"kind": "kubernetes-hpa", "config": config}]


class Statements:
    """The statements an engine is running now, with when each began."""

    def __init__(self, engine: Engine) -> None:
        self.running: dict[int, float] = {}
        event.listen(engine, "before_cursor_execute", self._began)
        event.listen(engine, "after_cursor_execute", self._ended)

    def _began(self, _conn: Any, cursor: Any, *_args: Any) -> None:
        self.running[id(cursor)] = time.monotonic()

    def _ended(self, _conn: Any, cursor: Any, *_args: Any) -> None:
        self.running.pop(id(cursor), None)

    def one_waits(self) -> bool:
        now = time.monotonic()
        return any(now - began >= WAITING_SECONDS for began in list(self.running.values()))


@contextmanager
def put_meanwhile(
    database: Database, base: str, name: str, body: dict[str, Any]
) -> Iterator[list[httpx.Response]]:
    """PUT ``body`` to service ``name`` in a thread; yields once the PUT waits on a lock or
    has answered (its answer is in the list after the block)."""
    statements = Statements(database.engine)
    answers: list[httpx.Response] = []

    def put() -> None:
        answers.append(httpx.put(f"{base}/v1/services/{name}", json=body, timeout=60))

    thread = threading.Thread(target=put)
    thread.start()
    deadline = time.monotonic() + DEADLINE_SECONDS
    while thread.is_alive() and not statements.one_waits() and time.monotonic() < deadline:
        time.sleep(0.02)
    try:
        yield answers
    finally:
        thread.join(DEADLINE_SECONDS)
    assert answers, "the PUT never answered"


def test_of_two_writes_claiming_one_target_the_second_is_refused(
    database: Database, base: str, kubeconfig: str
) -> None:
    """Review: the PUT checked the other services' targets before it took the write lock, so
    two claims of one HPA by two services at once both passed, and both were stored."""
    targets = hpa_targets(kubeconfig)
    with database.session() as held:
        upsert_service(session=held, name="chat", profile=scaling_profile(targets))
        body = scaling_profile(targets).model_dump(mode="json")
        with put_meanwhile(database, base, "chat2", body) as answers:
            held.commit()
    (refused,) = answers
    assert refused.status_code == 409, refused.text
    detail = refused.json()["detail"]
    assert 'service "chat" already scales with its target kubernetes-hpa' in detail
    with database.session() as session:
        assert find_service(session=session, name="chat2") is None


def test_a_profile_write_reads_whether_the_service_was_enabled_under_its_lock(
    database: Database, base: str
) -> None:
    """Review: the PUT read ``enabled`` before its lock. Disabled by a write committed
    meanwhile, the service was taken as enabled, and a PUT enabling it again with the same
    profile was not re-planned (its plan went unrenewed while it was disabled)."""
    make_service(database)
    with database.session() as held:
        upsert_service(session=held, name="chat", profile=scaling_profile(), enabled=False)
        body = {**scaling_profile().model_dump(mode="json"), "enabled": True}
        with put_meanwhile(database, base, "chat", body) as answers:
            held.commit()
    (enabled,) = answers
    assert enabled.status_code == 200, enabled.text
    assert enabled.json()["enabled"] is True
    change = enabled.json()["plan_change"]
    assert change is not None and change["message"].startswith("not re-planned"), change


def test_a_put_while_the_service_is_deleted_creates_it_again(database: Database, base: str) -> None:
    """Review: on PostgreSQL the PUT's insert found the row a DELETE had locked (not deleted
    yet) and did nothing, then its lock waited for the DELETE and found no row: the PUT
    answered 404 "does not exist; create it with PUT", 21 times in 900 PUTs racing DELETEs
    for 30 s (SQLite: writers take turns, it passed there)."""
    make_service(database)
    with database.session() as held:
        locked_service(session=held, name="chat")  # as a DELETE begins: the row locked
        body = scaling_profile().model_dump(mode="json")
        with put_meanwhile(database, base, "chat", body) as answers:
            delete_service(session=held, name="chat")
            held.commit()
    (created,) = answers
    assert created.status_code == 201, created.text
    with database.session() as session:
        assert find_service(session=session, name="chat") is not None
