"""The actuator contract: what an actuator is given, what it returns, how it is built.

Every actuator (built-in or third-party, found through the ``forecaster.actuators`` entry-point
group) is a class with a pydantic ``config_model`` for its target's config, built with that
config and an :class:`ActuatorContext`, whose ``apply`` pushes a :class:`PlanWindow`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal, Protocol

from pydantic import BaseModel, ConfigDict

from forecaster.actuators.retry import RetryPolicy
from forecaster.actuators.window import PlanWindow

Outcome = Literal["applied", "unchanged", "restored", "failed"]


class ActuatorConfig(BaseModel):
    """Base of every actuator's target config: unknown keys are refused, not ignored.

    ``object_fields`` names the fields that say which object the target scales (empty: all of
    them); two targets that agree on those scale the same object, whatever their options.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)
    object_fields: ClassVar[tuple[str, ...]] = ()

    def object_key(self) -> dict[str, Any]:
        """The object this target scales: its ``object_fields``, defaults filled in. A config
        whose fields only say how to reach the object resolves them here (Kubernetes)."""
        fields = self.object_fields or tuple(type(self).model_fields)
        return self.model_dump(mode="json", include=set(fields))


@dataclass(frozen=True)
class ActuatorContext:
    """What every actuator needs from the process: timeouts and the retry policy.

    ``connect_timeout`` and ``read_timeout`` bound every outbound call (seconds),
    ``credential_timeout`` a credential helper the client runs (a kubeconfig's exec plugin,
    AWS's ``credential_process``).
    ``unreachable``: API servers that timed out or refused earlier in this pass (one set a
    pass; None keeps none), whose later targets fail at once: each waited ~45 s, and seven
    on a hung cluster made the 5-minute pass late for every healthy service after them.
    """

    connect_timeout: float = 3.0
    read_timeout: float = 10.0
    credential_timeout: float = 30.0
    unreachable: set[str] | None = None
    retry: RetryPolicy = field(default_factory=RetryPolicy)


@dataclass
class ActuationResult:
    """The outcome of one push (or dry run) to one target, as it is audited.

    ``before`` and ``after`` are the target's relevant state (after = what a dry run would
    write); ``notes`` explain adjustments (step cap, max clamp, restore reason).
    """

    target: str
    outcome: Outcome
    before: dict[str, Any] = field(default_factory=dict)
    after: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    notes: list[str] = field(default_factory=list)
    attempts: int = 1

    @property
    def changed(self) -> bool:
        return self.before != self.after


class Actuator(Protocol):
    """Pushes plans to one target (one HPA, one Auto Scaling group, ...)."""

    kind: ClassVar[str]

    @property
    def target(self) -> str:
        """A stable, human-readable identity of the target, e.g. ``ml/chat``."""
        ...

    def apply(self, plan: PlanWindow, *, dry_run: bool) -> ActuationResult:
        """Move the target towards ``plan`` (or back to its baseline when the plan is not
        active). Must not raise for target errors: a failure is an outcome."""
        ...


class ActuatorClass(Protocol):
    """What the entry-point group yields: a class with a config model, built from a config."""

    config_model: type[ActuatorConfig]

    def __call__(self, config: Any, context: ActuatorContext) -> Actuator: ...


class ActuationFailedError(Exception):
    """A target answered with an error that retrying will not fix (403, 404, invalid)."""
