"""Plans built by the train job: tier mixes and costs stored per step, forecast-only recorded."""

from __future__ import annotations

import pandas as pd
import pytest

from forecaster.profiles import CapacityTier, ScalingProfile
from forecaster.storage.db import Database
from forecaster.storage.forecasts import save_forecast, save_model_run
from forecaster.storage.plans import plan_steps
from forecaster.storage.samples import ensure_series
from forecaster.storage.services import upsert_service
from forecaster.training.train import build_plan

TIERS = [
    CapacityTier(name="CPU", capacity_per_replica=4, cost_per_replica_hour=0.1, startup_seconds=0),
    CapacityTier(
        name="L4",
        capacity_per_replica=40,
        cost_per_replica_hour=0.8,
        startup_seconds=0,
        gpus_per_replica=1,
    ),
]


def test_tiered_plan_is_stored_with_mix_cost_and_mode(database: Database) -> None:
    profile = ScalingProfile(
        capacity_per_replica=4,
        target_utilization=1.0,
        min_replicas=0,
        startup_seconds=0,
        scale_down_delay_seconds=0,
        step_edges="hold",
        tiers=TIERS,
        forecast_only=True,
    )
    index = pd.date_range("2024-01-01", periods=3, freq="5min", tz="UTC")
    p95 = [8.0, 44.0, 0.0]
    frame = pd.DataFrame({"p50": p95, "p90": p95, "p95": p95, "p99": p95}, index=index)
    with database.session() as session:
        service, _ = upsert_service(session=session, name="chat", profile=profile)
        series_id = next(
            iter(
                ensure_series(
                    session=session, keys=[(service.id, profile.metric, {}, None)]
                ).values()
            )
        )
        run = save_model_run(
            session=session, series_id=series_id, model="x", step_seconds=300, status="ok"
        )
        forecast = save_forecast(
            session=session, run_id=run.id, series_id=series_id, step_seconds=300, frame=frame
        )
        plan = build_plan(
            session=session, service=service, profile=profile, forecast_id=forecast.id
        )
        plan_id = plan.id
    with database.session() as session:
        steps = plan_steps(session=session, plan_id=plan_id)
        assert [s.tier for s in steps] == ["CPU:2", "CPU:1+L4:1", ""]
        assert [s.replicas for s in steps] == [2, 2, 0]
        assert [s.gpus for s in steps] == [0, 1, 0]
        assert [s.cost_per_hour for s in steps] == pytest.approx([0.2, 0.9, 0.0])
        stored = session.get_one(type(plan), plan_id)
        assert stored.total_cost == pytest.approx((0.2 + 0.9) / 12)
        assert stored.summary["forecast_only"] is True
        assert stored.summary["tiers"] == ["CPU", "L4"]
        assert stored.summary["peak_replicas"] == 2
