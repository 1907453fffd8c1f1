"""The fake API server refuses what a real one refuses, so actuator tests can fail honestly."""

from __future__ import annotations

import httpx
import pytest
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from tests.actuators.conftest import HPA, SCALED_OBJECT, hpa
from tests.fakes.kube_api import TOKEN, FakeKubeApi


def api_client(kubeconfig: str) -> client.ApiClient:
    configuration = client.Configuration()
    config.load_kube_config(config_file=kubeconfig, client_configuration=configuration)
    return client.ApiClient(configuration)


def test_strategic_merge_patch_is_refused_for_custom_resources(
    kube: FakeKubeApi, kubeconfig: str
) -> None:
    kube.add(*SCALED_OBJECT, {"metadata": {"name": "chat", "namespace": "ml"}, "spec": {}})
    objects = client.CustomObjectsApi(api_client(kubeconfig))
    with pytest.raises(ApiException) as caught:
        objects.patch_namespaced_custom_object(
            "keda.sh",
            "v1alpha1",
            "ml",
            "scaledobjects",
            "chat",
            {"spec": {"minReplicaCount": 2}},
            _content_type="application/strategic-merge-patch+json",
        )
    assert caught.value.status == 415


def test_json_patch_needs_a_list_and_validation_applies(kube: FakeKubeApi, kubeconfig: str) -> None:
    kube.add(*HPA, hpa(low=2, high=10))
    path = "/apis/autoscaling/v2/namespaces/ml/horizontalpodautoscalers/chat"
    # the official client itself turns a dict sent as JSON patch into a strategic merge patch,
    # so speak raw HTTP to check the server refuses it
    raw = httpx.patch(
        kube.url + path,
        json={"spec": {"minReplicas": 3}},
        headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json-patch+json"},
        timeout=5,
    )
    assert raw.status_code == 400
    hpas = client.AutoscalingV2Api(api_client(kubeconfig))
    with pytest.raises(ApiException) as invalid:
        hpas.patch_namespaced_horizontal_pod_autoscaler(
            "chat",
            "ml",
            [{"op": "replace", "path": "/spec/minReplicas", "value": 11}],
            _content_type="application/json-patch+json",
        )
    assert invalid.value.status == 422  # minReplicas above maxReplicas
    done = hpas.patch_namespaced_horizontal_pod_autoscaler(
        "chat",
        "ml",
        [{"op": "replace", "path": "/spec/minReplicas", "value": 3}],
        _content_type="application/json-patch+json",
    )
    assert done.spec is not None and done.spec.min_replicas == 3
    assert [r.content_type for r in kube.patches()] == ["application/json-patch+json"] * 3


def test_stale_resource_version_conflicts_and_bad_token_is_refused(
    kube: FakeKubeApi, kubeconfig: str, tmp_path: object
) -> None:
    kube.add(*HPA, hpa())
    hpas = client.AutoscalingV2Api(api_client(kubeconfig))
    with pytest.raises(ApiException) as conflict:
        hpas.patch_namespaced_horizontal_pod_autoscaler(
            "chat",
            "ml",
            {"metadata": {"resourceVersion": "1"}, "spec": {"minReplicas": 3}},
            _content_type="application/merge-patch+json",
        )
    assert conflict.value.status == 409
    anonymous = client.Configuration(host=kube.url)
    with pytest.raises(ApiException) as unauthorized:
        client.AutoscalingV2Api(
            client.ApiClient(anonymous)
        ).read_namespaced_horizontal_pod_autoscaler("chat", "ml")
    assert unauthorized.value.status == 401
