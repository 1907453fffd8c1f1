"""A Kubernetes target is the object it scales on the cluster it reaches, however it spells the
way there. Found by an actuator QA pass: writing out ``in_cluster: false``, the kubeconfig the
client loads by default, or a moved kubeconfig made it another target, and the HPA was restored
to its baseline at a plan's peak (11 -> 2 -> 5)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from kubernetes.config import kube_config

from forecaster.actuators.registry import object_key

SERVER = "https://10.0.0.1:6443"


def write_kubeconfig(path: Path, servers: dict[str, str], current: str | None) -> str:
    """A kubeconfig with one context per cluster in ``servers``, named after it."""
    config: dict[str, Any] = {
        "clusters": [{"name": n, "cluster": {"server": s}} for n, s in servers.items()],
        "users": [{"name": "u", "user": {"token": "t"}}],
        "contexts": [{"name": n, "context": {"cluster": n, "user": "u"}} for n in servers],
    }
    if current:
        config["current-context"] = current
    path.write_text(json.dumps(config))
    return str(path)


def identity(**config: Any) -> dict[str, Any]:
    return object_key("kubernetes-hpa", {"namespace": "ml", "name": "chat", **config})


@pytest.fixture
def default_kubeconfig(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A kubeconfig the client loads when a target names none (as KUBECONFIG would say)."""
    path = write_kubeconfig(tmp_path / "config", {"prod": SERVER, "dev": "https://dev"}, "prod")
    monkeypatch.setattr(kube_config, "KUBE_CONFIG_DEFAULT_LOCATION", path)
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    return path


def test_defaults_written_out_and_moved_kubeconfigs_name_the_same_object(
    default_kubeconfig: str, tmp_path: Path
) -> None:
    plain = identity()
    moved = write_kubeconfig(tmp_path / "moved.yaml", {"prod": SERVER + "/"}, "prod")
    # review: kind clusters and tunnels share one address; the name tells them apart
    twin = write_kubeconfig(tmp_path / "twin.yaml", {"staging": SERVER}, "staging")
    os.symlink(default_kubeconfig, tmp_path / "link")
    spelled = [
        {"in_cluster": False},
        {"kubeconfig": default_kubeconfig},
        {"kubeconfig": str(tmp_path / "link")},
        {"context": "prod"},
        {"kubeconfig": moved, "in_cluster": False},
        {"allow_below_baseline": False},
    ]
    assert [identity(**config) for config in spelled] == [plain] * len(spelled)

    assert identity(context="dev") != plain  # another cluster
    assert identity(kubeconfig=twin) != plain  # another cluster at the same address
    assert identity(name="embed") != plain
    assert identity(in_cluster=True) != plain


def test_in_cluster_unset_means_in_cluster_inside_a_pod(
    default_kubeconfig: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    outside = identity()
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1")
    assert identity() == identity(in_cluster=True) != outside
    assert identity(kubeconfig=default_kubeconfig, in_cluster=True) == identity()


def test_a_kubeconfig_that_cannot_be_read_is_compared_by_path_never_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    missing = tmp_path / "missing"
    monkeypatch.setattr(kube_config, "KUBE_CONFIG_DEFAULT_LOCATION", str(missing))
    (tmp_path / "garbage").write_text("{not: [yaml")
    assert identity() == identity(kubeconfig=str(missing), in_cluster=False)
    assert identity(kubeconfig=str(tmp_path / "garbage")) != identity()
    assert identity(context="prod") != identity()
    assert identity(kubeconfig="/dev/stdin") != identity()  # not read: it could block
