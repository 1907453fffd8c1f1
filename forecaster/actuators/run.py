"""Actuate one service: cut the plan window, push it to each of its targets, audit each push.

Called by the scheduled actuate job, ``POST /v1/services/{name}/actuate`` and ``forecaster
actuate``. Targets are independent: one failing (or a plugin raising) never stops the others,
and each record is committed as soon as its push ends.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from forecaster.actuators import registry
from forecaster.actuators.base import ActuationResult, ActuatorContext
from forecaster.actuators.retry import RetryPolicy, describe_error
from forecaster.actuators.window import PlanWindow, load_window
from forecaster.errors import ForecasterError
from forecaster.profiles import ActuationTarget
from forecaster.settings import Settings
from forecaster.storage.actuations import record_actuation
from forecaster.storage.db import Database
from forecaster.storage.orm import Actuation
from forecaster.storage.services import get_service, profile_of
from forecaster.timeutil import utc_now

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ServiceActuation:
    """What one actuation of a service did: the window it pushed and one record per target."""

    window: PlanWindow
    records: list[Actuation]


def actuator_context(settings: Settings) -> ActuatorContext:
    """Timeouts and retries for every actuator of this process, from settings."""
    return ActuatorContext(
        connect_timeout=settings.actuator_connect_timeout_seconds,
        read_timeout=settings.actuator_read_timeout_seconds,
        retry=RetryPolicy(
            attempts=settings.actuator_retry_attempts,
            base_delay=settings.actuator_retry_base_seconds,
            max_delay=settings.actuator_retry_max_seconds,
        ),
    )


def push(
    target: ActuationTarget, window: PlanWindow, context: ActuatorContext, *, dry_run: bool
) -> ActuationResult:
    """Build the target's actuator and apply the window; any error becomes a failed result."""
    label = target.name or target.kind
    try:
        actuator = registry.build(target.kind, target.config, context)
        label = actuator.target
        return actuator.apply(window, dry_run=dry_run)
    except ForecasterError as error:  # unknown kind, bad config: the message says which
        return ActuationResult(target=label, outcome="failed", error=str(error))
    except Exception as error:  # a plugin that raises must not stop the other targets
        log.exception("actuator %s raised", target.kind)
        return ActuationResult(label, "failed", error=describe_error(error))


def actuate_service(
    database: Database,
    name: str,
    settings: Settings,
    *,
    dry_run: bool = False,
    actor: str = "scheduler",
) -> ServiceActuation:
    """Push the service's plan (or its targets' baselines) to every target; audit each."""
    now = utc_now()
    with database.session() as session:
        service = get_service(session=session, name=name)
        profile = profile_of(service)
        window = load_window(
            session=session,
            service=service,
            profile=profile,
            now=now,
            window_seconds=settings.actuation_interval_seconds + settings.actuation_lead_seconds,
            max_age_seconds=settings.actuation_max_plan_age_hours * 3600,
            preview=dry_run,
        )
        service_id = service.id
    context = actuator_context(settings)
    records: list[Actuation] = []
    for target in profile.targets:
        result = push(target, window, context, dry_run=dry_run)
        if result.outcome == "failed":
            log.warning("%s %s: %s", name, result.target, result.error)
        with database.session() as session:
            records.append(
                record_actuation(
                    session=session,
                    service_id=service_id,
                    plan_id=window.plan_id,
                    target=f"{target.name}: {result.target}" if target.name else result.target,
                    kind=target.kind,
                    dry_run=dry_run,
                    outcome=result.outcome,
                    before=result.before,
                    after={
                        "state": result.after,
                        "notes": result.notes,
                        "attempts": result.attempts,
                        "window": window.summary(),
                    },
                    error=result.error,
                    actor=actor,
                )
            )
    return ServiceActuation(window=window, records=records)
