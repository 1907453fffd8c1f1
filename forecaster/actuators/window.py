"""What "the plan" handed to an actuator is: a :class:`PlanWindow` cut from the stored plan.

The actuate job (every few minutes) asks each target to hold, until the next run, the largest
replica floor the plan asks for over ``[now, now + interval + lead)``: the ``floor``. Targets that
take a schedule (AWS scheduled actions) also get the plan's ``change_points`` from now to its end.
A plan that is missing, stale (too old, or ending before the window does), or a service that is
disabled or forecast-only gives a window that is not active: actuators then restore baselines,
as they do for a target taken out of the profile (``retired``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

import numpy as np
from sqlalchemy.orm import Session

from forecaster.errors import quoted
from forecaster.planning.tiers import parse_mix
from forecaster.profiles import ScalingProfile
from forecaster.storage.orm import Forecast, Service
from forecaster.storage.plans import latest_plan, plan_end, plan_steps, trusted_until
from forecaster.timeutil import as_utc, spoken_duration


class PlanStatus(StrEnum):
    ACTIVE = "active"
    MISSING = "missing"
    STALE = "stale"
    DISABLED = "disabled"
    FORECAST_ONLY = "forecast_only"
    RETIRED = "retired"  # the target left the profile (forecaster.actuators.retired)


@dataclass(frozen=True)
class ChangePoint:
    """From ``at`` on, the replica floor is ``replicas`` (until the next change point)."""

    at: datetime
    replicas: int


@dataclass(frozen=True)
class PlanWindow:
    """The plan as one actuation sees it; ``floor`` and ``change_points`` only when active."""

    service: str
    status: PlanStatus
    reason: str
    now: datetime
    profile: ScalingProfile
    plan_id: int | None = None
    floor: int | None = None
    load: float | None = None
    ends_at: datetime | None = None
    change_points: tuple[ChangePoint, ...] = field(default_factory=tuple)
    # when the plan becomes too old to push (its data's age reaches the limit): what runs on
    # by itself after a push (AWS scheduled actions) must let go by then
    trusted_until: datetime | None = None

    @property
    def active(self) -> bool:
        return self.status is PlanStatus.ACTIVE and self.floor is not None

    def summary(self) -> dict[str, object]:
        """The window as it is stored with each actuation record."""
        return {
            "status": self.status.value,
            "reason": self.reason,
            "plan_id": self.plan_id,
            "floor": self.floor,
            "ends_at": self.ends_at.isoformat() if self.ends_at else None,
            "change_points": len(self.change_points),
        }


@dataclass(frozen=True)
class Step:
    ts: datetime
    replicas: int
    load: float


def floor_over(
    steps: Sequence[Step], *, step_seconds: int, start: datetime, end: datetime
) -> tuple[int, float] | None:
    """The largest replicas (and load) of the steps overlapping ``[start, end)``; None if none."""
    span = timedelta(seconds=step_seconds)
    inside = [s for s in steps if s.ts < end and s.ts + span > start]
    if not inside:
        return None
    return max(s.replicas for s in inside), max(s.load for s in inside)


def paced_floor(
    steps: Sequence[Step], *, now: datetime, push_seconds: float, max_step_up: int
) -> int:
    """The floor to hold now so pushes adding at most ``max_step_up`` each, ``push_seconds``
    apart, keep up with every later step: max over steps of replicas - cap x pushes before it.

    The planner ramps a plan by at most the cap per plan step; with steps shorter than the
    pushes (1-minute steps, a push every 5 minutes) that is several caps per push, and the
    floor pushed fell behind the plan by more at every push.
    """
    ahead = [s for s in steps if s.ts > now]
    if not ahead:
        return 0
    waits = np.array([(s.ts - now).total_seconds() for s in ahead]) // push_seconds
    return int(np.max(np.array([s.replicas for s in ahead]) - max_step_up * waits))


def change_points(steps: Sequence[Step], *, step_seconds: int, now: datetime) -> list[ChangePoint]:
    """Where the floor changes from ``now`` on: the first point is the step in force at now."""
    span = timedelta(seconds=step_seconds)
    points: list[ChangePoint] = []
    for step in steps:
        if step.ts + span <= now:
            continue
        if points and points[-1].replicas == step.replicas:
            continue
        points.append(ChangePoint(max(step.ts, now), step.replicas))
    return points


def too_old_reason(
    *,
    plan_id: int,
    generated_at: datetime,
    data_until: datetime | None,
    now: datetime,
    max_age_seconds: float,
) -> str | None:
    """Why a plan is too old to push (made, or resting on data, longer ago than the limit:
    past :func:`trusted_until`), or None: the one wording of the actuators' records and the
    plan route's note."""
    if now <= trusted_until(generated_at, data_until, max_age_seconds):
        return None
    limit = f"(limit {spoken_duration(max_age_seconds)})"
    age = (now - generated_at).total_seconds()
    if age > max_age_seconds:
        return f"plan {plan_id} is {spoken_duration(age)} old {limit}"
    data_age = (now - as_utc(data_until)).total_seconds() if data_until is not None else 0.0
    return f"plan {plan_id} rests on data that ends {spoken_duration(data_age)} ago {limit}"


