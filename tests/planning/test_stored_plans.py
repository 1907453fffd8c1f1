"""Plans built by the train job: tier mixes, costs, mode and the floor check stored per step."""

from __future__ import annotations

import pandas as pd
import pytest

from forecaster.errors import InvalidInputError
from forecaster.profiles import CapacityTier, ScalingProfile
from forecaster.storage.db import Database
from forecaster.storage.forecasts import save_forecast, save_model_run
from forecaster.storage.orm import Plan
from forecaster.storage.plans import plan_steps
from forecaster.storage.samples import ensure_series
from forecaster.storage.services import upsert_service
from forecaster.training.replan import build_plan
from tests.helpers import synthetic_traffic

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


def stored_plan(
    database: Database,
    profile: ScalingProfile,
    p95: list[float],
    history: pd.Series | None,
    start: str = "2024-01-01",
) -> int:
    """Store a forecast whose every quantile is ``p95`` and plan it as the train job does."""
    index = pd.date_range(start, periods=len(p95), freq="5min", tz="UTC")
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
        return build_plan(
            session=session,
            service=service,
            profile=profile,
            forecast_id=forecast.id,
            history=history,
        ).id


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
    plan_id = stored_plan(database, profile, [8.0, 44.0, 0.0], history=None)
    with database.session() as session:
        steps = plan_steps(session=session, plan_id=plan_id)
        assert [s.tier for s in steps] == ["CPU:2", "CPU:1+L4:1", ""]
        assert [s.replicas for s in steps] == [2, 2, 0]
        assert [s.gpus for s in steps] == [0, 1, 0]
        assert [s.cost_per_hour for s in steps] == pytest.approx([0.2, 0.9, 0.0])
        stored = session.get_one(Plan, plan_id)
        assert stored.total_cost == pytest.approx((0.2 + 0.9) / 12)
        assert stored.summary["forecast_only"] is True
        assert stored.summary["tiers"] == ["CPU", "L4"]
        assert stored.summary["peak_replicas"] == 2


def test_plan_holds_no_floor_where_the_hpa_alone_kept_up(database: Database) -> None:
    profile = ScalingProfile(
        capacity_per_replica=10,
        min_replicas=2,
        startup_seconds=180,
        reactive_tolerance_pct=0.1,
        forecast_only=False,
    )
    plan_id = stored_plan(
        database, profile, [30.0, 90.0, 60.0], history=synthetic_traffic(days=2, noise=0.0)
    )
    with database.session() as session:
        steps = plan_steps(session=session, plan_id=plan_id)
        assert [s.replicas for s in steps] == [2, 2, 2]
        assert all("floor left at min_replicas 2" in s.reason for s in steps)
        assert [s.load for s in steps] == pytest.approx([30.0, 90.0, 60.0])


def test_a_non_finite_forecast_is_refused_and_nothing_is_stored(database: Database) -> None:
    profile = ScalingProfile(capacity_per_replica=4)
    first = stored_plan(database, profile, [8.0, 9.0], history=None)
    with pytest.raises(InvalidInputError, match="non-finite"):
        stored_plan(database, profile, [8.0, float("inf")], history=None)
    with database.session() as session:
        assert session.query(Plan).count() == 1 and session.get(Plan, first) is not None


@pytest.mark.parametrize("delay, held", [(900, [10, 10, 10, 2, 2, 2]), (0, [2] * 6)])
def test_a_new_plan_holds_what_the_scale_down_delay_still_holds_of_the_plan_before(
    database: Database, delay: int, held: list[int]
) -> None:
    """The 15-minute refresh makes a new plan whose first steps may forecast less: without
    the plan before it, the floor dropped at once, every refresh, against the delay."""
    profile = ScalingProfile(
        capacity_per_replica=10,
        target_utilization=1.0,
        min_replicas=1,
        startup_seconds=0,
        scale_down_delay_seconds=delay,
        step_edges="hold",
    )
    stored_plan(database, profile, [100.0] * 6, history=None)  # 10 replicas from 00:00
    later = stored_plan(database, profile, [20.0] * 6, history=None, start="2024-01-01 00:15")
    with database.session() as session:
        steps = plan_steps(session=session, plan_id=later)
    assert [s.replicas for s in steps] == held
    if delay:
        assert "held at 10 for the 900s scale-down delay" in steps[0].reason


def test_the_plan_held_over_the_delay_is_what_it_needed_with_its_peak_factor(
    database: Database,
) -> None:
    """A plan of samples finer than its step covered their peaks (x2 here); the plan replacing
    it held its stored loads without that factor, so the delay kept half the replicas."""
    profile = ScalingProfile(
        capacity_per_replica=10,
        target_utilization=1.0,
        min_replicas=1,
        startup_seconds=0,
        scale_down_delay_seconds=900,
        step_edges="hold",
    )
    first = stored_plan(database, profile, [100.0] * 6, history=None)
    with database.session() as session:  # as build_plan stores a factor it learnt from samples
        plan = session.get_one(Plan, first)
        plan.summary = {**(plan.summary or {}), "peak_factor": 2.0}
    later = stored_plan(database, profile, [20.0] * 6, history=None, start="2024-01-01 00:15")
    with database.session() as session:
        steps = plan_steps(session=session, plan_id=later)
    assert [s.replicas for s in steps] == [20, 20, 20, 2, 2, 2]
