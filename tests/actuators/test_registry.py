"""Actuators are found through the forecaster.actuators entry-point group, ours and others'."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from forecaster.actuators import registry
from forecaster.errors import InvalidInputError
from forecaster.profiles import ScalingProfile
from tests.actuators.conftest import FAST

BUILT_IN = [
    "aws-application-autoscaling",
    "aws-autoscaling-group",
    "keda-scaledobject",
    "kubernetes-hpa",
]


def test_built_in_actuators_are_registered_as_entry_points() -> None:
    kinds = registry.available()
    assert [k for k in kinds if k in BUILT_IN] == BUILT_IN
    for kind in BUILT_IN:
        assert registry.actuator_class(kind).config_model is not None


def test_a_third_party_entry_point_is_discovered(plugin_on_path: None) -> None:
    assert "acme-echo" in registry.available()
    actuator = registry.build("acme-echo", {"label": "x"}, FAST)
    assert actuator.target == "echo/x"


def test_an_installed_kind_that_does_not_import_is_a_clear_error(plugin_on_path: None) -> None:
    """A broken or half-upgraded plugin package: a profile naming it is refused (422), not a
    500, and a push to it fails alone with the same reason."""
    with pytest.raises(InvalidInputError, match='"acme-uninstalled" is installed but cannot be'):
        registry.actuator_class("acme-uninstalled")
    with pytest.raises(ValidationError, match="ModuleNotFoundError"):
        ScalingProfile.model_validate(
            {"capacity_per_replica": 10, "targets": [{"kind": "acme-uninstalled"}]}
        )


def test_unknown_kind_and_bad_config_are_clear_errors() -> None:
    with pytest.raises(InvalidInputError, match='unknown actuator kind "kubernetes-hap"'):
        registry.actuator_class("kubernetes-hap")
    with pytest.raises(
        InvalidInputError, match="kubernetes-hpa target config: name: Field required"
    ):
        registry.validate_config("kubernetes-hpa", {"namespace": "ml"})
    with pytest.raises(InvalidInputError, match="nmae: Extra inputs are not permitted"):
        registry.validate_config("kubernetes-hpa", {"namespace": "ml", "name": "a", "nmae": "b"})


def test_profiles_refuse_bad_targets_when_they_are_written() -> None:
    base = {"capacity_per_replica": 10}
    with pytest.raises(ValidationError, match="unknown actuator kind"):
        ScalingProfile.model_validate({**base, "targets": [{"kind": "nope"}]})
    with pytest.raises(ValidationError, match="region"):
        ScalingProfile.model_validate(
            {**base, "targets": [{"kind": "aws-autoscaling-group", "config": {"group": "g"}}]}
        )
    target = {"kind": "kubernetes-hpa", "config": {"namespace": "ml", "name": "chat"}}
    with pytest.raises(ValidationError, match="scale the same object"):
        ScalingProfile.model_validate({**base, "targets": [target, target]})
    both = ScalingProfile.model_validate(
        {
            **base,
            "targets": [
                target,
                {"kind": "keda-scaledobject", "config": {"namespace": "ml", "name": "chat"}},
            ],
        }
    )
    assert len(both.targets) == 2


def test_a_profile_refuses_two_targets_on_one_object_however_they_differ(
    kubeconfig: str,
) -> None:
    """Both were accepted, and each pass wrote the HPA twice (1 -> 4 -> 5, then 5 -> 4 -> 5),
    both records saying "applied"."""
    tiers = [
        {"name": "CPU", "capacity_per_replica": 10, "cost_per_replica_hour": 1},
        {"name": "L4", "capacity_per_replica": 40, "cost_per_replica_hour": 3},
    ]
    config = {"namespace": "ml", "name": "chat", "kubeconfig": kubeconfig}
    first = {"kind": "kubernetes-hpa", "name": "gpu", "config": config, "tier": "L4"}
    second = {"kind": "kubernetes-hpa", "config": {**config, "allow_below_baseline": False}}
    for other in (second, {**second, "tier": "CPU"}):
        with pytest.raises(ValidationError) as refused:
            ScalingProfile.model_validate(
                {"capacity_per_replica": 10, "tiers": tiers, "targets": [first, other]}
            )
        assert 'targets "gpu" and kubernetes-hpa {"namespace": "ml"' in str(refused.value)
        assert "scale the same object" in str(refused.value)
