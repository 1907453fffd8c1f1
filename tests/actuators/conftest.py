"""Fixtures for actuator tests: the fake Kubernetes API, fast retries, plan windows."""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from forecaster.actuators import registry
from forecaster.actuators.base import ActuatorContext
from forecaster.actuators.retry import RetryPolicy
from forecaster.actuators.window import ChangePoint, PlanStatus, PlanWindow
from forecaster.profiles import ScalingProfile
from forecaster.timeutil import utc_now
from tests.actuators.plugin import write_plugin
from tests.fakes.aws_faults import FaultProxy, moto_behind_proxy
from tests.fakes.kube_api import TOKEN, FakeKubeApi, running_kube_api

FAST = ActuatorContext(
    connect_timeout=1.0, read_timeout=2.0, retry=RetryPolicy(attempts=3, base_delay=0.01)
)
HPA = ("autoscaling", "v2", "horizontalpodautoscalers")
SCALED_OBJECT = ("keda.sh", "v1alpha1", "scaledobjects")


@pytest.fixture
def kube() -> Iterator[FakeKubeApi]:
    with running_kube_api() as api:
        yield api


@pytest.fixture
def kubeconfig(kube: FakeKubeApi, tmp_path: Path) -> str:
    return str(kube.write_kubeconfig(tmp_path / "kubeconfig"))


class ExecPlugin:
    """Kubeconfigs of the fake API whose credentials come from an exec plugin, a shell script
    that notes each run's process id (so a test can count runs, and hung ones are killed)."""

    def __init__(self, kube: FakeKubeApi, folder: Path) -> None:
        self.kube = kube
        self.folder = folder
        self.noted = folder / "plugin-runs"

    def kubeconfig(self, script: str) -> str:
        plugin = self.folder / "plugin.sh"
        plugin.write_text(f'#!/bin/sh\nRUNS={self.noted}\necho $$ >> "$RUNS"\n{script}\n')
        plugin.chmod(0o755)
        api = "client.authentication.k8s.io/v1beta1"
        user = {"exec": {"apiVersion": api, "command": str(plugin), "interactiveMode": "Never"}}
        return str(self.kube.write_kubeconfig(self.folder / "exec-kubeconfig", user=user))

    def runs(self) -> list[int]:
        return [int(pid) for pid in self.noted.read_text().split()] if self.noted.exists() else []


HANGS = "exec sleep 60"
# a token that has already expired, then a hang: the client runs the plugin again mid-call
EXPIRED_TOKEN = f"""echo '{{"apiVersion": "client.authentication.k8s.io/v1beta1",
  "kind": "ExecCredential",
  "status": {{"token": "{TOKEN}", "expirationTimestamp": "2000-01-01T00:00:00Z"}}}}'"""
TOKEN_THEN_HANGS = f"""[ "$(wc -l < "$RUNS")" -gt 1 ] && exec sleep 60\n{EXPIRED_TOKEN}"""
# tokens for the load and the first request, then a hang at the second request's refresh
TWO_TOKENS_THEN_HANGS = f"""[ "$(wc -l < "$RUNS")" -gt 2 ] && exec sleep 60\n{EXPIRED_TOKEN}"""


@pytest.fixture
def exec_plugin(kube: FakeKubeApi, tmp_path: Path) -> Iterator[ExecPlugin]:
    plugin = ExecPlugin(kube, tmp_path)
    yield plugin
    for pid in plugin.runs():
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def profile(**fields: Any) -> ScalingProfile:
    return ScalingProfile.model_validate({"capacity_per_replica": 10, **fields})


def window(
    floor: int | None,
    *,
    status: PlanStatus = PlanStatus.ACTIVE,
    points: list[tuple[float, int]] | None = None,
    hours: float = 24,
    **profile_fields: Any,
) -> PlanWindow:
    """A plan window: ``floor`` now, optional change points ``(hours from now, replicas)``."""
    now = utc_now().replace(microsecond=0)
    change = [ChangePoint(now, floor or 0)] + [
        ChangePoint(now + timedelta(hours=h), r) for h, r in (points or [])
    ]
    active = status is PlanStatus.ACTIVE
    return PlanWindow(
        service="chat",
        status=status,
        reason="test plan" if active else f"plan is {status.value}",
        now=now,
        profile=profile(**profile_fields),
        plan_id=1 if active else None,
        floor=floor if active else None,
        ends_at=now + timedelta(hours=hours) if active else None,
        change_points=tuple(change) if active else (),
    )


def hpa(name: str = "chat", namespace: str = "ml", low: int = 2, high: int = 10) -> dict[str, Any]:
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": name, "namespace": namespace, "annotations": {"team": "ml"}},
        "spec": {
            "minReplicas": low,
            "maxReplicas": high,
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
        },
    }


@pytest.fixture(scope="session")
def moto_proxy() -> Iterator[FaultProxy]:
    with moto_behind_proxy() as proxy:
        yield proxy


@pytest.fixture
def aws(moto_proxy: FaultProxy, monkeypatch: pytest.MonkeyPatch) -> FaultProxy:
    """A clean moto (behind the fault proxy) and test credentials, never the host's own."""
    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_CONFIG_FILE": "/dev/null",
        "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
        "AWS_EC2_METADATA_DISABLED": "true",
    }.items():
        monkeypatch.setenv(key, value)
    moto_proxy.reset()
    return moto_proxy


@pytest.fixture
def plugin_on_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A third-party actuator package installed on sys.path (see tests/actuators/plugin.py)."""
    root = tmp_path / "site"
    root.mkdir()
    monkeypatch.syspath_prepend(str(write_plugin(root)))
    registry.clear_cache()
    yield
    registry.clear_cache()
