"""Services with actuation targets and stored plans, for actuation tests on a real database."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pandas as pd
from sqlalchemy.orm import Session

from forecaster.profiles import ScalingProfile
from forecaster.storage.actuations import record_actuation
from forecaster.storage.db import Database
from forecaster.storage.forecasts import save_forecast, save_model_run
from forecaster.storage.orm import Actuation, Plan, Service
from forecaster.storage.plans import save_plan
from forecaster.storage.samples import ensure_series
from forecaster.storage.services import get_service, upsert_service
from forecaster.timeutil import utc_now

STEP = 300


def make_service(
    database: Database,
    *,
    name: str = "chat",
    targets: list[dict[str, Any]] | None = None,
    enabled: bool = True,
    **fields: Any,
) -> None:
    with database.session() as session:
        upsert_service(
            session=session, name=name, profile=scaling_profile(targets, **fields), enabled=enabled
        )


def scaling_profile(targets: list[dict[str, Any]] | None = None, **fields: Any) -> ScalingProfile:
    """The profile :func:`make_service` stores: 10 requests a replica, actuated."""
    return ScalingProfile.model_validate(
        {"capacity_per_replica": 10, "forecast_only": False, "targets": targets or [], **fields}
    )


def record_push(
    session: Session,
    service_id: int,
    *,
    outcome: str,
    target: str = "ml/chat",
    dry_run: bool = False,
    error: str | None = None,
    actor: str = "scheduler",
) -> Actuation:
    """An audited push to an HPA, as the actuation pass records one (nothing before or after)."""
    return record_actuation(
        session=session,
        service_id=service_id,
        plan_id=None,
        target=target,
        kind="kubernetes-hpa",
        dry_run=dry_run,
        outcome=outcome,
        before={},
        after={},
        error=error,
        actor=actor,
    )


def store_plan(
    database: Database,
    *,
    name: str = "chat",
    replicas: list[int],
    start: datetime | None = None,
    generated_at: datetime | None = None,
    tier: str | None = None,
    reason: str = "test",
    data_until: datetime | None = None,
    summary: dict[str, Any] | None = None,
    loads: list[float] | None = None,
) -> int:
    """A plan whose first step is in force now (or at ``start``), one value per 5-min step;
    ``tier`` is every step's mix of capacity tiers (``"CPU:3+L4:4"``), ``reason`` its reason;
    with ``data_until``, made from a stored forecast whose history ended then; ``loads`` the
    steps' forecast load (default: what the replicas serve at capacity 10 and 0.7)."""
    first = pd.Timestamp(start or utc_now()).floor(f"{STEP}s")
    index = pd.date_range(first, periods=len(replicas), freq=f"{STEP}s")
    frame = pd.DataFrame(
        {
            "replicas": replicas,
            "gpus": replicas,
            "load": loads if loads is not None else [r * 7.0 for r in replicas],
            "cost_per_hour": [0.0] * len(replicas),
            "reason": [reason] * len(replicas),
            "tier": [tier] * len(replicas),
        },
        index=index,
    )
    with database.session() as session:
        service = get_service(session=session, name=name)
        forecast_id = None
        if data_until is not None:
            forecast_id = _forecast_from(session, service, data_until, len(replicas))
        plan = save_plan(
            session=session,
            service_id=service.id,
            forecast_id=forecast_id,
            step_seconds=STEP,
            quantile=0.95,
            frame=frame,
            total_cost=0.0,
            summary=summary,
        )
        if generated_at is not None:
            session.get_one(Plan, plan.id).generated_at = generated_at
        return plan.id


def _forecast_from(session: Session, service: Service, origin: datetime, steps: int) -> int:
    """A stored forecast of ``steps`` 5-min steps from ``origin``: its id."""
    key = (service.id, "requests_per_second", {}, None)
    series_id = next(iter(ensure_series(session=session, keys=[key]).values()))
    run = save_model_run(
        session=session, series_id=series_id, model="test", step_seconds=STEP, status="ok"
    )
    index = pd.date_range(pd.Timestamp(origin).floor(f"{STEP}s"), periods=steps, freq=f"{STEP}s")
    frame = pd.DataFrame({q: [10.0] * steps for q in ("p50", "p90", "p95", "p99")}, index=index)
    forecast = save_forecast(
        session=session, run_id=run.id, series_id=series_id, step_seconds=STEP, frame=frame
    )
    return forecast.id


def hours(n: float) -> timedelta:
    return timedelta(hours=n)
