"""keda-scaledobject through CustomObjectsApi against the fake API server over real HTTP."""

from __future__ import annotations

from typing import Any

from forecaster.actuators.keda_scaledobject import KedaScaledObjectActuator
from forecaster.actuators.kube import APPLIED_MAX, APPLIED_MIN, BASELINE_MIN, BASELINE_UNSET
from forecaster.actuators.window import PlanStatus
from tests.actuators.conftest import FAST, SCALED_OBJECT, window
from tests.fakes.kube_api import FakeKubeApi


def scaled_object(**spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "keda.sh/v1alpha1",
        "kind": "ScaledObject",
        "metadata": {"name": "chat", "namespace": "ml"},
        "spec": {"scaleTargetRef": {"name": "chat"}, **spec},
    }


def actuator(kubeconfig: str) -> KedaScaledObjectActuator:
    config = {"namespace": "ml", "name": "chat", "kubeconfig": kubeconfig}
    return KedaScaledObjectActuator(
        KedaScaledObjectActuator.config_model.model_validate(config), FAST
    )


def spec(kube: FakeKubeApi) -> dict[str, Any]:
    return kube.get(*SCALED_OBJECT, "ml", "chat")["spec"]


def test_raises_min_replica_count_with_a_merge_patch(kube: FakeKubeApi, kubeconfig: str) -> None:
    kube.add(*SCALED_OBJECT, scaled_object(minReplicaCount=1, maxReplicaCount=20))
    result = actuator(kubeconfig).apply(window(5), dry_run=False)
    assert result.outcome == "applied", result.error
    assert spec(kube)["minReplicaCount"] == 5
    [patch] = kube.patches()
    # custom resources refuse strategic merge patches: the content type must be merge-patch
    assert patch.content_type == "application/merge-patch+json"
    assert patch.path == "/apis/keda.sh/v1alpha1/namespaces/ml/scaledobjects/chat"
    meta = kube.get(*SCALED_OBJECT, "ml", "chat")["metadata"]
    assert meta["annotations"] == {BASELINE_MIN: "1", APPLIED_MIN: "5", APPLIED_MAX: "20"}


def test_omitted_fields_take_keda_defaults_and_are_left_out_again_on_restore(
    kube: FakeKubeApi, kubeconfig: str
) -> None:
    """A restore wrote KEDA's defaults out (``minReplicaCount: 0``, ``maxReplicaCount: 100``)
    on an object that had left both out: it puts back what it found, so the object matches
    its manifest again (QA)."""
    kube.add(*SCALED_OBJECT, scaled_object())  # KEDA defaults: min 0, max 100
    applied = actuator(kubeconfig).apply(window(3), dry_run=False)
    assert applied.outcome == "applied", applied.error
    assert spec(kube)["minReplicaCount"] == 3 and "maxReplicaCount" not in spec(kube)
    meta = kube.get(*SCALED_OBJECT, "ml", "chat")["metadata"]
    assert meta["annotations"][BASELINE_UNSET] == "maxReplicaCount,minReplicaCount"
    again = actuator(kubeconfig).apply(window(3), dry_run=False)
    assert again.outcome == "unchanged" and len(kube.patches()) == 1
    result = actuator(kubeconfig).apply(window(None, status=PlanStatus.RETIRED), dry_run=False)
    assert result.outcome == "restored", result.error
    assert spec(kube) == {"scaleTargetRef": {"name": "chat"}}
    assert not kube.get(*SCALED_OBJECT, "ml", "chat")["metadata"].get("annotations")
    assert actuator(kubeconfig).apply(window(None), dry_run=False).outcome == "unchanged"


def test_a_maximum_raised_from_keda_default_is_left_out_again_and_a_set_minimum_kept(
    kube: FakeKubeApi, kubeconfig: str
) -> None:
    kube.add(*SCALED_OBJECT, scaled_object(minReplicaCount=2))
    applied = actuator(kubeconfig).apply(
        window(105, max_replicas=200, max_capacity_breach="increase"), dry_run=False
    )
    assert applied.outcome == "applied", applied.error
    assert (spec(kube)["minReplicaCount"], spec(kube)["maxReplicaCount"]) == (105, 105)
    actuator(kubeconfig).apply(window(None, status=PlanStatus.RETIRED), dry_run=False)
    assert spec(kube) == {"scaleTargetRef": {"name": "chat"}, "minReplicaCount": 2}


