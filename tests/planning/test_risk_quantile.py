"""A risk quantile other than p50/p90/p95/p99 (say p97.5) is forecast, stored and planned
exactly, in the service and offline; forecasts made before the profile asked for it are read
between their neighbouring quantiles (on SQLite and PostgreSQL)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from api.app import create_app
from forecaster.offline import plan_file, read_series_csv
from forecaster.profiles import ScalingProfile
from forecaster.settings import Settings
from forecaster.storage.db import Database
from forecaster.storage.forecasts import forecast_frame, quantile_series
from forecaster.storage.orm import Plan
from forecaster.storage.plans import plan_steps
from forecaster.storage.services import get_service
from forecaster.training.replan import build_plan
from forecaster.training.train import forecast_service, train_service
from tests.helpers import ending_now, store_service, synthetic_traffic

PROFILE = ScalingProfile(
    step_seconds=3600,
    horizon_hours=24,
    capacity_per_replica=10,
    risk_quantile=0.975,
    startup_seconds=0,
    scale_down_delay_seconds=0,
    step_edges="hold",
)


def _ingest(database: Database, settings: Settings) -> None:
    """Two weeks of a noisy hourly cycle ending now."""
    history = synthetic_traffic(days=14, step_seconds=3600, noise=0.2, seed=3)
    store_service(database, settings, "chat", ending_now(history, "h"), PROFILE)


def test_the_profiles_risk_quantile_is_stored_and_planned(
    database: Database, settings: Settings
) -> None:
    _ingest(database, settings)
    for result in (
        train_service(database, "chat", settings, model="seasonal_naive_daily"),
        forecast_service(database, "chat", settings),  # the refresh keeps it too
    ):
        with database.session() as session:
            frame = forecast_frame(session=session, forecast_id=result.forecast_id)
            steps = plan_steps(session=session, plan_id=result.plan_id)
        assert list(frame.columns) == ["p50", "p90", "p95", "p99", "p97.5"]
        assert (frame["p95"] <= frame["p97.5"]).all() and (frame["p97.5"] <= frame["p99"]).all()
        assert (frame["p97.5"] < frame["p99"]).any()  # its own quantile, not a copy of p99
        assert [s.load for s in steps] == pytest.approx(frame["p97.5"].tolist())
        assert [s.replicas for s in steps] == np.ceil(frame["p97.5"] / 7).astype(int).tolist()
        assert steps[0].reason.startswith("p97.5 load")
    body = TestClient(create_app(settings, database)).get("/v1/services/chat/forecast").json()
    assert body["risk_quantile"] == 0.975
    assert [p["risk"] for p in body["points"]] == pytest.approx(frame["p97.5"].tolist())


def test_a_forecast_made_before_the_risk_changed_is_read_between_its_quantiles(
    database: Database, settings: Settings
) -> None:
    _ingest(database, settings)
    result = train_service(database, "chat", settings, model="seasonal_naive_daily")
    wider = PROFILE.model_copy(update={"risk_quantile": 0.97})  # the forecast carries p97.5
    with database.session() as session:
        frame = forecast_frame(session=session, forecast_id=result.forecast_id)
        plan = build_plan(
            session=session,
            service=get_service(session=session, name="chat"),
            profile=wider,
            forecast_id=result.forecast_id,
            history=None,
        )
        steps = plan_steps(session=session, plan_id=plan.id)
        assert session.get_one(Plan, plan.id).quantile == 0.97
    between = frame["p95"] + (frame["p97.5"] - frame["p95"]) * (0.97 - 0.95) / 0.025
    assert [s.load for s in steps] == pytest.approx(between.tolist())


def test_quantile_series_holds_the_outermost_quantile_beyond_the_known_ones() -> None:
    frame = pd.DataFrame({"p50": [1.0], "p90": [2.0], "p95": [3.0], "p99": [5.0]})
    assert quantile_series(frame, 0.95).tolist() == [3.0]
    assert quantile_series(frame, 0.97).tolist() == pytest.approx([4.0])
    assert quantile_series(frame, 0.999).tolist() == [5.0]


def test_the_api_refuses_a_risk_quantile_below_the_median(
    settings: Settings, database: Database
) -> None:
    client = TestClient(create_app(settings, database))
    response = client.put(
        "/v1/services/chat", json={"capacity_per_replica": 10, "risk_quantile": 0.2}
    )
    assert response.status_code == 422 and "risk_quantile" in response.text


@pytest.mark.parametrize("quantile", [0.3, 1.0, 1.5])
def test_a_risk_quantile_outside_p50_to_p99_9_is_refused(quantile: float) -> None:
    with pytest.raises(ValidationError, match="risk_quantile"):
        ScalingProfile(capacity_per_replica=10, risk_quantile=quantile)


def test_offline_plan_covers_a_quantile_between_the_usual_ones(tmp_path: Path) -> None:
    history = synthetic_traffic(days=7, step_seconds=300, noise=0.2, seed=5)
    path = tmp_path / "history.csv"
    history.rename("value").rename_axis("timestamp").to_csv(path)
    series = read_series_csv(path)
    totals = {}
    for quantile in (0.95, 0.975, 0.99):
        profile = ScalingProfile(capacity_per_replica=2, max_replicas=1000, risk_quantile=quantile)
        plan = plan_file(series, profile, horizon="12h", model="seasonal_naive_daily")
        totals[quantile] = int(plan["replicas"].sum())
    assert totals[0.95] < totals[0.975] < totals[0.99]
