"""The scheduled jobs' work: one pass over services, one job-run record each, failures isolated."""

from __future__ import annotations

from forecaster.jobs.tasks import actuate_all, forecast_all, services_with_targets
from forecaster.settings import Settings
from forecaster.storage.db import Database
from forecaster.storage.jobs import list_job_runs
from forecaster.storage.orm import JobRun
from tests.actuators.conftest import HPA, hpa
from tests.actuators.factories import make_service, store_plan
from tests.fakes.kube_api import FakeKubeApi


def job_runs(database: Database, job: str) -> list[JobRun]:
    with database.session() as session:
        return list(reversed(list_job_runs(session=session, job=job)))


def hpa_target(kubeconfig: str, name: str) -> dict[str, object]:
    return {
        "kind": "kubernetes-hpa",
        "config": {"namespace": "ml", "name": name, "kubeconfig": kubeconfig},
    }


def test_actuate_job_records_each_service_and_isolates_failures(
    database: Database, settings: Settings, kube: FakeKubeApi, kubeconfig: str
) -> None:
    fast = settings.model_copy(update={"actuator_retry_base_seconds": 0.01})
    kube.add(*HPA, hpa(name="chat", low=2))
    make_service(database, name="chat", targets=[hpa_target(kubeconfig, "chat")])
    make_service(database, name="ghost", targets=[hpa_target(kubeconfig, "ghost")])  # no HPA
    make_service(database, name="idle")  # no targets: not visited
    make_service(database, name="off", targets=[hpa_target(kubeconfig, "off")], enabled=False)
    for name in ("chat", "ghost"):
        store_plan(database, name=name, replicas=[5] * 48)
    assert services_with_targets(database) == ["chat", "ghost", "off"]

    actuate_all(database, fast)

    runs = {run.service: run for run in job_runs(database, "actuate")}
    assert set(runs) == {"chat", "ghost", "off"}
    assert runs["chat"].status == "ok" and runs["chat"].details["outcomes"] == {
        "ml/chat": "applied"
    }
    assert runs["ghost"].status == "failed" and "1 of 1 targets failed" in (
        runs["ghost"].message or ""
    )
    assert runs["off"].status == "failed"  # disabled: restore attempted, HPA missing
    assert kube.get(*HPA, "ml", "chat")["spec"]["minReplicas"] == 5


def test_forecast_job_records_a_service_that_is_not_ready(
    database: Database, settings: Settings
) -> None:
    make_service(database, name="empty")
    forecast_all(database, settings)
    [run] = job_runs(database, "forecast")
    assert (run.service, run.status) == ("empty", "failed")
    assert "NotReadyError" in (run.message or "") and run.finished_at is not None
