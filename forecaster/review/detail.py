"""Everything on a service's page except the time series: profile, plan, leaderboard, logs.

The plan comes with the capacity each step gives (replicas x capacity per replica x the
utilisation plans are sized at, in load units, summed over a step's tier mix when tiers are
used) and collapsed into change points, each with the reason the planner gave for it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
import pandas as pd
from sqlalchemy.orm import Session

from forecaster.planning.tiers import parse_mix
from forecaster.profiles import ScalingProfile
from forecaster.review.leaderboard import LeaderboardRow, leaderboard
from forecaster.review.overview import ServiceSummary, failed_jobs, summarize_service
from forecaster.review.plan_now import DEFAULT_MAX_PLAN_AGE
from forecaster.storage.actuations import list_actuations
from forecaster.storage.calendar import list_events, list_exclusions
from forecaster.storage.orm import Actuation, Event, Exclusion, Plan, PlanStep
from forecaster.storage.plan_views import plan_view
from forecaster.storage.plans import latest_plan, plan_steps
from forecaster.storage.samples import first_sample_ms_of, metric_series_ids
from forecaster.storage.services import get_service, profile_of
from forecaster.timeutil import from_epoch_ms
from forecaster.training.service_data import driving_training_runs


@dataclass(frozen=True)
class PlanChange:
    """A run of plan steps with the same floor: from ``start`` until ``end``."""

    start: datetime
    end: datetime
    steps: int
    replicas: int
    gpus: int
    tier: str | None
    peak_load: float
    capacity: float
    reason: str


@dataclass(frozen=True)
class PlanChart:
    plan_id: int
    generated_at: datetime
    forecast_id: int | None
    quantile: float
    step_seconds: int
    total_cost: float
    cost_ahead: float  # what its steps from now (the one running included) cost
    ts: list[datetime]
    replicas: list[int]
    gpus: list[int]
    load: list[float]
    capacity: list[float]
    tier: list[str | None]
    reason: list[str]
    changes: list[PlanChange]


@dataclass(frozen=True)
class ServiceDetail:
    summary: ServiceSummary
    profile: ScalingProfile
    leaderboard: list[LeaderboardRow]
    events: list[Event]
    exclusions: list[Exclusion]
    actuations: list[Actuation]
    plan: PlanChart | None
    first_sample_at: datetime | None  # where the stored history starts: the chart's "all"


def service_detail(
    *,
    session: Session,
    name: str,
    now: datetime,
    max_plan_age_seconds: float = DEFAULT_MAX_PLAN_AGE,
) -> ServiceDetail:
    """The panels of one service's page (``max_plan_age_seconds``: :func:`summarize_service`)."""
    service = get_service(session=session, name=name)
    profile = profile_of(service)
    actuations = list_actuations(session=session, service_id=service.id)
    runs = driving_training_runs(session=session, service=service, profile=profile)[1]
    plan = latest_plan(session=session, service_id=service.id)
    actual_ids = metric_series_ids(session=session, service_id=service.id, metric=profile.metric)
    first_ms = first_sample_ms_of(session=session, series_ids=actual_ids)
    return ServiceDetail(
        summary=summarize_service(
            session=session,
            service=service,
            now=now,
            last_actuation=actuations[0] if actuations else None,
            failures=failed_jobs(session=session, now=now, service=name).get(name, []),
            max_plan_age_seconds=max_plan_age_seconds,
        ),
        profile=profile,
        leaderboard=leaderboard(runs),
        events=list_events(session=session, service_id=service.id),
        exclusions=list_exclusions(session=session, service_id=service.id),
        actuations=actuations,
        plan=None
        if plan is None
        else plan_chart(session=session, plan=plan, profile=profile, now=now),
        first_sample_at=None if first_ms is None else from_epoch_ms([first_ms])[0].to_pydatetime(),
    )


