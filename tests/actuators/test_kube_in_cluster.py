"""In-cluster credentials: the service account token and CA bundle Kubernetes mounts into a pod,
used by the official client over HTTPS against the fake API server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import kubernetes.config.incluster_config as incluster
import pytest

from forecaster.actuators.kubernetes_hpa import KubernetesHpaActuator
from tests.actuators.conftest import FAST, HPA, hpa, window
from tests.fakes.kube_api import TOKEN, FakeKubeApi, running_kube_api, self_signed_certificate


@pytest.fixture
def pod(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeKubeApi]:
    """A pod's view of its cluster: the service host and port in the environment, the token
    and CA bundle where the service account mount puts them (here in ``tmp_path``)."""
    certificate, key = self_signed_certificate(tmp_path)
    with running_kube_api(tls=(certificate, key)) as api:
        token = tmp_path / "token"
        token.write_text(TOKEN)
        monkeypatch.setattr(incluster, "SERVICE_TOKEN_FILENAME", str(token))
        monkeypatch.setattr(incluster, "SERVICE_CERT_FILENAME", str(certificate))
        monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "127.0.0.1")
        monkeypatch.setenv("KUBERNETES_SERVICE_PORT", api.url.rsplit(":", 1)[1])
        yield api


def in_cluster_actuator() -> KubernetesHpaActuator:
    """No kubeconfig and no ``in_cluster`` flag: the pod's environment decides."""
    config = KubernetesHpaActuator.config_model.model_validate({"namespace": "ml", "name": "chat"})
    return KubernetesHpaActuator(config, FAST)


def test_a_pod_uses_its_service_account_over_https(pod: FakeKubeApi) -> None:
    pod.add(*HPA, hpa(low=2, high=10))
    result = in_cluster_actuator().apply(window(6), dry_run=False)
    assert result.outcome == "applied", result.error
    assert pod.get(*HPA, "ml", "chat")["spec"]["minReplicas"] == 6
    assert pod.url.startswith("https://")
    assert [r.status for r in pod.requests] == [200, 200]  # the fake checks the bearer token


def test_a_server_the_cluster_ca_did_not_sign_is_refused(
    pod: FakeKubeApi, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pod.add(*HPA, hpa(low=2))
    (tmp_path / "other").mkdir()
    other_ca, _ = self_signed_certificate(tmp_path / "other", name="other-ca")
    monkeypatch.setattr(incluster, "SERVICE_CERT_FILENAME", str(other_ca))
    result = in_cluster_actuator().apply(window(6), dry_run=False)
    assert result.outcome == "failed"
    assert (result.error or "").startswith("TLS handshake with the API server failed (")
    assert "certificate verify failed" in (result.error or "")  # not "HTTP 0 SSLError\n..."
    assert pod.requests == []  # nothing was sent before the handshake failed
    assert pod.get(*HPA, "ml", "chat")["spec"]["minReplicas"] == 2


def test_a_token_the_server_does_not_accept_fails_without_changing_anything(
    pod: FakeKubeApi, tmp_path: Path
) -> None:
    pod.add(*HPA, hpa(low=2))
    (tmp_path / "token").write_text("expired-token")
    result = in_cluster_actuator().apply(window(6), dry_run=False)
    assert result.outcome == "failed"
    assert "401" in (result.error or "")
    assert pod.patches() == []
    assert pod.get(*HPA, "ml", "chat")["spec"]["minReplicas"] == 2