def test_a_minimum_set_by_a_person_meanwhile_is_restored_as_set(
    kube: FakeKubeApi, kubeconfig: str
) -> None:
    """Left out at first, then set outside forecaster: the person's value is the baseline now,
    and the restore keeps it (the maximum, never set, is left out again)."""
    kube.add(*SCALED_OBJECT, scaled_object())
    actuator(kubeconfig).apply(window(3), dry_run=False)
    kube.modify(*SCALED_OBJECT, "ml", "chat", {"minReplicaCount": 2})
    adopted = actuator(kubeconfig).apply(window(3), dry_run=False)
    assert "taken as the new baseline" in " ".join(adopted.notes)
    meta = kube.get(*SCALED_OBJECT, "ml", "chat")["metadata"]
    assert meta["annotations"][BASELINE_UNSET] == "maxReplicaCount"
    actuator(kubeconfig).apply(window(None, status=PlanStatus.RETIRED), dry_run=False)
    assert spec(kube) == {"scaleTargetRef": {"name": "chat"}, "minReplicaCount": 2}


def test_conflict_then_success(kube: FakeKubeApi, kubeconfig: str) -> None:
    kube.add(*SCALED_OBJECT, scaled_object(minReplicaCount=1, maxReplicaCount=20))
    kube.before_patch.append(
        lambda: kube.modify(*SCALED_OBJECT, "ml", "chat", {"maxReplicaCount": 30})
    )
    result = actuator(kubeconfig).apply(window(5), dry_run=False)
    assert [p.status for p in kube.patches()] == [409, 200]
    assert result.outcome == "applied"
    assert (spec(kube)["minReplicaCount"], spec(kube)["maxReplicaCount"]) == (5, 30)


def test_missing_scaled_object_and_forbidden_read(kube: FakeKubeApi, kubeconfig: str) -> None:
    missing = actuator(kubeconfig).apply(window(5), dry_run=False)
    assert missing.outcome == "failed" and (missing.error or "").startswith("not found:")
    kube.add(*SCALED_OBJECT, scaled_object(minReplicaCount=1))
    kube.forbid("get", "scaledobjects")
    forbidden = actuator(kubeconfig).apply(window(5), dry_run=False)
    assert forbidden.outcome == "failed" and "scaledobjects.keda.sh" in (forbidden.error or "")
    assert (forbidden.error or "").startswith("forbidden:")


def test_a_baseline_a_person_moved_off_the_default_is_written_on_restore(
    kube: FakeKubeApi, kubeconfig: str
) -> None:
    """Review: with the minimum left out at first, a person's edit of the baseline annotation
    (as the annotation's own error message invites) was ignored, and the restore left the
    field out: KEDA's 0, where the audit said 2."""
    kube.add(*SCALED_OBJECT, scaled_object())
    actuator(kubeconfig).apply(window(3), dry_run=False)
    kube.modify(*SCALED_OBJECT, "ml", "chat", {}, {BASELINE_MIN: "2"})
    result = actuator(kubeconfig).apply(window(None, status=PlanStatus.RETIRED), dry_run=False)
    assert result.outcome == "restored", result.error
    assert spec(kube) == {"scaleTargetRef": {"name": "chat"}, "minReplicaCount": 2}
    assert result.after is not None and result.after["minReplicaCount"] == 2


def test_a_field_a_person_writes_in_at_its_default_meanwhile_is_kept(
    kube: FakeKubeApi, kubeconfig: str
) -> None:
    """Review: a maximum written in at KEDA's default while forecaster held the object (a
    GitOps sync of a manifest that now sets it) was deleted again at every actuation."""
    kube.add(*SCALED_OBJECT, scaled_object())
    actuator(kubeconfig).apply(window(3), dry_run=False)
    kube.modify(*SCALED_OBJECT, "ml", "chat", {"maxReplicaCount": 100})
    adopted = actuator(kubeconfig).apply(window(3), dry_run=False)
    assert "maxReplicaCount was set to 100 outside forecaster (it had left it out)" in " ".join(
        adopted.notes
    )
    assert spec(kube)["maxReplicaCount"] == 100
    assert actuator(kubeconfig).apply(window(3), dry_run=False).outcome == "unchanged"
    assert spec(kube)["maxReplicaCount"] == 100
    actuator(kubeconfig).apply(window(None, status=PlanStatus.RETIRED), dry_run=False)
    assert spec(kube) == {"scaleTargetRef": {"name": "chat"}, "maxReplicaCount": 100}


def test_a_field_a_person_removes_meanwhile_is_left_out_and_said_so(
    kube: FakeKubeApi, kubeconfig: str
) -> None:
    kube.add(*SCALED_OBJECT, scaled_object(minReplicaCount=1))
    actuator(kubeconfig).apply(window(3), dry_run=False)
    kube.modify(*SCALED_OBJECT, "ml", "chat", {"minReplicaCount": None})
    adopted = actuator(kubeconfig).apply(window(3), dry_run=False)
    assert (
        "minReplicaCount was removed (0 applies) outside forecaster (it had written 3): "
        "taken as the new baseline" in adopted.notes
    )
    actuator(kubeconfig).apply(window(None, status=PlanStatus.RETIRED), dry_run=False)
    assert spec(kube) == {"scaleTargetRef": {"name": "chat"}}
