"""``POST /v1/services/{name}/train`` while a training of that service goes on is a 409 naming
the running job run, on a real SQLite file and PostgreSQL: each request had fitted the same
models again, side by side, and raced the others to store them (QA)."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from datetime import timedelta
from threading import Barrier, Event
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

import forecaster.training.train
from api.app import create_app
from forecaster.jobs.tasks import train_recorded
from forecaster.settings import Settings
from forecaster.storage.db import Database
from forecaster.storage.jobs import recorded_job
from forecaster.storage.orm import JobRun
from forecaster.timeutil import utc_now
from forecaster.training.train import TrainResult

CLIENTS = 8


class HeldTraining:
    """Stands in for ``train_service``: a training of ``held`` starts, then waits until the
    test releases it; any other service trains at once."""

    def __init__(self, held: str) -> None:
        self.held, self.started, self.release = held, Event(), Event()

    def __call__(self, _database: Database, name: str, *_args: Any, **_kwargs: Any) -> TrainResult:
        if name == self.held:
            self.started.set()
            assert self.release.wait(30), "the test never released the training"
        return TrainResult(name, "seasonal_naive_daily", 1, 1, 1, "")


@pytest.fixture
def app_client(settings: Settings, database: Database) -> Iterator[TestClient]:
    client = TestClient(create_app(settings, database))
    for name in ("chat", "other"):
        assert client.put(f"/v1/services/{name}", json={"capacity_per_replica": 10}).is_success
    yield client


def test_a_second_training_while_one_runs_is_a_409_naming_its_run(
    app_client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    training = HeldTraining("chat")
    monkeypatch.setattr(forecaster.training.train, "train_service", training)
    with ThreadPoolExecutor(1) as pool:
        first = pool.submit(app_client.post, "/v1/services/chat/train")
        assert training.started.wait(30)
        [running] = app_client.get("/v1/jobs?service=chat&status=running").json()["data"]
        second = app_client.post("/v1/services/chat/train")
        assert second.status_code == 409, second.text
        assert (
            f'train of service "chat" is already running: job run {running["id"]},'
            in (second.json()["detail"])
        )
        assert app_client.post("/v1/services/other/train").status_code == 200  # not blocked
        training.release.set()
        assert first.result().status_code == 200
    assert app_client.post("/v1/services/chat/train").status_code == 200  # done: free again


def test_of_requests_at_once_one_trains_and_the_others_are_told_to_wait(
    app_client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    training = HeldTraining("chat")
    monkeypatch.setattr(forecaster.training.train, "train_service", training)
    barrier = Barrier(CLIENTS)

    def one(_number: int) -> int:
        barrier.wait()
        return app_client.post("/v1/services/chat/train").status_code

    with ThreadPoolExecutor(CLIENTS) as pool:
        pending: set[Future[int]] = {pool.submit(one, number) for number in range(CLIENTS)}
        answered: list[int] = []
        while len(answered) < CLIENTS - 1:  # all but the one held in its training
            done, pending = wait(pending, timeout=30, return_when=FIRST_COMPLETED)
            assert done, f"{CLIENTS - len(answered)} requests are all training at once"
            answered += [future.result() for future in done]
        training.release.set()
        answered += [future.result() for future in pending]
    assert sorted(answered) == [200] + [409] * (CLIENTS - 1)


def test_a_run_whose_process_stopped_does_not_hold_the_service(
    app_client: TestClient, database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A process killed mid-training leaves its run "running" until a leader closes it: its
    heartbeat stopped, so it no longer counts."""
    monkeypatch.setattr(forecaster.training.train, "train_service", HeldTraining("nobody"))
    long_ago = utc_now() - timedelta(minutes=10)
    with database.session() as session, session.begin():
        session.add(
            JobRun(
                job="train",
                service="chat",
                status="running",
                started_at=long_ago,
                heartbeat_at=long_ago,
            )
        )
    assert app_client.post("/v1/services/chat/train").status_code == 200


def test_a_training_while_the_scheduled_pass_covers_the_service_is_a_409(
    app_client: TestClient, database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Review: the pass records one run for every service it trains (``covers``), so a request
    during it was not refused, and both fitted and raced to store."""
    monkeypatch.setattr(forecaster.training.train, "train_service", HeldTraining("nobody"))
    with recorded_job(database.sessions, "train", covers=["chat"]):
        refused = app_client.post("/v1/services/chat/train")
        assert refused.status_code == 409, refused.text
        assert "(a pass over 1 service)" in refused.json()["detail"]
        assert app_client.post("/v1/services/other/train").status_code == 200  # not covered
    assert app_client.post("/v1/services/chat/train").status_code == 200  # over: free again


def test_the_scheduled_pass_leaves_a_service_training_on_demand_to_that_run(
    app_client: TestClient,
    database: Database,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The other way round: a pass starting while ``POST .../train`` of a service runs had
    fitted that service again beside it and raced it to store."""
    training = HeldTraining("chat")
    monkeypatch.setattr(forecaster.training.train, "train_service", training)
    passed: list[str] = []

    def train_services(_database: Database, names: list[str], *_args: Any, **kwargs: Any) -> Any:
        passed.extend(names)
        kwargs["results"].update({name: training(_database, name) for name in names})
        return kwargs["results"]

    monkeypatch.setattr(forecaster.training.train, "train_services", train_services)
    with ThreadPoolExecutor(1) as pool:
        on_demand = pool.submit(app_client.post, "/v1/services/chat/train")
        assert training.started.wait(30)
        [running] = app_client.get("/v1/jobs?service=chat&status=running").json()["data"]
        results = train_recorded(database, ["chat", "other"], settings)
        training.release.set()
        assert on_demand.result().status_code == 200
    assert passed == ["other"]
    assert list(results) == ["other"]
    with database.session() as session:
        record = session.get_one(JobRun, max(session.scalars(select(JobRun.id))))
    assert record.service is None and record.status == "ok"
    assert record.details["covers"] == ["other"]
    assert record.details["running_alone"] == {"chat": running["id"]}
