"""Find actuators by kind through the ``forecaster.actuators`` entry-point group.

Our own actuators are declared in pyproject.toml exactly as a third-party package declares its
own, so there is one way in: ``[project.entry-points."forecaster.actuators"]`` maps a kind
(``kubernetes-hpa``) to a class (``forecaster.actuators.kubernetes_hpa:KubernetesHpaActuator``).
"""

from __future__ import annotations

import json
from functools import lru_cache
from importlib.metadata import entry_points
from typing import Any

from pydantic import ValidationError

from forecaster.actuators.base import Actuator, ActuatorClass, ActuatorConfig, ActuatorContext
from forecaster.actuators.retry import describe_error
from forecaster.errors import InvalidInputError, listing, quoted, validation_problems

GROUP = "forecaster.actuators"


@lru_cache
def available() -> dict[str, str]:
    """Every installed kind and the ``module:Class`` it names, sorted by kind."""
    found = {ep.name: ep.value for ep in entry_points(group=GROUP)}
    return dict(sorted(found.items()))


@lru_cache
def actuator_class(kind: str) -> ActuatorClass:
    """The class registered for ``kind``; InvalidInputError naming the known kinds if none, or
    saying why an installed one does not import (a broken or half-upgraded package), so that
    a profile naming it is refused with a 422 and a push to it fails alone, with the reason."""
    matches = [ep for ep in entry_points(group=GROUP) if ep.name == kind]
    if not matches:
        raise InvalidInputError(
            f"unknown actuator kind {quoted(kind)}; installed: {listing(available()) or 'none'}"
        )
    try:
        loaded: ActuatorClass = matches[0].load()
    except Exception as error:
        raise InvalidInputError(
            f"actuator kind {quoted(kind)} is installed but cannot be loaded from "
            f"{matches[0].value}: {describe_error(error)}"
        ) from error
    return loaded


def validate_config(kind: str, config: dict[str, Any]) -> ActuatorConfig:
    """The target config parsed by its actuator's model; InvalidInputError says what is wrong."""
    model = actuator_class(kind).config_model
    try:
        return model.model_validate(config)
    except ValidationError as error:
        problems = validation_problems(error, "config")
        raise InvalidInputError(f"{kind} target config: {problems}") from None


def object_key(kind: str, config: dict[str, Any]) -> dict[str, Any]:
    """What names the object a target scales (its config's ``object_key``, defaults filled in).
    Two targets with the same kind and key scale the same object, whatever their options (a
    default written out, a step of AWS scheduling). A config its kind cannot read (a plugin
    uninstalled since) is its own key."""
    try:
        parsed = validate_config(kind, config)
    except InvalidInputError:
        return config
    return parsed.object_key()


def object_identity(kind: str, config: dict[str, Any]) -> str:
    """A target's kind and :func:`object_key` as one comparable value: equal for two targets
    that scale the same object."""
    return json.dumps([kind, object_key(kind, config)], sort_keys=True)


def build(kind: str, config: dict[str, Any], context: ActuatorContext) -> Actuator:
    """A ready actuator for one target."""
    return actuator_class(kind)(validate_config(kind, config), context)


def clear_cache() -> None:
    """Forget what was discovered (after installing a plugin at run time, and in tests)."""
    available.cache_clear()
    actuator_class.cache_clear()