def planned_capacity(profile: ScalingProfile, replicas: pd.Series, tiers: pd.Series) -> np.ndarray:
    """Load each step's replicas carry at the utilisation plans are sized at (the reason text's
    arithmetic): a tier mix such as ``L4:1+A100:1`` sums its tiers' capacities."""
    per_replica = profile.capacity_per_replica * profile.floor_utilization
    if not profile.tiers:
        return replicas.to_numpy(dtype="float64") * per_replica
    by_tier = {tier.name: tier.capacity_per_replica for tier in profile.tiers}

    def mix_capacity(text: object) -> float:
        if not isinstance(text, str) or not text:
            return float("nan")
        mix = parse_mix(text)
        fallback = profile.capacity_per_replica
        return sum(count * by_tier.get(name, fallback) for name, count in mix.items())

    # a plan has a handful of distinct mixes: read each once
    distinct = {text: mix_capacity(text) for text in tiers.dropna().unique()}
    tiered = tiers.map(distinct).astype("float64") * profile.floor_utilization
    return tiered.fillna(replicas.astype("float64") * per_replica).to_numpy()


def plan_chart(
    *, session: Session, plan: Plan, profile: ScalingProfile, now: datetime
) -> PlanChart:
    """A stored plan as columns for a chart, with the capacity it gives, its change points and
    what it costs from ``now`` on (its whole cost counts steps gone by: a plan on data that
    stopped hours ago starts hours before it was made)."""
    rows: list[PlanStep] = plan_steps(session=session, plan_id=plan.id)
    frame = pd.DataFrame(
        {
            "ts": pd.to_datetime([row.ts for row in rows], utc=True),
            "replicas": np.array([row.replicas for row in rows], dtype="int64"),
            "gpus": np.array([row.gpus for row in rows], dtype="int64"),
            "load": np.array([row.load for row in rows], dtype="float64"),
            "tier": pd.Series([row.tier for row in rows], dtype="object"),
            "reason": pd.Series([row.reason for row in rows], dtype="object"),
        }
    )
    # the plan route's window and its cost
    view = plan_view(session=session, plan=(plan.id, plan.generated_at))
    frame["capacity"] = planned_capacity(profile, frame["replicas"], frame["tier"])
    return PlanChart(
        plan_id=plan.id,
        generated_at=plan.generated_at,
        forecast_id=plan.forecast_id,
        quantile=plan.quantile,
        step_seconds=plan.step_seconds,
        total_cost=plan.total_cost,
        cost_ahead=view.window_cost(view.window(now, view.ends_at)),
        ts=list(pd.DatetimeIndex(frame["ts"]).to_pydatetime()),
        replicas=frame["replicas"].tolist(),
        gpus=frame["gpus"].tolist(),
        load=frame["load"].tolist(),
        capacity=frame["capacity"].tolist(),
        tier=frame["tier"].tolist(),
        reason=frame["reason"].tolist(),
        changes=change_points(frame, timedelta(seconds=plan.step_seconds)),
    )


def change_points(frame: pd.DataFrame, step: timedelta) -> list[PlanChange]:
    """Collapse consecutive steps with the same replicas, GPUs and tier into one row."""
    if frame.empty:
        return []
    keys = frame[["replicas", "gpus", "tier"]].astype("object").fillna("")
    changed = (keys != keys.shift()).any(axis=1)
    groups = frame.groupby(changed.cumsum(), sort=True)
    runs = groups.agg(
        start=("ts", "first"),
        last=("ts", "last"),
        steps=("ts", "size"),
        replicas=("replicas", "first"),
        gpus=("gpus", "first"),
        tier=("tier", "first"),
        peak_load=("load", "max"),
        capacity=("capacity", "first"),
        reason=("reason", "first"),
    )
    return [
        PlanChange(
            start=row.start.to_pydatetime(),
            end=(row.last + step).to_pydatetime(),
            steps=int(row.steps),
            replicas=int(row.replicas),
            gpus=int(row.gpus),
            tier=row.tier if isinstance(row.tier, str) else None,
            peak_load=float(row.peak_load),
            capacity=float(row.capacity),
            reason=str(row.reason),
        )
        for row in runs.itertuples()
    ]
