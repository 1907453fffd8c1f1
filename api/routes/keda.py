"""The KEDA pull path: our plan as a metric KEDA's ``metrics-api`` scaler can scale on.

KEDA polls this URL and reads one number at its ``valueLocation`` (``value``, ``replicas`` or
``load``). No plan in force answers 409, so KEDA falls back (its ``fallback`` replicas, or its
other triggers) instead of scaling on a stale number.
"""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Query

from api.deps import SessionDep, SettingsDep
from api.refusals import refusals
from api.routes.services import ServiceName
from api.schemas import KedaMetricPublic
from forecaster.actuators.window import PlanWindow, load_windows
from forecaster.errors import InvalidInputError, NotReadyError, quoted
from forecaster.profiles import ScalingProfile
from forecaster.storage.services import get_service, profile_of
from forecaster.timeutil import utc_now

router = APIRouter(prefix="/v1/services", tags=["actuations"])


@router.get("/{name}/keda", response_model=KedaMetricPublic, responses=refusals(409))
def get_keda_metric(
    session: SessionDep,
    settings: SettingsDep,
    name: str = ServiceName,
    metric: Literal["replicas", "load"] = Query(
        default="replicas", description="what `value` holds: plan replicas or the load they serve"
    ),
    tier: str | None = Query(
        default=None,
        description="a capacity tier of the profile: its replicas, not the total over tiers",
    ),
) -> KedaMetricPublic:
    """The plan's replica floor (or the load it serves) for now, for KEDA's metrics-api
    scaler."""
    service = get_service(session=session, name=name)
    profile = profile_of(service)
    problem = profile.tier_problem(tier)
    if problem:
        raise InvalidInputError(problem)
    # the plan's total over tiers serves what each tier's replicas serve
    tiers = (tier,) if tier or not profile.tiers else (None, *(t.name for t in profile.tiers))
    windows = load_windows(
        session=session,
        service=service,
        profile=profile,
        tiers=tiers,
        now=utc_now(),
        window_seconds=max(settings.actuation_lead_seconds, 1.0),
        max_age_seconds=settings.actuation_max_plan_age_seconds,
        pulled=True,  # a pull is the user's own choice to scale on the plan
    )
    window = windows[tier]
    if not window.active or window.floor is None:
        raise NotReadyError(f"service {quoted(name)} has no plan in force: {window.reason}")
    load = served_load(windows, profile)
    return KedaMetricPublic(
        value=float(window.floor) if metric == "replicas" else load,
        replicas=window.floor,
        load=load,
        service=name,
        plan_id=window.plan_id,
        at=window.now,
    )


def served_load(windows: dict[str | None, PlanWindow], profile: ScalingProfile) -> float:
    """The load the floors of ``windows`` serve at the plan's utilisation: what KEDA divides
    by capacity per replica x that utilisation to get the floor back. The forecast load of the
    minute itself would be the plan without its lead (the replicas ready only after the load
    came) and without its hold, peaks inside a step and bounds."""
    capacity: dict[str | None, float] = {t.name: t.capacity_per_replica for t in profile.tiers}
    capacity[None] = profile.capacity_per_replica
    parts: list[str | None] = [t for t in windows if t is not None] or [None]
    served = sum((windows[t].floor or 0) * capacity[t] for t in parts)
    return round(served * profile.floor_utilization, 3)
