"""The actuation API over real HTTP: targets in profiles, on-demand (dry) runs, audit, KEDA pull."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from api.app import create_app
from forecaster.settings import Settings
from forecaster.storage.db import Database
from forecaster.timeutil import utc_now
from tests.actuators.conftest import HPA, hpa
from tests.actuators.factories import hours, make_service, store_plan
from tests.fakes.kube_api import FakeKubeApi
from tests.helpers import live_server


@pytest.fixture
def client(settings: Settings, database: Database) -> Iterator[httpx.Client]:
    fast = settings.model_copy(update={"actuator_retry_base_seconds": 0.01})
    with (
        live_server(create_app(fast, database)) as base,
        httpx.Client(base_url=base, timeout=30) as c,
    ):
        yield c


def profile(kubeconfig: str, **fields: object) -> dict[str, object]:
    target = {"namespace": "ml", "name": "chat", "kubeconfig": kubeconfig}
    return {
        "capacity_per_replica": 10,
        "forecast_only": False,
        "targets": [{"kind": "kubernetes-hpa", "config": target}],
        **fields,
    }


def test_bad_targets_are_refused_with_a_clear_422(client: httpx.Client, kubeconfig: str) -> None:
    bad = profile(kubeconfig)
    bad["targets"] = [{"kind": "kubernetes-hpa", "config": {"namespace": "ML!", "name": "chat"}}]
    answer = client.put("/v1/services/chat", json=bad)
    assert answer.status_code == 422
    assert "namespace" in answer.text and "kubernetes-hpa target config" in answer.text
    unknown = client.put("/v1/services/chat", json={**bad, "targets": [{"kind": "nomad-job"}]})
    assert unknown.status_code == 422 and 'unknown actuator kind \\"nomad-job\\"' in unknown.text


def test_dry_run_then_push_then_read_the_audit_trail(
    client: httpx.Client, database: Database, kube: FakeKubeApi, kubeconfig: str
) -> None:
    kube.add(*HPA, hpa(low=2))
    # written directly: api/deps.py commits a request's session only after the response is
    # sent (FastAPI's default dependency scope), so a PUT's 201 can precede its commit
    make_service(database, targets=profile(kubeconfig)["targets"])  # type: ignore[arg-type]
    plan_id = store_plan(database, replicas=[4] * 48)

    preview = client.post("/v1/services/chat/actuate", params={"dry_run": "true"}).json()
    assert preview["dry_run"] is True and preview["window"]["floor"] == 4
    [record] = preview["data"]
    assert (record["outcome"], record["dry_run"], record["actor"]) == ("applied", True, "api")
    assert record["before"]["minReplicas"] == 2 and record["after"]["minReplicas"] == 4
    assert kube.patches() == []

    pushed = client.post("/v1/services/chat/actuate").json()
    assert pushed["data"][0]["outcome"] == "applied"
    assert kube.get(*HPA, "ml", "chat")["spec"]["minReplicas"] == 4

    trail = client.get("/v1/services/chat/actuations").json()
    assert trail["count"] == 2
    assert [r["dry_run"] for r in trail["data"]] == [False, True]  # newest first
    assert trail["data"][0]["plan_id"] == plan_id
    assert trail["data"][0]["window"]["status"] == "active"
    assert (
        client.get("/v1/services/chat/actuations", params={"outcome": "failed"}).json()["count"]
        == 0
    )
    assert (
        client.get("/v1/services/chat/actuations", params={"outcome": "weird"}).status_code == 422
    )
    assert client.get("/v1/services/ghost/actuations").status_code == 404
    assert client.post("/v1/services/ghost/actuate").status_code == 404


def test_keda_metrics_api_shape(client: httpx.Client, database: Database, kubeconfig: str) -> None:
    make_service(database, targets=profile(kubeconfig)["targets"])  # type: ignore[arg-type]
    missing = client.get("/v1/services/chat/keda")
    assert missing.status_code == 409 and "no plan" in missing.json()["detail"]
    store_plan(database, replicas=[6] * 48)
    body = client.get("/v1/services/chat/keda").json()
    assert body["value"] == 6 and body["replicas"] == 6 and body["load"] == 42.0
    assert client.get("/v1/services/chat/keda", params={"metric": "load"}).json()["value"] == 42.0
    assert client.get("/v1/services/chat/keda", params={"metric": "cpu"}).status_code == 422
    untiered = client.get("/v1/services/chat/keda", params={"tier": "L4"})
    assert untiered.status_code == 422 and "(it has none)" in untiered.json()["detail"]


def test_keda_on_a_forecast_only_plan_that_ran_out_says_only_that(
    client: httpx.Client, database: Database
) -> None:
    """QA: the refusal ended "preview only: the profile is forecast_only, so a real run
    pushes nothing", a dry run's caveat, where KEDA does pull forecast-only plans."""
    make_service(database, forecast_only=True)
    missing = client.get("/v1/services/chat/keda")
    assert missing.status_code == 409
    assert missing.json()["detail"] == (
        'service "chat" has no plan in force: no plan yet: train the service'
    )
    store_plan(database, replicas=[6] * 48, data_until=utc_now() - hours(30))  # samples stopped
    stale = client.get("/v1/services/chat/keda")
    assert stale.status_code == 409 and "h ago (limit 6 h)" in stale.json()["detail"]
    assert "preview" not in stale.json()["detail"]
    store_plan(database, replicas=[6] * 48)
    assert client.get("/v1/services/chat/keda").json()["replicas"] == 6


