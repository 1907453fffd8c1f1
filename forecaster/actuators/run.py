"""Actuate one service: cut the plan window, push it to each of its targets, audit each push.

Called by the scheduled actuate job, ``POST /v1/services/{name}/actuate`` and ``forecaster
actuate``. Targets are independent: one failing (or a plugin raising) never stops the others,
and each record is committed as soon as its push ends. Targets taken out of the profile get
their baselines back (:mod:`forecaster.actuators.retired`). A scheduled pass whose leadership
term has ended during a push (a slow cluster, retried) pushes no further target.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from forecaster.actuators import registry
from forecaster.actuators.base import ActuationResult, ActuatorContext
from forecaster.actuators.retired import audit_label, given_up, retired_target, without
from forecaster.actuators.retry import RetryPolicy, describe_error
from forecaster.actuators.window import PlanStatus, PlanWindow, load_windows
from forecaster.errors import ForecasterError
from forecaster.leadership import check_leading
from forecaster.profiles import ActuationTarget
from forecaster.settings import Settings
from forecaster.storage.actuations import record_actuation
from forecaster.storage.db import Database
from forecaster.storage.orm import Actuation
from forecaster.storage.services import get_service, locked_service, profile_of
from forecaster.timeutil import utc_now

log = logging.getLogger(__name__)

GIVEN_UP = "no longer retried: taken out of the profile over a day ago and still failing"


@dataclass(frozen=True)
class ServiceActuation:
    """What one actuation of a service did: the window it pushed and one record per target."""

    window: PlanWindow
    records: list[Actuation]


def actuator_context(settings: Settings) -> ActuatorContext:
    """Timeouts and retries for the actuators of one pass, from settings."""
    return ActuatorContext(
        connect_timeout=settings.actuator_connect_timeout_seconds,
        read_timeout=settings.actuator_read_timeout_seconds,
        credential_timeout=settings.actuator_credential_timeout_seconds,
        unreachable=set(),
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
    context: ActuatorContext | None = None,
) -> ServiceActuation:
    """Push the service's plan (or its targets' baselines) to every target; audit each.
    ``context``: a pass over several services shares one (default: this service's own).

    Targets taken out of the profile are restored first, so that one still in it under
    another config (a new kubeconfig for the same HPA) ends the pass holding the plan.
    Passes of one service run one at a time, across processes (the scheduled pass, the API's
    and the CLI's): two interleaved on an AWS group, one restoring and one pushing, left it
    at the plan's floor with the restore action, where its baseline lives, deleted.
    """
    with database.one_at_a_time(f"actuate:{name}"):
        context = context or actuator_context(settings)
        return _actuate_service(database, name, settings, context, dry_run=dry_run, actor=actor)


def _actuate_service(
    database: Database,
    name: str,
    settings: Settings,
    context: ActuatorContext,
    *,
    dry_run: bool,
    actor: str,
) -> ServiceActuation:
    now = utc_now()
    with database.session() as session:
        service = get_service(session=session, name=name)
        profile = profile_of(service)
        # one window of the total, and one per tier a target scales
        windows = load_windows(
            session=session,
            service=service,
            profile=profile,
            now=now,
            window_seconds=settings.actuation_interval_seconds + settings.actuation_lead_seconds,
            max_age_seconds=settings.actuation_max_plan_age_seconds,
            push_seconds=settings.actuation_interval_seconds,
            preview=dry_run,
            tiers=[None, *(target.tier for target in profile.targets)],
        )
        service_id = service.id
        retired = list(service.retired_targets)
    restore = PlanWindow(name, PlanStatus.RETIRED, "taken out of the profile", now, profile)
    pushes: list[tuple[ActuationTarget, PlanWindow, dict[str, Any] | None]]
    pushes = [(retired_target(entry), restore, entry) for entry in retired]
    pushes += [(target, windows[target.tier], None) for target in profile.targets]
    records: list[Actuation] = []
    finished: list[dict[str, Any]] = []
    try:
        for done, (target, target_window, entry) in enumerate(pushes):
            # a scheduled pass whose term ended during the last push (a slow cluster, retried)
            check_leading(done, len(pushes), "targets", finishing=True)
            result = push(target, target_window, context, dry_run=dry_run)
            if result.outcome == "failed":
                log.warning("%s %s: %s", name, result.target, result.error)
            if entry is not None and not dry_run:
                if result.outcome != "failed":
                    finished.append(entry)
                elif given_up(entry, now):
                    result.notes.append(GIVEN_UP)
                    finished.append(entry)
            with database.session() as session:
                records.append(
                    record_actuation(
                        session=session,
                        service_id=service_id,
                        plan_id=target_window.plan_id,
                        target=audit_label(target, result.target),
                        kind=target.kind,
                        dry_run=dry_run,
                        outcome=result.outcome,
                        before=result.before,
                        after={
                            "state": result.after,
                            "notes": result.notes,
                            "attempts": result.attempts,
                            "window": target_window.summary(),
                        },
                        error=result.error,
                        actor=actor,
                    )
                )
    finally:  # the restores done are kept, the pass stopped part-way or not
        if finished:  # read and written under the row's lock: a profile update meanwhile
            # (another replica's PUT retiring one more target) was overwritten, its target
            # left at its floor for good
            with database.session() as session:
                service = locked_service(session=session, name=name)
                service.retired_targets = without(service.retired_targets, finished)
    return ServiceActuation(window=windows[None], records=records)
