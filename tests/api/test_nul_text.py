"""Text with NUL characters: PostgreSQL cannot store it, SQLite can. The same request is refused
with a 422 that names the field on both, and nothing of it is stored (it was a 500 on PostgreSQL).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from api.app import create_app
from forecaster.settings import Settings
from forecaster.storage.db import Database
from forecaster.storage.orm import Event, Series, Service
from tests.ingestion.test_remote_write import HEADERS, encode

PROFILE = {"step_seconds": 3600, "horizon_hours": 24, "capacity_per_replica": 10}
WINDOW = {"start": "2030-01-01T10:00:00Z", "end": "2030-01-01T12:00:00Z"}


@pytest.fixture
def client(settings: Settings, database: Database) -> Iterator[TestClient]:
    with TestClient(create_app(settings, database)) as test_client:
        assert test_client.put("/v1/services/chat", json=PROFILE).status_code == 201
        yield test_client


def _series(**header: object) -> dict[str, object]:
    return {
        "series": [
            {"service": "chat", "metric": "requests_per_second"}
            | header
            | {"points": [["2026-12-01T00:00:00Z", 1.0]]}
        ]
    }


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/v1/services/chat/events", {"name": "launch\x00"} | WINDOW, "name"),
        ("/v1/services/chat/exclusions", {"reason": "outage\x00"} | WINDOW, "reason"),
        ("/v1/metrics", _series(service="ch\x00at"), "service"),
        ("/v1/metrics", _series(labels={"region": "eu\x00"}), "labels.region"),
        ("/v1/metrics", _series(labels={"reg\x00ion": "eu"}), "labels"),
        ("/v1/metrics", _series(unit="req/s\x00"), "unit"),
    ],
)
def test_nul_in_stored_text_is_refused_naming_the_field(
    client: TestClient, database: Database, path: str, body: dict[str, object], field: str
) -> None:
    response = client.post(path, json=body)
    assert response.status_code == 422, response.text
    assert "NUL" in response.text and field in response.text
    with database.session() as session:
        assert session.scalar(select(func.count()).select_from(Series)) == 0
        assert session.scalar(select(func.count()).select_from(Event)) == 0


def test_a_remote_write_service_label_with_nul_is_ignored_as_unknown(client: TestClient) -> None:
    body = encode(
        ({"__name__": "requests_per_second", "service": "chat"}, [(1_700_000_000_000, 3.0)]),
        ({"__name__": "requests_per_second", "service": "ch\x00at"}, [(1_700_000_000_000, 4.0)]),
    )
    response = client.post("/api/v1/write", content=body, headers=HEADERS)
    assert response.status_code == 200, response.text
    assert response.json()["stored"] == 1 and response.json()["ignored_series"] == 1


@pytest.mark.postgres
def test_a_value_postgresql_refuses_behind_validation_is_a_422_and_rolls_back(
    postgres_schema_url: str,
) -> None:
    """The last resort behind validation, on a route that stores text unchecked."""
    database = Database(postgres_schema_url)
    database.migrate()
    settings = Settings(database_url=postgres_schema_url, auth_enabled=False)
    app: FastAPI = create_app(settings, database)
    moment = datetime(2030, 1, 1, tzinfo=UTC)

    @app.post("/test-only/events")
    def store_unchecked(name: str) -> None:
        with database.session() as session:
            service_id = session.scalar(select(Service.id).where(Service.name == "chat"))
            for each in ("stored only with the next one", name):
                session.add(Event(service_id=service_id, name=each, start=moment, end=moment))
                session.flush()

    with TestClient(app) as client:
        assert client.put("/v1/services/chat", json=PROFILE).status_code == 201
        response = client.post("/test-only/events", params={"name": "a\x00b"})
    assert response.status_code == 422, response.text
    assert "nothing was stored" in response.text and "NUL" in response.text
    with database.session() as session:
        assert session.scalar(select(func.count()).select_from(Event)) == 0
