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
from forecaster.actuators.window import load_window
from forecaster.errors import InvalidInputError, NotReadyError, quoted
from forecaster.storage.services import get_service, profile_of
from forecaster.timeutil import utc_now

router = APIRouter(prefix="/v1/services", tags=["actuations"])


@router.get("/{name}/keda", response_model=KedaMetricPublic, responses=refusals(409))
def get_keda_metric(
    session: SessionDep,
    settings: SettingsDep,
    name: str = ServiceName,
    metric: Literal["replicas", "load"] = Query(
        default="replicas", description="what `value` holds: plan replicas or forecast load"
    ),
    tier: str | None = Query(
        default=None,
        description="a capacity tier of the profile: its replicas, not the total over tiers",
    ),
) -> KedaMetricPublic:
    """The plan's replica floor (or forecast load) for now, for KEDA's metrics-api scaler."""
    service = get_service(session=session, name=name)
    profile = profile_of(service)
    problem = profile.tier_problem(tier)
    if problem:
        raise InvalidInputError(problem)
    window = load_window(
        session=session,
        service=service,
        profile=profile,
        tier=tier,
        now=utc_now(),
        window_seconds=max(settings.actuation_lead_seconds, 1.0),
        max_age_seconds=settings.actuation_max_plan_age_hours * 3600,
        preview=True,  # a pull is the user's own choice to scale on the plan
    )
    if not window.active or window.floor is None or window.load is None:
        raise NotReadyError(f"service {quoted(name)} has no plan in force: {window.reason}")
    value = float(window.floor) if metric == "replicas" else window.load
    return KedaMetricPublic(
        value=value,
        replicas=window.floor,
        load=window.load,
        service=name,
        plan_id=window.plan_id,
        at=window.now,
    )
