"""Repository functions for capacity plans: stored whole, read back as a lookup."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pandas as pd
from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from forecaster.storage.deletes import delete_with_children
from forecaster.storage.orm import Plan, PlanStep
from forecaster.storage.plan_views import encode_steps
from forecaster.timeutil import as_utc


def save_plan(
    *,
    session: Session,
    service_id: int,
    forecast_id: int | None,
    step_seconds: int,
    quantile: float,
    frame: pd.DataFrame,
    total_cost: float,
    summary: dict[str, Any] | None = None,
) -> Plan:
    """Store a plan frame from the planner (index: step timestamps) with all its steps."""
    plan = Plan(
        service_id=service_id,
        forecast_id=forecast_id,
        step_seconds=step_seconds,
        quantile=quantile,
        total_cost=total_cost,
        summary=summary or {},
    )
    columns = {
        "ts": list(frame.index.to_pydatetime()),
        "replicas": frame["replicas"].astype("int64").tolist(),
        "gpus": frame["gpus"].astype("int64").tolist(),
        "load": frame["load"].astype("float64").tolist(),
        "tier": _optional_text(frame["tier"]) if "tier" in frame else [None] * len(frame),
        "cost_per_hour": frame["cost_per_hour"].astype("float64").tolist(),
        "reason": frame["reason"].tolist(),
    }
    rows, starts = encode_steps(zip(*columns.values(), strict=True))
    plan.steps_json = b"\n".join(rows)
    plan.step_starts_ms = starts.tobytes()
    session.add(plan)
    session.flush()
    records = [  # not via a DataFrame: pandas would turn a missing tier into the text "NaN"
        {"plan_id": plan.id, **dict(zip(columns, values, strict=True))}
        for values in zip(*columns.values(), strict=True)
    ]
    session.execute(insert(PlanStep), records)
    return plan


def _optional_text(column: pd.Series) -> list[str | None]:
    """Text values with missing ones (NaN in a pandas string column) as None: JSON null."""
    return column.astype(object).where(column.notna(), None).tolist()


def latest_plan(*, session: Session, service_id: int) -> Plan | None:
    """The newest plan of a service (the one in force)."""
    return session.execute(
        select(Plan).where(Plan.service_id == service_id).order_by(Plan.id.desc()).limit(1)
    ).scalar_one_or_none()


def plan_steps(
    *, session: Session, plan_id: int, start: datetime | None = None, end: datetime | None = None
) -> list[PlanStep]:
    """Steps of a plan in [start, end), in time order."""
    query = select(PlanStep).where(PlanStep.plan_id == plan_id)
    if start is not None:
        query = query.where(PlanStep.ts >= start)
    if end is not None:
        query = query.where(PlanStep.ts < end)
    return list(session.execute(query.order_by(PlanStep.ts)).scalars())


def plan_end(*, session: Session, plan_id: int) -> datetime | None:
    """When a plan runs out: the end of its last step (after that it is stale)."""
    row = session.execute(
        select(func.max(PlanStep.ts), Plan.step_seconds)
        .join(Plan, Plan.id == PlanStep.plan_id)
        .where(PlanStep.plan_id == plan_id)
        .group_by(Plan.step_seconds)
    ).first()
    if row is None or row[0] is None:
        return None
    return as_utc(row[0]) + timedelta(seconds=row[1])


def prune_plans(*, session: Session, service_id: int, before: datetime) -> int:
    """Delete a service's plans generated before ``before``, with their steps, in bulk; its
    newest plan (the one in force, however old) stays. Actuations that pushed a deleted plan
    keep their record, without the link. Returns how many plans went."""
    newest = select(func.max(Plan.id)).where(Plan.service_id == service_id)
    ids = list(
        session.execute(
            select(Plan.id).where(
                Plan.service_id == service_id,
                Plan.generated_at < before,
                Plan.id < newest.scalar_subquery(),
            )
        ).scalars()
    )
    delete_with_children(session=session, parent_key=Plan.id, child_key=PlanStep.plan_id, ids=ids)
    return len(ids)
