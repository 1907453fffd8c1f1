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
NOT_READY = 'service "chat" has no forecast of "requests_per_second" yet; train it first'


def _series_rows(database: Database) -> int:
    with database.session() as session:
        return int(session.execute(select(func.count()).select_from(Series)).scalar_one())


def _untrained(settings: Settings, database: Database, regions: list[str]) -> TestClient:
    """A client of a service ``chat`` with a little load in each region and no training."""
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
            for region in regions
        ]
    }
    assert client.post("/v1/metrics", json=body).status_code == 200
    return client


def test_get_routes_create_no_series(settings: Settings, database: Database) -> None:
    client = _untrained(settings, database, ["eu", "us"])
    before = _series_rows(database)
    assert before == 2

    forecast = client.get("/v1/services/chat/forecast")
    assert forecast.status_code == 409 and forecast.json()["detail"] == NOT_READY
    runs = client.get("/v1/services/chat/runs").json()
    assert runs["series_id"] is None and runs["count"] == 0
    assert client.get("/v1/services/chat/forecasts").json()["count"] == 0
    overview = client.get("/v1/dashboard/overview")
    assert overview.status_code == 200, overview.text
    detail = client.get("/v1/dashboard/services/chat")
    assert detail.status_code == 200, detail.text
    assert detail.json()["leaderboard"] == []
    assert _series_rows(database) == before


def test_one_label_set_untrained_reads_as_not_ready_like_several(
    settings: Settings, database: Database
) -> None:
    """With one label set the driving series exists before training; with nothing trained on
    it the reads answer as when the summed series was never made."""
    client = _untrained(settings, database, ["eu"])
    forecast = client.get("/v1/services/chat/forecast")
    assert forecast.status_code == 409 and forecast.json()["detail"] == NOT_READY
    assert client.get("/v1/services/chat/runs").json()["count"] == 0
    assert client.get("/v1/dashboard/services/chat").json()["leaderboard"] == []