def too_old_note(reason: str) -> str:
    """What a person reads about a plan too old to push (:func:`too_old_reason`): the plan
    route's note and the dashboard's, in one wording."""
    return f"{reason}: actuators restore their baselines; send recent samples, then train"


def disabled_note(service: str) -> str:
    """What a person reads about a disabled service's plan: nothing holds it. The plan route's
    note and the dashboard's, in one wording."""
    return (
        f"service {quoted(service)} is disabled: nothing trains, plans or pushes it, and its "
        "targets are back at their baselines; PUT it with enabled true to resume"
    )


def build_window(
    *,
    service: str,
    profile: ScalingProfile,
    plan_id: int,
    generated_at: datetime,
    data_until: datetime | None = None,
    step_seconds: int,
    steps: Sequence[Step],
    now: datetime,
    window_seconds: float,
    max_age_seconds: float,
    push_seconds: float | None = None,
) -> PlanWindow:
    """Cut the window from a plan's steps, or say why the plan cannot be used.

    A plan is as old as the data under it: ``data_until`` is where the history its forecast
    was made from ends (the forecast's origin). Judged by ``generated_at`` alone, any re-plan
    from the same forecast (a profile edit, the refresh of a history whose samples stopped)
    made a plan on 30-hour-old samples look new, and it was pushed.

    ``push_seconds`` (how often pushes come) paces a profile's ``max_step_up`` over pushes
    (:func:`paced_floor`)."""

    def unusable(reason: str, ends_at: datetime | None = None) -> PlanWindow:
        return PlanWindow(service, PlanStatus.STALE, reason, now, profile, plan_id, ends_at=ends_at)

    too_old = too_old_reason(
        plan_id=plan_id,
        generated_at=generated_at,
        data_until=data_until,
        now=now,
        max_age_seconds=max_age_seconds,
    )
    if too_old is not None:
        return unusable(too_old)
    end = now + timedelta(seconds=window_seconds)
    ends_at = (steps[-1].ts + timedelta(seconds=step_seconds)) if steps else None
    if ends_at is None or ends_at < end:
        when = ends_at.isoformat() if ends_at else "before now"
        return unusable(f"plan {plan_id} ends {when}, before the coming window ends", ends_at)
    found = floor_over(steps, step_seconds=step_seconds, start=now, end=end)
    if found is None:
        return unusable(f"plan {plan_id} has no step in force now", ends_at)
    floor, load = found
    reason = f"plan {plan_id}: floor {floor} over the next {window_seconds:g}s"
    if profile.max_step_up is not None and push_seconds:
        paced = paced_floor(
            steps, now=now, push_seconds=push_seconds, max_step_up=profile.max_step_up
        )
        if paced > floor:
            reason += (
                f", raised to {paced} so that pushes adding at most {profile.max_step_up} "
                f"every {push_seconds:g}s keep up with the plan's rise"
            )
            floor = paced
    return PlanWindow(
        service,
        PlanStatus.ACTIVE,
        reason,
        now,
        profile,
        plan_id,
        floor=floor,
        load=load,
        ends_at=ends_at,
        change_points=tuple(change_points(steps, step_seconds=step_seconds, now=now)),
        trusted_until=trusted_until(generated_at, data_until, max_age_seconds),
    )