def test_keda_reads_one_tiers_replicas(client: httpx.Client, database: Database) -> None:
    tiers = [
        {"name": "CPU", "capacity_per_replica": 4, "cost_per_replica_hour": 0.1},
        {"name": "L4", "capacity_per_replica": 40, "cost_per_replica_hour": 0.8},
    ]
    make_service(database, tiers=tiers)
    store_plan(database, replicas=[7] * 48, tier="CPU:3+L4:4")
    read = [client.get("/v1/services/chat/keda", params={"tier": t}).json() for t in ("CPU", "L4")]
    assert [body["replicas"] for body in read] == [3, 4]
    assert client.get("/v1/services/chat/keda").json()["replicas"] == 7  # the total
    assert client.get("/v1/services/chat/keda", params={"tier": "A100"}).status_code == 422
    # the load each tier's replicas serve at 0.7, and the total's the sum of the tiers'
    assert [body["load"] for body in read] == [8.4, 112.0]
    assert client.get("/v1/services/chat/keda").json()["load"] == 120.4


def test_keda_load_is_what_the_led_floor_serves_not_the_minutes_forecast(
    client: httpx.Client, database: Database
) -> None:
    """A floor raised ahead of a rise served 60 req/s while ``load`` said the 10 of the minute
    itself: KEDA scaling on it at capacity x utilisation asked for 2 replicas, not the 9 the
    plan had ready for the rise."""
    make_service(database, target_utilization=0.6)
    store_plan(database, replicas=[9] * 48, loads=[10.0] * 48)
    body = client.get("/v1/services/chat/keda", params={"metric": "load"}).json()
    assert body["replicas"] == 9 and body["load"] == body["value"] == 54.0  # 9 x 10 x 0.6


def test_a_target_another_service_scales_is_refused_with_a_409_naming_it(
    client: httpx.Client, database: Database, kubeconfig: str, tmp_path: Path
) -> None:
    """Both were accepted, and each pass of the two flipped the HPA between their floors,
    8 -> 3 -> 8, every record saying "applied"; a disabled service still restores it."""
    targets = profile(kubeconfig)["targets"]
    make_service(database, name="chat", targets=targets, enabled=False)  # type: ignore[arg-type]
    moved = tmp_path / "elsewhere"  # the same cluster through another file
    shutil.copy(kubeconfig, moved)
    refused = client.put("/v1/services/chat2", json=profile(str(moved)))
    assert refused.status_code == 409
    detail = refused.json()["detail"]
    assert 'service "chat" already scales with its target kubernetes-hpa' in detail
    assert client.get("/v1/services/chat2").status_code == 404

    again = client.put("/v1/services/chat", json=profile(str(moved), min_replicas=2))
    assert again.status_code == 200  # its own target, however spelled
    other_hpa = profile(kubeconfig)
    other_hpa["targets"][0]["config"]["name"] = "embed"  # type: ignore[index]
    assert client.put("/v1/services/chat2", json=other_hpa).status_code == 201
