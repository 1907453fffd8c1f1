"""The plan a service's summary shows: the floor in force now, the peak ahead, and why the
plan is stale when it is, for every service at once (the overview) or one (its page).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from forecaster.actuators.window import disabled_note, too_old_note, too_old_reason
from forecaster.profiles import ScalingProfile
from forecaster.settings import Settings
from forecaster.storage.newest import NewestPlan, newest_plans, rows_by_id
from forecaster.storage.orm import Forecast, Service
from forecaster.storage.plans import PlanGlance, plan_glances
from forecaster.timeutil import as_utc
from forecaster.training.replan import plan_ended_note

# FORECASTER_ACTUATION_MAX_PLAN_AGE_HOURS's default: callers with settings pass theirs
DEFAULT_MAX_PLAN_AGE = Settings.model_fields["actuation_max_plan_age_hours"].default * 3600


@dataclass(frozen=True)
class PlanNow:
    """The plan row in force now (or the next one, before a plan starts) and the peak ahead."""

    plan_id: int
    generated_at: datetime
    ends_at: datetime | None
    stale: bool  # ran out, too old to push or disabled: the actuators restored their baselines
    ran_out: bool
    since: datetime | None
    replicas: int | None
    gpus: int | None
    tier: str | None
    peak_replicas: int | None
    peak_gpus: int | None
    note: str | None  # when stale: why, in the plan route's words


def plans_now(
    *,
    session: Session,
    services: Sequence[tuple[Service, ScalingProfile]],
    now: datetime,
    window: timedelta,
    max_age_seconds: float,
    latest_ms: Mapping[int, int | None],
) -> dict[int, PlanNow]:
    """Per service id (those with a plan), :func:`plan_of` its newest plan, in three queries;
    ``services``: each with its profile, read already; ``latest_ms``: the epoch ms of each
    one's newest sample of its metric."""
    newest = newest_plans(session=session, service_ids=[service.id for service, _ in services])
    forecasts = rows_by_id(
        session=session, entity=Forecast, ids=[one.plan.forecast_id for one in newest.values()]
    )
    glances = plan_glances(
        session=session,
        steps={one.plan.id: timedelta(seconds=one.plan.step_seconds) for one in newest.values()},
        now=now,
        window=window,
    )
    return {
        service.id: plan_of(
            service,
            profile,
            found,
            glance=glances[found.plan.id],
            forecast=forecasts.get(found.plan.forecast_id or 0),
            now=now,
            max_age_seconds=max_age_seconds,
            latest_ms=latest_ms.get(service.id),
        )
        for service, profile in services
        if (found := newest.get(service.id)) is not None
    }


def plan_of(
    service: Service,
    profile: ScalingProfile,
    newest: NewestPlan,
    *,
    glance: PlanGlance,
    forecast: Forecast | None,
    now: datetime,
    max_age_seconds: float,
    latest_ms: int | None,
) -> PlanNow:
    """The newest plan's row in force at ``now``, its peak over the window ahead, and why
    it is stale when it is: the service is disabled, the plan ran out, or it is too old to
    push (as the actuators and the plan route judge it: nothing holds such a floor)."""
    plan, ends_at = newest.plan, newest.ends_at
    in_force = glance.in_force
    ran_out = ends_at is None or ends_at <= now
    too_old = too_old_reason(
        plan_id=plan.id,
        generated_at=as_utc(plan.generated_at),
        data_until=as_utc(forecast.origin) if forecast is not None else None,
        now=now,
        max_age_seconds=max_age_seconds,
    )
    note = None
    if not service.enabled:
        note = disabled_note(service.name)
    elif ran_out:  # a plan without steps covers nothing after it was made
        ended = plan.generated_at if ends_at is None else ends_at
        note = plan_ended_note(
            name=service.name, profile=profile, ends_at=ended, latest_ms=latest_ms, now=now
        )
    elif too_old is not None:
        note = too_old_note(too_old)
    return PlanNow(
        plan_id=plan.id,
        generated_at=plan.generated_at,
        ends_at=ends_at,
        stale=ran_out or too_old is not None or not service.enabled,
        ran_out=ran_out,
        since=in_force.ts if in_force else None,
        replicas=in_force.replicas if in_force else None,
        gpus=in_force.gpus if in_force else None,
        tier=in_force.tier if in_force else None,
        peak_replicas=glance.peak_replicas,
        peak_gpus=glance.peak_gpus,
        note=note,
    )
