"""The deploy manifests stay in step with the code: a valid example profile, minimal RBAC."""

from __future__ import annotations

from pathlib import Path

import yaml

from forecaster.profiles import load_profile

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"


def test_example_profile_is_a_valid_profile_with_targets() -> None:
    profile = load_profile(DEPLOY / "example-profile.yaml")
    assert not profile.forecast_only
    assert [t.kind for t in profile.targets] == ["kubernetes-hpa", "aws-autoscaling-group"]


def test_role_allows_only_get_and_patch_on_hpas_and_scaled_objects() -> None:
    documents = list(yaml.safe_load_all((DEPLOY / "rbac.yaml").read_text()))
    [role] = [d for d in documents if d["kind"] == "Role"]
    granted = {
        (group, resource, verb)
        for rule in role["rules"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }
    assert granted == {
        ("autoscaling", "horizontalpodautoscalers", "get"),
        ("autoscaling", "horizontalpodautoscalers", "patch"),
        ("keda.sh", "scaledobjects", "get"),
        ("keda.sh", "scaledobjects", "patch"),
    }
    [binding] = [d for d in documents if d["kind"] == "RoleBinding"]
    assert binding["roleRef"]["name"] == role["metadata"]["name"]


def test_example_hpa_and_deployments_parse() -> None:
    hpa = yaml.safe_load((DEPLOY / "example-hpa.yaml").read_text())
    assert hpa["apiVersion"] == "autoscaling/v2" and hpa["spec"]["minReplicas"] == 2
    kinds = [d["kind"] for d in yaml.safe_load_all((DEPLOY / "deployment.yaml").read_text())]
    assert kinds == ["Deployment", "Deployment"]
