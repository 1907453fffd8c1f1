"""Targets taken out of a profile are put back to their baselines before they are forgotten.

An HPA that forecaster raised to a plan's floor holds that floor until someone lowers it. If the
target simply vanished from the profile, nobody would: the HPA stayed at the last floor, with
forecaster's annotations, long after the plan went stale. So a profile update keeps the targets
it removed (``services.retired_targets``); the actuation pass restores each one's baseline and
forgets it once that worked, or after a day of failed tries (its records say why).

A target is the same target when it scales the same object: renaming it, changing options
that leave it on that object (``allow_below_baseline``, how far AWS schedules ahead), or how it
reaches it (a default written out, a kubeconfig copied to another path) changes nothing, so an
edit like that neither restores the object nor drops its floor for a pass.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from forecaster.actuators.base import ActuatorContext
from forecaster.actuators.registry import build, object_identity
from forecaster.profiles import STORED, ActuationTarget
from forecaster.timeutil import as_utc

RETRY_FOR = timedelta(days=1)
RETIRED_AT = "retired_at"


def _identity(target: ActuationTarget | dict[str, Any]) -> str:
    entry = target.model_dump(mode="json") if isinstance(target, ActuationTarget) else target
    return object_identity(entry["kind"], entry.get("config", {}))


def retire_removed(
    retired: Sequence[dict[str, Any]],
    *,
    before: Sequence[ActuationTarget],
    after: Sequence[ActuationTarget],
    now: datetime,
) -> list[dict[str, Any]]:
    """The retired list once a profile's targets go from ``before`` to ``after``: targets
    removed join it, and targets that came back leave it (the pass pushes them again)."""
    kept = {_identity(target) for target in after}
    waiting = [entry for entry in retired if _identity(entry) not in kept]
    known = kept | {_identity(entry) for entry in waiting}
    for target in before:
        if _identity(target) not in known:
            known.add(_identity(target))
            waiting.append({**target.model_dump(mode="json"), RETIRED_AT: now.isoformat()})
    return waiting


def retired_target(entry: dict[str, Any]) -> ActuationTarget:
    """The target a retired entry stands for (not re-checked, as a stored profile's are not)."""
    fields = {key: value for key, value in entry.items() if key != RETIRED_AT}
    return ActuationTarget.model_validate(fields, context=STORED)


def audit_label(target: ActuationTarget, shown: str) -> str:
    """What the audit records a push to ``target`` under: its name, then the object its
    actuator shows (``shown``), or the object alone."""
    return f"{target.name}: {shown}" if target.name else shown


def recorded_label(entry: dict[str, Any]) -> str | None:
    """The :func:`audit_label` a retired entry's actuations are recorded under, or None when
    its actuator cannot be built here (an uninstalled plugin)."""
    target = retired_target(entry)
    try:
        shown = build(target.kind, target.config, ActuatorContext()).target
    except Exception:  # noqa: BLE001 - a plugin gone or broken: the kind alone must do
        return None
    return audit_label(target, shown)


def retired_at(entry: dict[str, Any]) -> datetime:
    """When a retired target left its profile (UTC)."""
    return as_utc(datetime.fromisoformat(entry[RETIRED_AT]))


def given_up_at(entry: dict[str, Any]) -> datetime:
    """When the actuation pass stops trying to restore a retired target."""
    return retired_at(entry) + RETRY_FOR


def given_up(entry: dict[str, Any], now: datetime) -> bool:
    """Whether a retired target has failed to restore for long enough to stop trying."""
    return now >= given_up_at(entry)


def without(
    retired: Sequence[dict[str, Any]], done: Sequence[dict[str, Any]]
) -> list[dict[str, Any]]:
    """``retired`` less the entries in ``done`` (read again after the pushes: a profile update
    may have changed the list meanwhile)."""
    finished = {_identity(entry) for entry in done}
    return [entry for entry in retired if _identity(entry) not in finished]
