"""Names in error details appear as the client wrote them, in double quotes (``"café"``), on
SQLite and PostgreSQL: not Python's ``'café'``, nor JSON's ASCII escape ``"caf\\u00e9"``."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from forecaster.settings import Settings
from forecaster.storage.db import Database

PROFILE = {"capacity_per_replica": 10}
POINTS = [[1704067200, 1.0]]


@pytest.fixture
def client(settings: Settings, database: Database) -> Iterator[TestClient]:
    with TestClient(create_app(settings, database)) as test_client:
        assert test_client.put("/v1/services/chat", json=PROFILE).status_code == 201
        yield test_client


@pytest.mark.parametrize(
    ("name", "shown"), [("café", '"café"'), ('say "hi"', '"say \\"hi\\""'), ("it's", '"it\'s"')]
)
def test_a_missing_service_is_named_as_written(client: TestClient, name: str, shown: str) -> None:
    response = client.post("/v1/simulations", json={"service": name})
    assert response.status_code == 404
    assert response.json()["detail"].startswith(f"service {shown} does not exist;")


def test_an_unknown_service_in_a_batch_keeps_its_letters(client: TestClient) -> None:
    body = {"series": [{"service": "café", "metric": "requests_per_second", "points": POINTS}]}
    response = client.post("/v1/metrics", json=body)
    assert response.status_code == 422
    assert 'unknown service "café"; create it first' in response.json()["detail"]


def test_a_service_without_a_forecast_is_a_409_naming_it(client: TestClient) -> None:
    response = client.get("/v1/services/chat/forecast")
    assert response.status_code == 409
    assert response.json()["detail"] == (
        'service "chat" has no forecast of "requests_per_second" yet; train it first'
    )


def test_known_names_are_listed_plainly(client: TestClient) -> None:
    response = client.put("/v1/services/chat", json=PROFILE | {"metric": "qps"})
    message = response.json()["detail"][0]["msg"]
    assert response.status_code == 422
    assert message.startswith('Value error, metric "qps" is not known; use one of ')
    assert "requests_per_second" in message and "[" not in message and "'" not in message
