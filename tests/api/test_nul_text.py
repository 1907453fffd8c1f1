"""Text holding a NUL character (``\\u0000``) is refused with a 422 naming the field, on both
databases: PostgreSQL cannot store it (psycopg raises DataError, which was a 500) and SQLite
can, so without a check up front the same request answered differently on each."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.deps import SessionDep
from forecaster.profiles import ScalingProfile
from forecaster.settings import Settings
from forecaster.storage.db import Database
from forecaster.storage.orm import Exclusion
from forecaster.storage.services import upsert_service
from forecaster.timeutil import utc_now

PROFILE = {"step_seconds": 3600, "horizon_hours": 24, "capacity_per_replica": 10}
TIER = {"name": "l4", "capacity_per_replica": 10, "cost_per_replica_hour": 1}
WINDOW = {"start": "2030-01-01T10:00:00Z", "end": "2030-01-01T12:00:00Z"}
POINTS = [[1704067200, 1.0], [1704067500, 2.0]]
CSV = {"files": {"file": ("load.csv", b"timestamp,value\n1704067200,1.0\n")}}


def series(**fields: Any) -> dict[str, Any]:
    """A one-series ``POST /v1/metrics`` body for the service ``chat``."""
    return {
        "series": [{"service": "chat", "metric": "requests_per_second", "points": POINTS} | fields]
    }


# (method, path, request keywords, where the answer must point: a field name)
CASES: list[tuple[str, str, dict[str, Any], str]] = [
    ("PUT", "/v1/services/new", {"json": PROFILE | {"gpu_type": "a\x00"}}, "gpu_type"),
    ("PUT", "/v1/services/new", {"json": PROFILE | {"tiers": [TIER | {"name": "l\x00"}]}}, "name"),
    (
        "PUT",
        "/v1/services/new",
        {"json": PROFILE | {"prometheus": [{"metric": "requests_per_second", "query": "up\x00"}]}},
        "query",
    ),
    ("POST", "/v1/metrics", {"json": series(service="chat\x00")}, "service"),
    ("POST", "/v1/metrics", {"json": series(labels={"region": "eu\x00"})}, "labels"),
    ("POST", "/v1/metrics", {"json": series(labels={"reg\x00ion": "eu"})}, "labels"),
    ("POST", "/v1/metrics", {"json": series(unit="rps\x00")}, "unit"),
    (
        "POST",
        "/v1/metrics/csv",
        {"params": {"service": "chat\x00", "metric": "x"}} | CSV,
        "service",
    ),
    (
        "POST",
        "/v1/metrics/csv",
        {"params": {"service": "chat", "metric": "requests_per_second", "unit": "\x00"}} | CSV,
        "unit",
    ),
    ("POST", "/v1/services/chat/events", {"json": WINDOW | {"name": "launch\x00"}}, "name"),
    ("POST", "/v1/services/chat/exclusions", {"json": WINDOW | {"reason": "\x00"}}, "reason"),
    ("GET", "/v1/jobs", {"params": {"job": "train\x00"}}, "job"),
    ("POST", "/v1/simulations", {"json": {"service": "chat\x00"}}, "service"),
]


@pytest.mark.parametrize(
    ("method", "path", "request_kw", "field"),
    CASES,
    ids=[f"{method} {path.replace(chr(0), '%00')} {field}" for method, path, _, field in CASES],
)
def test_nul_in_text_is_a_422_naming_the_field(
    settings: Settings,
    database: Database,
    method: str,
    path: str,
    request_kw: dict[str, Any],
    field: str,
) -> None:
    client = TestClient(create_app(settings, database))
    assert client.put("/v1/services/chat", json=PROFILE).status_code == 201
    response = client.request(method, path, **request_kw)
    assert response.status_code == 422, response.text
    assert field in response.text and "NUL" in response.text, response.text
    # nothing of the refused request was stored
    assert client.get("/v1/services").json()["count"] == 1
    assert client.get("/v1/services/chat/events").json()["count"] == 0
    assert client.get("/v1/services/chat/exclusions").json()["count"] == 0


@pytest.mark.postgres
def test_a_value_postgresql_refuses_is_a_422_and_rolls_back(postgres_schema_url: str) -> None:
    """The last resort for a path validation misses: a route that writes a service, then text
    PostgreSQL refuses. The answer is a 422 and the service written first is gone too."""
    database = Database(postgres_schema_url)
    app = create_app(Settings(database_url=postgres_schema_url, auth_enabled=False), database)

    @app.post("/half-written")
    def half_written(session: SessionDep) -> None:
        profile = ScalingProfile(capacity_per_replica=10)
        service, _ = upsert_service(session=session, name="first", profile=profile)
        start = utc_now()
        end = start + timedelta(hours=1)
        # straight to the table: the repository (add_exclusion) refuses such text itself now
        session.add(Exclusion(service_id=service.id, start=start, end=end, reason="\x00"))
        session.flush()

    with TestClient(app) as client:  # its lifespan disposes of the database
        response = client.post("/half-written")
        assert response.status_code == 422, response.text
        assert "cannot store" in response.text and "NUL" in response.text
        assert "nothing was stored" in response.text
        assert client.get("/v1/services/first").status_code == 404


# JSON may escape half of a UTF-16 surrogate pair ("\ud800"); FastAPI's parser turns it into a
# Python string that cannot be encoded as UTF-8: pydantic refuses it in a str field, but the 422
# echoing it failed to encode (a 500 on both databases), and in a field typed Any (a target's
# config) it was stored, and the answer showing it failed (a 500 after the commit)
SURROGATE_CASES: list[tuple[str, str, str, str]] = [
    ("PUT", "/v1/services/new", '{"capacity_per_replica": 10, "gpu_type": "a\\ud800"}', "gpu_type"),
    (
        "PUT",
        "/v1/services/new",
        '{"capacity_per_replica": 10, "targets": '
        '[{"kind": "kubernetes_hpa", "config": {"namespace": "\\udfff"}}]}',
        "targets",
    ),
    ("POST", "/v1/services/chat/events", '{"name": "launch\\ud83d", %s}', "name"),
    ("POST", "/v1/services/chat/exclusions", '{"reason": "\\udc00", %s}', "reason"),
]


@pytest.mark.parametrize(
    ("method", "path", "body", "field"),
    SURROGATE_CASES,
    ids=[f"{method} {path} {field}" for method, path, _, field in SURROGATE_CASES],
)
def test_a_lone_surrogate_in_json_text_is_a_422_naming_the_field(
    settings: Settings, database: Database, method: str, path: str, body: str, field: str
) -> None:
    client = TestClient(create_app(settings, database))
    assert client.put("/v1/services/chat", json=PROFILE).status_code == 201
    window = '"start": "2030-01-01T10:00:00Z", "end": "2030-01-01T12:00:00Z"'
    content = (body % window if "%s" in body else body).encode()
    response = client.request(
        method, path, content=content, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 422, response.text
    assert field in response.text, response.text
    assert "surrogate" in response.text or "unicode string" in response.text, response.text
    assert client.get("/v1/services").json()["count"] == 1
    assert client.get("/v1/services/chat/events").json()["count"] == 0
    assert client.get("/v1/services/chat/exclusions").json()["count"] == 0
