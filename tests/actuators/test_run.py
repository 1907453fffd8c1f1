"""Actuating a stored service: window from its plan, every target pushed, every push audited."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from forecaster.actuators.run import actuate_service
from forecaster.leadership import LeadershipLostError, leading
from forecaster.profiles import ScalingProfile
from forecaster.settings import Settings
from forecaster.storage.actuations import list_actuations
from forecaster.storage.db import Database
from forecaster.storage.services import get_service
from forecaster.timeutil import utc_now
from tests.actuators.conftest import HPA, hpa
from tests.actuators.factories import hours, make_service, store_plan
from tests.fakes.kube_api import FakeKubeApi


@pytest.fixture
def fast(settings: Settings) -> Settings:
    return settings.model_copy(
        update={"actuator_retry_base_seconds": 0.01, "actuator_read_timeout_seconds": 2.0}
    )


def targets(kubeconfig: str) -> list[dict[str, Any]]:
    return [
        {
            "kind": "kubernetes-hpa",
            "config": {"namespace": "ml", "name": "chat", "kubeconfig": kubeconfig},
        },
        {"kind": "acme-broken", "name": "buggy", "config": {"label": "b"}},
        {"kind": "acme-echo", "config": {"label": "e"}},
        {"kind": "acme-unbuildable", "config": {"label": "u"}},
    ]


def min_replicas(kube: FakeKubeApi) -> int:
    return int(kube.get(*HPA, "ml", "chat")["spec"]["minReplicas"])


def test_every_target_is_pushed_and_audited_even_when_one_raises(
    database: Database, fast: Settings, kube: FakeKubeApi, kubeconfig: str, plugin_on_path: None
) -> None:
    kube.add(*HPA, hpa(low=2))
    make_service(database, targets=targets(kubeconfig))
    plan_id = store_plan(database, replicas=[5] * 48)

    done = actuate_service(database, "chat", fast, actor="test")
    assert done.window.active and done.window.floor == 5
    assert [r.outcome for r in done.records] == ["applied", "failed", "applied", "failed"]
    assert min_replicas(kube) == 5
    broken = done.records[1]
    assert broken.target == "buggy: echo/b" and broken.error == "RuntimeError: plugin bug"
    unbuildable = done.records[3]  # its constructor raised: named by kind
    assert unbuildable.target == "acme-unbuildable"
    assert unbuildable.error == "RuntimeError: constructor bug"

    with database.session() as session:
        service = get_service(session=session, name="chat")
        stored = list_actuations(session=session, service_id=service.id)
    assert len(stored) == 4
    hpa_record = stored[-1]
    assert (hpa_record.kind, hpa_record.target, hpa_record.actor) == (
        "kubernetes-hpa",
        "ml/chat",
        "test",
    )
    assert hpa_record.plan_id == plan_id and hpa_record.dry_run is False
    assert hpa_record.before["minReplicas"] == 2
    assert hpa_record.after["state"]["minReplicas"] == 5
    assert hpa_record.after["window"]["status"] == "active"
    assert hpa_record.after["attempts"] == 2


def test_a_stale_plan_restores_every_target(
    database: Database, fast: Settings, kube: FakeKubeApi, kubeconfig: str
) -> None:
    kube.add(*HPA, hpa(low=2))
    make_service(database, targets=targets(kubeconfig)[:1])
    store_plan(database, replicas=[5] * 48)
    actuate_service(database, "chat", fast)
    assert min_replicas(kube) == 5

    store_plan(database, replicas=[7] * 200, generated_at=utc_now() - hours(8))
    done = actuate_service(database, "chat", fast)
    assert done.window.status == "stale"
    assert [r.outcome for r in done.records] == ["restored"]
    assert min_replicas(kube) == 2


def test_a_scheduled_pass_whose_term_ended_during_a_push_pushes_no_further_target(
    database: Database, fast: Settings, kube: FakeKubeApi, kubeconfig: str
) -> None:
    """A pass's check came before each service only: one whose push outlasted its term (a
    slow cluster, retried) pushed the service's other targets a term late, with its window
    of then. It stops before the next target; what it pushed is audited."""
    kube.add(*HPA, hpa(low=2))
    kube.add(*HPA, hpa("batch", low=2))
    batch = {
        "kind": "kubernetes-hpa",
        "config": {"namespace": "ml", "name": "batch", "kubeconfig": kubeconfig},
    }
    make_service(database, targets=[*targets(kubeconfig)[:1], batch])
    store_plan(database, replicas=[5] * 48)
    held = iter([True, False])  # before the first push, and once it has ended
    with leading(lambda: next(held)), pytest.raises(LeadershipLostError, match="1 of 2 targets"):
        actuate_service(database, "chat", fast)
    assert min_replicas(kube) == 5
    assert int(kube.get(*HPA, "ml", "batch")["spec"]["minReplicas"]) == 2
    with database.session() as session:
        service = get_service(session=session, name="chat")
        assert [a.target for a in list_actuations(session=session, service_id=service.id)] == [
            "ml/chat"
        ]


def test_dry_run_previews_a_forecast_only_service_without_writing(
    database: Database, fast: Settings, kube: FakeKubeApi, kubeconfig: str
) -> None:
    kube.add(*HPA, hpa(low=2))
    make_service(database, targets=targets(kubeconfig)[:1], forecast_only=True)
    store_plan(database, replicas=[6] * 48)
    preview = actuate_service(database, "chat", fast, dry_run=True)
    assert [(r.outcome, r.dry_run) for r in preview.records] == [("applied", True)]
    assert preview.records[0].after["state"]["minReplicas"] == 6
    assert kube.patches() == [] and min_replicas(kube) == 2
    scheduled = actuate_service(database, "chat", fast)  # forecast-only: never pushed
    assert scheduled.window.status == "forecast_only"
    assert [r.outcome for r in scheduled.records] == ["unchanged"]
    assert min_replicas(kube) == 2


TIERS = [
    {"name": "CPU", "capacity_per_replica": 4, "cost_per_replica_hour": 0.1},
    {"name": "L4", "capacity_per_replica": 40, "cost_per_replica_hour": 0.8, "gpus_per_replica": 1},
]


def test_a_target_that_scales_one_tier_is_pushed_that_tiers_replicas(
    database: Database, fast: Settings, kube: FakeKubeApi, kubeconfig: str
) -> None:
    """Found by a QA pass: every target was pushed the total over tiers, so the L4 pool of a
    CPU:5+L4:4+A100:4 plan was raised to 13 (up to its HPA's max) where the plan wanted 4."""
    for name in ("chat-cpu", "chat-l4", "chat"):
        kube.add(*HPA, hpa(name, low=1, high=20))
    hpas = [
        {
            "kind": "kubernetes-hpa",
            "tier": tier,
            "config": {"namespace": "ml", "name": name, "kubeconfig": kubeconfig},
        }
        for name, tier in (("chat-cpu", "CPU"), ("chat-l4", "L4"), ("chat", None))
    ]
    make_service(database, targets=hpas, tiers=TIERS)
    store_plan(database, replicas=[7] * 48, tier="CPU:3+L4:4")
    done = actuate_service(database, "chat", fast)
    assert [r.outcome for r in done.records] == ["applied"] * 3
    floors = {
        name: int(kube.get(*HPA, "ml", name)["spec"]["minReplicas"])
        for name in ("chat-cpu", "chat-l4", "chat")
    }
    assert floors == {"chat-cpu": 3, "chat-l4": 4, "chat": 7}  # a target without a tier: the total
    assert "(tier L4)" in done.records[1].after["window"]["reason"]


def test_a_target_must_name_one_of_the_profiles_tiers(kubeconfig: str) -> None:
    target = {
        "kind": "kubernetes-hpa",
        "tier": "A100",
        "config": {"namespace": "ml", "name": "chat", "kubeconfig": kubeconfig},
    }
    with pytest.raises(ValidationError, match=r'tier "A100" is not one of the profile.s tiers'):
        ScalingProfile.model_validate(
            {"capacity_per_replica": 10, "tiers": TIERS, "targets": [target]}
        )
    with pytest.raises(ValidationError, match=r"tiers \(it has none\)"):
        ScalingProfile.model_validate({"capacity_per_replica": 10, "targets": [target]})


def test_passes_of_one_service_run_one_at_a_time(
    database: Database, fast: Settings, kube: FakeKubeApi, kubeconfig: str
) -> None:
    """The scheduled pass and an API or CLI actuate side by side: interleaved on an AWS group
    (one restoring, one pushing) they left it at the plan's floor with its restore action,
    where the baseline lives, deleted. The second pass now starts after the first has ended,
    reading what it wrote."""
    import threading
    import time

    kube.add(*HPA, hpa(low=2))
    hpa_only = targets(kubeconfig)[:1]
    make_service(database, targets=hpa_only)
    store_plan(database, replicas=[5] * 48)
    kube.slow("GET", delay=1.0)  # the first pass's read is answered a second late
    first: dict[str, Any] = {}
    thread = threading.Thread(
        target=lambda: first.update(done=actuate_service(database, "chat", fast))
    )
    thread.start()
    time.sleep(0.3)
    second = actuate_service(database, "chat", fast, actor="api")
    thread.join()
    assert [r.method for r in kube.requests] == ["GET", "PATCH", "GET"]
    assert [r.outcome for r in first["done"].records] == ["applied"]
    assert [r.outcome for r in second.records] == ["unchanged"]
    assert min_replicas(kube) == 5