def load_windows(
    *,
    session: Session,
    service: Service,
    profile: ScalingProfile,
    now: datetime,
    window_seconds: float,
    max_age_seconds: float,
    push_seconds: float | None = None,
    preview: bool = False,
    pulled: bool = False,
    tiers: Iterable[str | None] = (None,),
) -> dict[str | None, PlanWindow]:
    """The windows for a stored service's latest plan, one per entry of ``tiers``: of that
    capacity tier's replicas (a target that scales that tier), or of the plan's total over
    tiers for ``None``. The plan is read once however many tiers are asked for.

    ``preview`` (dry runs) ignores ``forecast_only`` so a person can see what a push would do
    before turning actuation on, and says so; ``pulled`` (KEDA reading the plan, the user's own
    choice to scale on it) ignores it too, with nothing to say.
    """
    preview = preview or pulled
    tiers = list(dict.fromkeys(tiers))

    def every_tier(status: PlanStatus, reason: str, **known: Any) -> dict[str | None, PlanWindow]:
        return {t: PlanWindow(service.name, status, reason, now, profile, **known) for t in tiers}

    if not service.enabled:
        return every_tier(PlanStatus.DISABLED, "service is disabled")
    if profile.forecast_only and not preview:
        return every_tier(
            PlanStatus.FORECAST_ONLY, "profile is forecast_only: plans are shown, never pushed"
        )
    plan = latest_plan(session=session, service_id=service.id)
    if plan is None:
        return every_tier(PlanStatus.MISSING, "no plan yet: train the service")
    if (plan.summary or {}).get("forecast_only") and not preview:
        # a plan for showing only (perhaps of another metric, its re-plan refused since)
        return every_tier(
            PlanStatus.FORECAST_ONLY,
            f"plan {plan.id} was made while the profile was forecast_only: waiting for a plan "
            "made to be pushed",
            plan_id=plan.id,
        )
    first = now - timedelta(seconds=plan.step_seconds)
    rows = plan_steps(session=session, plan_id=plan.id, start=first)
    if not rows:
        ends_at = plan_end(session=session, plan_id=plan.id)
        when = ends_at.isoformat() if ends_at else "long ago"
        return every_tier(
            PlanStatus.STALE, f"plan {plan.id} ended {when}", plan_id=plan.id, ends_at=ends_at
        )
    forecast = session.get(Forecast, plan.forecast_id) if plan.forecast_id is not None else None
    data_until = as_utc(forecast.origin) if forecast is not None else None
    windows = {}
    for tier in tiers:
        steps = [
            Step(as_utc(r.ts), parse_mix(r.tier or "").get(tier, 0) if tier else r.replicas, r.load)
            for r in rows
        ]
        window = build_window(
            service=service.name,
            profile=profile,
            plan_id=plan.id,
            generated_at=plan.generated_at,
            data_until=data_until,
            step_seconds=plan.step_seconds,
            steps=steps,
            now=now,
            window_seconds=window_seconds,
            max_age_seconds=max_age_seconds,
            push_seconds=push_seconds,
        )
        windows[tier] = replace(window, reason=f"{window.reason} (tier {tier})") if tier else window
    shown_only = profile.forecast_only or (plan.summary or {}).get("forecast_only")
    if preview and not pulled and shown_only:
        # the preview shows what a push would do; it must not read like one a real run makes
        shown = "the profile is" if profile.forecast_only else f"plan {plan.id} was made"
        note = f"; preview only: {shown} forecast_only, so a real run pushes nothing"
        windows = {t: replace(w, reason=w.reason + note) for t, w in windows.items()}
    return windows


def load_window(*, tier: str | None = None, **plan_and_window: Any) -> PlanWindow:
    """The window of one capacity ``tier`` (else of the plan's total): see :func:`load_windows`."""
    return load_windows(tiers=(tier,), **plan_and_window)[tier]
