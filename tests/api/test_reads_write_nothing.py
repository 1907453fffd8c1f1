"""GET routes only read: a service with several label sets and no training gains no summed
series row from being looked at (training creates it)."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from api.app import create_app
from forecaster.settings import Settings
from forecaster.storage.db import Database
from forecaster.storage.orm import Series
from forecaster.timeutil import utc_now

PROFILE = {"step_seconds": 300, "horizon_hours": 24, "capacity_per_replica": 10}


def _series_rows(database: Database) -> int:
    with database.session() as session:
        return int(session.execute(select(func.count()).select_from(Series)).scalar_one())


def test_get_routes_create_no_series(settings: Settings, database: Database) -> None:
    client = TestClient(create_app(settings, database))
    assert client.put("/v1/services/chat", json=PROFILE).status_code == 201
    now = int(utc_now().timestamp()) // 300 * 300
    body = {
        "series": [
            {
                "service": "chat",
                "metric": "requests_per_second",
                "labels": {"region": region},
                "points": [[now - 600, 4.0], [now - 300, 5.0]],
            }
            for region in ("eu", "us")
        ]
    }
    assert client.post("/v1/metrics", json=body).status_code == 200
    before = _series_rows(database)
    assert before == 2

    forecast = client.get("/v1/services/chat/forecast")
    assert forecast.status_code == 409 and "train it first" in forecast.text
    runs = client.get("/v1/services/chat/runs").json()
    assert runs["series_id"] is None and runs["count"] == 0
    assert client.get("/v1/services/chat/forecasts").json()["count"] == 0
    overview = client.get("/v1/dashboard/overview")
    assert overview.status_code == 200, overview.text
    detail = client.get("/v1/dashboard/services/chat")
    assert detail.status_code == 200, detail.text
    assert detail.json()["leaderboard"] == []
    assert _series_rows(database) == before
