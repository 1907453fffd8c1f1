"""Training on a history that ended long ago: refused with the reason, the last plan kept."""

from __future__ import annotations

import time

import httpx
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from forecaster.errors import NotReadyError
from forecaster.settings import Settings
from forecaster.storage.db import Database
from forecaster.timeutil import utc_now
from forecaster.training.train import forecast_service
from tests.actuators.factories import store_plan
from tests.helpers import demo_trace_slice, live_server

PROFILE = {"step_seconds": 300, "horizon_hours": 24, "capacity_per_replica": 20}


def _post_points(client: httpx.Client | TestClient, trace: pd.Series) -> None:
    stamps = trace.index.strftime("%Y-%m-%dT%H:%M:%SZ").tolist()
    points = [[ts, float(v)] for ts, v in zip(stamps, trace.to_numpy(), strict=True)]
    for start in range(0, len(points), 2000):
        series = {"service": "chat", "metric": "requests_per_second"}
        body = {"series": [{**series, "points": points[start : start + 2000]}]}
        response = client.post("/v1/metrics", json=body)
        assert response.status_code == 200, response.text


def test_a_history_that_ended_a_week_ago_is_not_trained_on(
    settings: Settings, database: Database
) -> None:
    trace = demo_trace_slice(days=3)
    last = pd.Timestamp(utc_now()).floor("5min") - pd.Timedelta(days=8)
    trace.index = trace.index + (last - trace.index[-1])
    ends = last + pd.Timedelta(minutes=5)
    reaches = ends + pd.Timedelta(hours=24)
    expected = (
        f'the requests_per_second history of "chat" ends at {ends.isoformat()}: a 24h forecast '
        f"from there reaches only {reaches.isoformat()}, already past; send recent samples, "
        "then train again"
    )
    with (
        live_server(create_app(settings, database)) as base,
        httpx.Client(base_url=base, timeout=120) as client,
    ):
        assert client.put("/v1/services/chat", json=PROFILE).status_code == 201
        _post_points(client, trace)
        # the last good plan, made when the data still came in; it ended two days ago
        kept = store_plan(database, replicas=[3] * 12, start=utc_now() - pd.Timedelta(days=2))

        trained = client.post("/v1/services/chat/train")
        assert trained.status_code == 409, trained.text
        assert trained.json()["detail"] == expected
        with pytest.raises(NotReadyError, match="already past"):  # nor the 15-minute job
            forecast_service(database, "chat", settings)

        plan = client.get("/v1/services/chat/plan").json()
        assert plan["plan_id"] == kept and plan["stale"] is True and plan["steps"] == []
        assert plan["note"].startswith("this plan ended at ")
        assert plan["note"].endswith(expected)

        # a plan in force says nothing more
        current = store_plan(database, replicas=[4] * 12)
        deadline = time.monotonic() + 5  # the route notices a new plan within about a second
        while plan["plan_id"] != current and time.monotonic() < deadline:
            time.sleep(0.05)
            plan = client.get("/v1/services/chat/plan", params={"horizon": "30min"}).json()
        assert plan["plan_id"] == current and plan["note"] is None and plan["steps"]


def test_a_history_older_than_the_training_window_says_when_it_ends(
    settings: Settings, database: Database
) -> None:
    """It said only "no samples in 35 days" to someone who had just stored thousands."""
    trace = demo_trace_slice(days=1)
    trace.index = trace.index - (trace.index[-1] - pd.Timestamp("2023-11-16 19:00", tz="UTC"))
    with TestClient(create_app(settings, database)) as client:
        assert client.put("/v1/services/chat", json=PROFILE).status_code == 201
        _post_points(client, trace)
        trained = client.post("/v1/services/chat/train")
    assert trained.status_code == 409, trained.text
    assert trained.json()["detail"] == (
        f'service "chat" has no requests_per_second samples in the last '
        f"{settings.training_days:g} days; its latest is from 2023-11-16T19:00:00+00:00; "
        "send recent samples"
    )
