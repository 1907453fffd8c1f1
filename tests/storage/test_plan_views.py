"""Plan views: what the plan route serves is what the planner wrote, read in one row."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import update

from forecaster.profiles import ScalingProfile
from forecaster.storage import plan_views
from forecaster.storage.db import Database
from forecaster.storage.orm import Plan
from forecaster.storage.plans import save_plan
from forecaster.storage.services import get_service, upsert_service

START = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def _store_plan(database: Database) -> tuple[plan_views.PlanKey, pd.DataFrame]:
    with database.session() as session:
        upsert_service(
            session=session, name="chat", profile=ScalingProfile(capacity_per_replica=10)
        )
    index = pd.date_range(START, periods=4, freq="5min")
    frame = pd.DataFrame(
        {
            "replicas": [2, 3, 5, 4],
            "gpus": [2, 3, 5, 4],
            "load": [10.5, 20.25, 41.0, 30.0],
            "tier": ["L4", None, "A100", "L4"],
            "cost_per_hour": [1.6, 2.4, 15.0, 3.2],
            "reason": ['p95 "quoted"', "lead 180 s", "naïve ✓", "line\nbreak"],
        },
        index=index,
    )
    with database.session() as session:
        service = get_service(session=session, name="chat")
        plan = save_plan(
            session=session,
            service_id=service.id,
            forecast_id=None,
            step_seconds=300,
            quantile=0.95,
            frame=frame,
            total_cost=1.85,
        )
        return (plan.id, plan.generated_at), frame


def _steps(
    database: Database, plan: plan_views.PlanKey, begin: datetime, end: datetime
) -> list[dict]:
    with database.session() as session:
        view = plan_views.plan_view(session=session, plan=plan)
    return json.loads(view.window_json(view.window(begin, end)))


def test_served_steps_are_the_written_plan(database: Database) -> None:
    plan, frame = _store_plan(database)
    steps = _steps(database, plan, START, START + pd.Timedelta("1h"))
    assert [s["replicas"] for s in steps] == frame["replicas"].tolist()
    assert [s["load"] for s in steps] == frame["load"].tolist()
    assert [s["tier"] for s in steps] == ["L4", None, "A100", "L4"]  # missing: null, not NaN
    assert [s["reason"] for s in steps] == frame["reason"].tolist()  # escapes survive
    assert [pd.Timestamp(s["ts"]) for s in steps] == list(frame.index)
    # a window starting mid-step begins with the step in force then
    middle = _steps(database, plan, START + pd.Timedelta("7min"), START + pd.Timedelta("12min"))
    assert [s["replicas"] for s in middle] == [3, 5]


def test_a_windows_cost_is_its_own_steps(database: Database) -> None:
    plan, _frame = _store_plan(database)
    with database.session() as session:
        view = plan_views.plan_view(session=session, plan=plan)
    middle = view.window(START + pd.Timedelta("7min"), START + pd.Timedelta("12min"))
    assert view.window_cost(middle) == pytest.approx((2.4 + 15.0) / 12)  # 5-minute steps
    assert view.window_cost(view.window(START, START + pd.Timedelta("1h"))) == pytest.approx(
        (1.6 + 2.4 + 15.0 + 3.2) / 12
    )


def test_plans_written_before_encoded_steps_read_the_same(database: Database) -> None:
    plan, _frame = _store_plan(database)
    with database.session() as session:
        encoded = plan_views.plan_view(session=session, plan=plan)
    plan_views._cache.clear()
    with database.session() as session:  # as a plan stored before migration 0003 looks
        session.execute(
            update(Plan).where(Plan.id == plan[0]).values(steps_json=None, step_starts_ms=None)
        )
    with database.session() as session:
        legacy = plan_views.plan_view(session=session, plan=plan)
    assert legacy.encoded_rows == encoded.encoded_rows
    assert np.array_equal(legacy.step_starts_ms, encoded.step_starts_ms)
    assert legacy.ends_at == encoded.ends_at == START + pd.Timedelta("20min")
