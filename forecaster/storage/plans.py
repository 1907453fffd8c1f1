"""Repository functions for capacity plans: stored whole, read back as a lookup."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, NamedTuple

import pandas as pd
from sqlalchemy import Select, case, func, insert, literal, select
from sqlalchemy.orm import Session, aliased

from forecaster.storage.chunks import rows_in_chunks
from forecaster.storage.deletes import delete_with_children
from forecaster.storage.orm import (
    Forecast,
    ForecastPoint,
    Plan,
    PlanStep,
    Series,
    Service,
    UTCDateTime,
)
from forecaster.storage.plan_views import encode_steps, newest_plan_id
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


class StepFloor(NamedTuple):
    ts: datetime
    replicas: int
    gpus: int
    tier: str | None


@dataclass(frozen=True)
class PlanGlance:
    """A plan's step in force and the peak of the steps running within a window."""

    in_force: StepFloor | None
    peak_replicas: int | None
    peak_gpus: int | None


def plan_glances(
    *, session: Session, steps: Mapping[int, timedelta], now: datetime, window: timedelta
) -> dict[int, PlanGlance]:
    """Per plan (id: its step), the step in force at ``now`` (the one begun within a step
    before, else the first to begin within ``window``) and the peak of those running within
    it, in one query of index probes (one per :data:`~forecaster.storage.chunks.CHUNK` plans):
    loading the window's steps (360 at 1-minute steps over 6 h) was a quarter of the
    overview's time."""
    if not steps:
        return {}
    rows = rows_in_chunks(
        session=session,
        items=steps.items(),
        query=lambda part: _glance_query(dict(part), now=now, until=now + window),
    )
    return {
        row[0]: PlanGlance(
            in_force=None if row[1] is None else StepFloor(*row[1:5]),
            peak_replicas=row[5],
            peak_gpus=row[6],
        )
        for row in rows
    }


def _glance_query(
    steps: Mapping[int, timedelta], *, now: datetime, until: datetime
) -> Select[int, datetime, int, int, str | None, Any, Any]:
    """:func:`plan_glances`' read of some plans: id, the step in force (ts, replicas, gpus,
    tier) and the peak replicas and gpus."""
    since = case(
        {plan_id: literal(now - step, UTCDateTime()) for plan_id, step in steps.items()},
        value=Plan.id,
    )

    def of_plan(column: Any, *where: Any) -> Any:
        found = select(column).where(PlanStep.plan_id == Plan.id, *where)
        return found.correlate(Plan).scalar_subquery()

    started = of_plan(func.max(PlanStep.ts), PlanStep.ts >= since, PlanStep.ts <= now)
    # a fresh plan starts at the next step: until then, what comes next
    upcoming = of_plan(func.min(PlanStep.ts), PlanStep.ts > now, PlanStep.ts < until)
    ahead = (PlanStep.ts > since, PlanStep.ts < until)
    shown = aliased(PlanStep)
    return (
        select(
            Plan.id,
            shown.ts,
            shown.replicas,
            shown.gpus,
            shown.tier,
            of_plan(func.max(PlanStep.replicas), *ahead),
            of_plan(func.max(PlanStep.gpus), *ahead),
        )
        .outerjoin(
            shown, (shown.plan_id == Plan.id) & (shown.ts == func.coalesce(started, upcoming))
        )
        .where(Plan.id.in_(list(steps)))
    )


def plan_end(*, session: Session, plan_id: int) -> datetime | None:
    """When a plan runs out: the end of its last step (after that it is stale)."""
    row = session.execute(
        select(func.max(PlanStep.ts), Plan.step_seconds)
        .join(Plan, Plan.id == PlanStep.plan_id)
        .where(PlanStep.plan_id == plan_id)
        .group_by(Plan.step_seconds)
    ).first()
    return None if row is None else step_end(row[0], row[1])


def step_end(last_step: datetime | None, step_seconds: int) -> datetime | None:
    """The end of a plan whose last step starts at ``last_step`` (None: it has none)."""
    return None if last_step is None else as_utc(last_step) + timedelta(seconds=step_seconds)


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


@dataclass(frozen=True)
class StepInForce:
    """What a service's plan in force says for now: the floor, and the forecast it covers."""

    service: str
    metric: str | None  # the forecast's metric; None when the forecast has been pruned
    replicas: int
    gpus: int
    quantiles: dict[float, float]  # 0.5, 0.9, 0.95, 0.99 of the forecast step; empty if pruned
    pushed: bool = True  # False: made while the profile was forecast_only, shown and never pushed


def trusted_until(
    generated_at: datetime, data_until: datetime | None, max_age_seconds: float
) -> datetime:
    """When a plan becomes too old to act on: it is as old as the data under it (its
    forecast's origin), or as its making when that is older."""
    oldest = min(generated_at, data_until) if data_until is not None else generated_at
    return as_utc(oldest) + timedelta(seconds=max_age_seconds)


def steps_in_force(*, session: Session, now: datetime, max_age_seconds: float) -> list[StepInForce]:
    """Every service's plan step running at ``now``, with its forecast, in one query (the
    ``/v1/plans/metrics`` scrape). A service whose newest plan has no step at ``now`` (it ran
    out, or starts later) is left out: nothing is in force to report. So is one the actuators
    would not push: disabled, or its plan older than ``max_age_seconds`` by the data under it
    (a refresh of samples that stopped renews the plan, not its data). A plan made while the
    profile was forecast_only is reported, marked as not pushed."""
    earlier = aliased(PlanStep)
    started = (
        select(func.max(earlier.ts))
        .where(earlier.plan_id == Plan.id, earlier.ts <= now)
        .correlate(Plan)
        .scalar_subquery()
    )
    rows = session.execute(
        select(
            Service.name,
            Service.enabled,
            Plan.generated_at,
            Forecast.origin,
            Plan.step_seconds,
            Plan.summary,
            PlanStep.ts,
            PlanStep.replicas,
            PlanStep.gpus,
            Series.metric,
            ForecastPoint.p50,
            ForecastPoint.p90,
            ForecastPoint.p95,
            ForecastPoint.p99,
        )
        .select_from(Service)
        .join(Plan, Plan.id == newest_plan_id())
        .join(PlanStep, (PlanStep.plan_id == Plan.id) & (PlanStep.ts == started))
        .outerjoin(Forecast, Forecast.id == Plan.forecast_id)
        .outerjoin(
            ForecastPoint,
            (ForecastPoint.forecast_id == Forecast.id) & (ForecastPoint.ts == PlanStep.ts),
        )
        .outerjoin(Series, Series.id == Forecast.series_id)
        .order_by(Service.name)
    ).all()
    return [
        StepInForce(
            service=row.name,
            metric=row.metric,
            replicas=row.replicas,
            gpus=row.gpus,
            quantiles={}
            if row.p50 is None
            else {0.5: row.p50, 0.9: row.p90, 0.95: row.p95, 0.99: row.p99},
            pushed=not (row.summary or {}).get("forecast_only"),
        )
        for row in rows
        if as_utc(row.ts) + timedelta(seconds=row.step_seconds) > now
        and row.enabled
        and now
        <= trusted_until(row.generated_at, row.origin and as_utc(row.origin), max_age_seconds)
    ]
