"""The whole loop over real HTTP: ingest two weeks of a real trace, train, read the plan back."""

from __future__ import annotations

import httpx
import numpy as np
import pandas as pd
import pytest

from api.app import create_app
from forecaster.settings import Settings
from forecaster.storage.db import Database
from forecaster.timeutil import utc_now
from tests.helpers import demo_trace_slice, ending_now, live_server, store_service

PROFILE = {
    "metric": "requests_per_second",
    "step_seconds": 300,
    "horizon_hours": 24,
    "capacity_per_replica": 20,
    "cost_per_replica_hour": 1.5,
    "target_utilization": 0.7,
    "min_replicas": 2,
    "max_replicas": 30,
    "startup_seconds": 180,
    "scale_down_delay_seconds": 600,
    "risk_quantile": 0.95,
    "gpus_per_replica": 1,
}


def test_ingest_train_and_plan_over_http(settings: Settings, database: Database) -> None:
    trace = demo_trace_slice(days=14)
    shift = pd.Timestamp(utc_now()).floor("5min") - trace.index[-1]
    stamps = (trace.index + shift).strftime("%Y-%m-%dT%H:%M:%SZ").tolist()
    points = [[ts, float(v)] for ts, v in zip(stamps, trace.to_numpy(), strict=True)]

    with (
        live_server(create_app(settings, database)) as base,
        httpx.Client(base_url=base, timeout=120) as client,
    ):
        assert client.put("/v1/services/chat", json=PROFILE).status_code == 201
        for start in range(0, len(points), 2000):
            body = {
                "series": [
                    {
                        "service": "chat",
                        "metric": "requests_per_second",
                        "points": points[start : start + 2000],
                    }
                ]
            }
            response = client.post("/v1/metrics", json=body)
            assert response.status_code == 200, response.text
        trained = client.post("/v1/services/chat/train")
        assert trained.status_code == 200, trained.text

        forecast = client.get("/v1/services/chat/forecast").json()
        assert len(forecast["points"]) == 288  # 24 h at 5 min
        p50 = np.array([p["p50"] for p in forecast["points"]])
        p95 = np.array([p["p95"] for p in forecast["points"]])
        assert (p95 >= p50).all() and (p50 >= 0).all()
        # the forecast is on the scale of the trace, not a constant or a blow-up
        assert 0.2 * trace.mean() < p50.mean() < 5 * trace.mean()

        plan = client.get("/v1/services/chat/plan", params={"horizon": "6h"}).json()
        assert plan["forecast_id"] == forecast["forecast_id"]
        assert plan["model"] == forecast["model"]
        assert plan["stale"] is False
        assert 70 <= len(plan["steps"]) <= 73  # 6 h of 5-minute steps from now
        replicas = [step["replicas"] for step in plan["steps"]]
        assert all(2 <= r <= 30 for r in replicas)
        assert [s["gpus"] for s in plan["steps"]] == replicas
        first = plan["steps"][0]
        assert "p95 load" in first["reason"]
        # the cost is the window's: the steps returned, not the whole 24 h stored
        window_cost = sum(s["cost_per_hour"] for s in plan["steps"]) * plan["step_seconds"] / 3600
        assert plan["total_cost"] == pytest.approx(window_cost)
        whole = client.get("/v1/services/chat/plan", params={"horizon": "24h"}).json()
        assert whole["total_cost"] > 2 * plan["total_cost"]

        assert client.get("/v1/services/chat/plan", params={"horizon": "soon"}).status_code == 422
        bare = client.get("/v1/services/chat/plan", params={"horizon": "48"})  # meant 48h
        assert bare.status_code == 422
        assert bare.json()["detail"] == (
            "horizon 48 reads as 48 seconds, less than one 300s step; give a unit, such as 48h"
        )
        hour = client.get("/v1/services/chat/plan", params={"horizon": "3600"})  # seconds, then
        assert hour.status_code == 200 and 12 <= len(hour.json()["steps"]) <= 13
        assert client.get("/v1/services/ghost/plan").status_code == 404


def test_forecast_refresh_reuses_the_champion(settings: Settings, database: Database) -> None:
    """The 15-minute job forecasts from the stored champion without a new model run."""
    from forecaster.profiles import ScalingProfile
    from forecaster.training.train import forecast_service, train_service

    profile = ScalingProfile(capacity_per_replica=20, horizon_hours=6)
    store_service(database, settings, "chat", ending_now(demo_trace_slice(days=7)), profile)
    trained = train_service(database, "chat", settings)
    refreshed = forecast_service(database, "chat", settings)
    assert refreshed.run_id == trained.run_id
    assert refreshed.model == trained.model
    assert refreshed.forecast_id > trained.forecast_id
    assert refreshed.plan_id > trained.plan_id
