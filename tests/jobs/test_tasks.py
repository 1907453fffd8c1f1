"""The scheduled jobs' work: one pass over services, one job-run record each, failures isolated."""

from __future__ import annotations

import pickle
import time
from pathlib import Path

import pandas as pd
import pytest
from prometheus_client import REGISTRY
from sqlalchemy import text

from forecaster.jobs.tasks import (
    actuate_all,
    forecast_all,
    pull_all,
    retention_all,
    services_with_targets,
    train_all,
)
from forecaster.settings import Settings
from forecaster.storage.actuations import list_actuations
from forecaster.storage.db import Database
from forecaster.storage.failures import DAMAGED_DATA
from forecaster.storage.forecasts import champion_run
from forecaster.storage.jobs import list_job_runs
from forecaster.storage.orm import JobRun, ModelRun
from forecaster.storage.services import get_service, profile_of
from forecaster.training.forecasting import ForecastOutcome
from forecaster.training.service_data import driving_series_id
from forecaster.training.train import train_service
from tests.actuators.conftest import HANGS, HPA, ExecPlugin, hpa
from tests.actuators.factories import make_service, store_plan
from tests.fakes.kube_api import FakeKubeApi, running_kube_api


def job_runs(database: Database, job: str) -> list[JobRun]:
    with database.session() as session:
        return list(reversed(list_job_runs(session=session, job=job)))


def failure(database: Database, service: str) -> str:
    """The error of the service's one failed actuation."""
    with database.session() as session:
        service_id = get_service(session=session, name=service).id
        [record] = list_actuations(session=session, service_id=service_id, outcome="failed")
        return record.error or ""


def hpa_target(kubeconfig: str, name: str) -> dict[str, object]:
    return {
        "kind": "kubernetes-hpa",
        "config": {"namespace": "ml", "name": name, "kubeconfig": kubeconfig},
    }


def _services_with_traffic(
    database: Database, settings: Settings, *, days: float, step_seconds: int
) -> None:
    """chat and embed, 6 h ahead, each with its own synthetic traffic ending now."""
    from tests.helpers import ending_now, store_points, synthetic_traffic

    for number, name in enumerate(("chat", "embed")):
        make_service(database, name=name, horizon_hours=6)
        history = ending_now(synthetic_traffic(days=days, step_seconds=step_seconds, seed=number))
        store_points(database, settings, name, history)


def _training_failures(service: str) -> float:
    """The counter the ForecasterJobFailing alert reads, for one service's trainings."""
    labels = {"forecaster_job": "train", "service": service}
    return REGISTRY.get_sample_value("forecaster_service_job_failures_total", labels) or 0


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


@pytest.mark.timeout(60)  # the client waits for a credential plugin forever
def test_a_hung_credential_plugin_fails_its_services_and_the_pass_goes_on(
    database: Database, settings: Settings, kube: FakeKubeApi, exec_plugin: ExecPlugin
) -> None:
    """QA: one kubeconfig whose exec plugin hung held the actuate pass (and its lock) until a
    restart; the healthy services after it were never pushed. Now it costs one wait a pass."""
    fast = settings.model_copy(update={"actuator_credential_timeout_seconds": 1.0})
    hung = exec_plugin.kubeconfig(HANGS)
    kube.add(*HPA, hpa(name="chat", low=2))
    make_service(database, name="a-hung", targets=[hpa_target(hung, "x")])
    make_service(database, name="b-hung", targets=[hpa_target(hung, "y")])
    good = str(kube.write_kubeconfig(exec_plugin.folder / "kubeconfig"))
    make_service(database, name="chat", targets=[hpa_target(good, "chat")])
    for name in ("a-hung", "b-hung", "chat"):
        store_plan(database, name=name, replicas=[6] * 48)

    started = time.monotonic()
    actuate_all(database, fast)

    assert time.monotonic() - started < 10
    assert kube.get(*HPA, "ml", "chat")["spec"]["minReplicas"] == 6
    runs = {run.service: run.status for run in job_runs(database, "actuate")}
    assert runs == {"a-hung": "failed", "b-hung": "failed", "chat": "ok"}
    plugin = f"the credential plugin of kubeconfig {hung}"
    assert f"{plugin} gave no answer within 1 s" in failure(database, "a-hung")
    # the next service on that kubeconfig fails at once: one plugin, one wait, a pass
    assert f"{plugin} is still running from an earlier call" in failure(database, "b-hung")
    assert len(exec_plugin.runs()) == 1


def test_a_cluster_that_timed_out_is_waited_on_once_a_pass(
    database: Database, settings: Settings, kube: FakeKubeApi, kubeconfig: str, tmp_path: Path
) -> None:
    """QA: each HPA on a hung cluster cost ~43 s (four timed-out reads and backoff), one
    service after another; seven such and the pass overran its 5 minutes."""
    fast = settings.model_copy(
        update={"actuator_retry_base_seconds": 0.01, "actuator_read_timeout_seconds": 0.5}
    )
    kube.add(*HPA, hpa(name="chat", low=2))
    make_service(database, name="zz-chat", targets=[hpa_target(kubeconfig, "chat")])
    with running_kube_api() as hung:
        hung.slow("GET", delay=2.0, times=100)
        elsewhere = str(hung.write_kubeconfig(tmp_path / "hung-kubeconfig"))
        for name in ("a", "b", "c"):
            hung.add(*HPA, hpa(name=name))
            make_service(database, name=name, targets=[hpa_target(elsewhere, name)])
        for name in ("a", "b", "c", "zz-chat"):
            store_plan(database, name=name, replicas=[6] * 48)

        actuate_all(database, fast)

        assert len(hung.requests) == fast.actuator_retry_attempts  # a's, none for b and c
    assert "ReadTimeoutError" in failure(database, "a")
    for name in ("b", "c"):
        assert f"cluster {hung.url} unreachable earlier in this pass" in failure(database, name)
    assert kube.get(*HPA, "ml", "chat")["spec"]["minReplicas"] == 6


def test_a_target_whose_actuator_is_no_longer_installed_fails_alone(
    database: Database, settings: Settings, kube: FakeKubeApi, kubeconfig: str
) -> None:
    """A profile stored while a plugin was installed still loads once it is gone (or no longer
    imports): the service's other targets and every other service are still actuated, and
    the missing kind is a failed record that names it."""
    fast = settings.model_copy(update={"actuator_retry_base_seconds": 0.01})
    for name in ("chat", "search"):
        kube.add(*HPA, hpa(name=name, low=2))
        make_service(database, name=name, targets=[hpa_target(kubeconfig, name)])
        store_plan(database, name=name, replicas=[5] * 48)
    with database.session() as session:  # as stored while acme-retired was installed
        service = get_service(session=session, name="chat")
        retired = {"kind": "acme-retired", "config": {"label": "x"}}
        service.profile = {**service.profile, "targets": [retired, *service.profile["targets"]]}

    actuate_all(database, fast)

    runs = {run.service: run for run in job_runs(database, "actuate")}
    assert runs["search"].status == "ok"
    assert runs["chat"].status == "failed"
    assert "1 of 2 targets failed: acme-retired" in (runs["chat"].message or "")
    for name in ("chat", "search"):
        assert kube.get(*HPA, "ml", name)["spec"]["minReplicas"] == 5
    with database.session() as session:
        service = get_service(session=session, name="chat")
        [record] = list_actuations(session=session, service_id=service.id, outcome="failed")
        assert 'unknown actuator kind "acme-retired"' in (record.error or "")
        assert len(profile_of(service).targets) == 2  # the profile still loads for the rest


def test_a_profile_that_no_longer_loads_fails_its_own_run_not_the_pass(
    database: Database, settings: Settings, kube: FakeKubeApi, kubeconfig: str
) -> None:
    fast = settings.model_copy(update={"actuator_retry_base_seconds": 0.01})
    for name in ("chat", "search"):
        kube.add(*HPA, hpa(name=name, low=2))
        make_service(database, name=name, targets=[hpa_target(kubeconfig, name)])
        store_plan(database, name=name, replicas=[5] * 48)
    with database.session() as session:  # say, a bound tightened since, without a migration
        service = get_service(session=session, name="chat")
        service.profile = {**service.profile, "capacity_per_replica": -1}

    actuate_all(database, fast)

    runs = {run.service: run for run in job_runs(database, "actuate")}
    assert runs["chat"].status == "failed" and "capacity_per_replica" in (
        runs["chat"].message or ""
    )
    assert runs["search"].status == "ok"
    assert kube.get(*HPA, "ml", "search")["spec"]["minReplicas"] == 5


def test_forecast_job_records_a_service_that_is_not_ready(
    database: Database, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    make_service(database, name="empty")
    forecast_all(database, settings)
    # the log says why, as the training's does, without a traceback for a deliberate error
    assert 'forecast of service empty failed: service "empty" has no' in caplog.text
    assert "Traceback" not in caplog.text
    [run] = job_runs(database, "forecast")
    assert (run.service, run.status) == ("empty", "failed")
    # in its own words: a deliberate error's class name told a person nothing
    assert (run.message or "").startswith('service "empty" has no requests_per_second samples')
    assert run.finished_at is not None


GONE_MODULE = b"cmodels.retired_family\nRetiredModel\n."  # a pickled class whose module is gone


@pytest.mark.parametrize(
    ("artifact", "error"),
    [(GONE_MODULE, "ModuleNotFoundError"), (pickle.dumps(1.0), "AttributeError")],
    ids=["unreadable", "cannot-forecast"],
)
def test_forecast_job_refits_a_champion_that_no_longer_loads_and_says_why(
    database: Database, settings: Settings, artifact: bytes, error: str
) -> None:
    """After a library upgrade the stored champion may not unpickle, or not forecast: the
    refresh refits the service instead of failing every 15 minutes until the nightly training
    (the plan going stale meanwhile), and its job run says why."""
    from tests.helpers import ending_now, store_points, synthetic_traffic

    make_service(database, name="chat", horizon_hours=2)
    store_points(database, settings, "chat", ending_now(synthetic_traffic(days=2)))
    trained = train_service(database, "chat", settings, model="seasonal_naive_daily")
    with database.session() as session:
        session.get_one(ModelRun, trained.run_id).artifact = artifact

    forecast_all(database, settings)

    [run] = job_runs(database, "forecast")
    assert run.status == "ok", run.message
    assert f"champion run {trained.run_id} (seasonal_naive_daily)" in (run.message or "")
    assert error in (run.message or "") and "refitted" in (run.message or "")
    assert run.details["plan_id"] > trained.plan_id
    with database.session() as session:
        service = get_service(session=session, name="chat")
        series_id = driving_series_id(session=session, service=service, profile=profile_of(service))
        champion = champion_run(session=session, series_id=series_id)
        assert champion is not None and champion.id != trained.run_id
    forecast_all(database, settings)  # the new champion loads: a plain refresh again
    assert job_runs(database, "forecast")[-1].details["model"] == champion.model


def test_train_job_trains_services_together_and_records_each_outcome(
    database: Database, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    """One pass trains every enabled service (a global model learns from all of them); a
    service without samples is reported in the record, not fatal to the others, and named in
    the logs and /metrics with why (the pass's record was the only place that said so)."""
    from forecaster.storage.forecasts import latest_training_runs
    from forecaster.training.service_data import driving_series_id

    _services_with_traffic(database, settings, days=3, step_seconds=300)
    make_service(database, name="empty")
    before = _training_failures("empty")
    train_all(database, settings)
    assert "train of service empty failed: " in caplog.text
    assert "no requests_per_second samples" in caplog.text
    assert _training_failures("empty") == before + 1
    [run] = job_runs(database, "train")
    assert run.status == "failed"
    assert run.message == "could not train empty (2 of 3 services trained)"
    services = run.details["services"]
    assert set(services) == {"chat", "embed", "empty"}
    assert (
        "error" in services["empty"]
        and "no requests_per_second samples" in services["empty"]["error"]
    )
    for name in ("chat", "embed"):
        assert services[name]["plan_id"] > 0
        with database.session() as session:
            from forecaster.storage.services import get_service, profile_of

            service = get_service(session=session, name=name)
            series_id = driving_series_id(
                session=session, service=service, profile=profile_of(service)
            )
            models = {r.model for r in latest_training_runs(session=session, series_id=series_id)}
        assert "lightgbm_global" in models


def test_a_service_whose_forecast_is_refused_does_not_cost_the_others_their_training(
    database: Database, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A forecast refused when stored (non-finite values) is that service's error in the pass;
    the services after it still get their new plans, and the record names it."""
    import forecaster.training.train as train
    from tests.helpers import ending_now, store_points, synthetic_traffic

    real = train.forecast_each

    def first_goes_non_finite(*args: object, **kwargs: object) -> list[object]:
        outcomes = real(*args, **kwargs)  # type: ignore[arg-type]
        first = outcomes[0]
        assert isinstance(first, ForecastOutcome)
        first.frame.iloc[3] = float("inf")
        return list(outcomes)

    monkeypatch.setattr(train, "forecast_each", first_goes_non_finite)
    for number, name in enumerate(("chat", "embed")):
        make_service(database, name=name, horizon_hours=2)
        history = ending_now(synthetic_traffic(days=2, step_seconds=300, seed=number))
        store_points(database, settings, name, history)

    train_all(database, settings)

    [run] = job_runs(database, "train")
    assert run.status == "failed" and "could not train chat" in (run.message or "")
    assert "non-finite" in run.details["services"]["chat"]["error"]
    assert run.details["services"]["embed"]["plan_id"] > 0


def champion_and_plan(database: Database, name: str) -> tuple[int, int, list[object]]:
    """The champion's run, the run the plan in force was forecast by, and its steps."""
    from forecaster.storage.orm import Forecast
    from forecaster.storage.plans import latest_plan, plan_steps

    with database.session() as session:
        service = get_service(session=session, name=name)
        series_id = driving_series_id(session=session, service=service, profile=profile_of(service))
        champion = champion_run(session=session, series_id=series_id)
        plan = latest_plan(session=session, service_id=service.id)
        assert champion is not None and plan is not None
        planned_by = session.get_one(Forecast, plan.forecast_id).run_id
        steps = [(s.ts, s.replicas) for s in plan_steps(session=session, plan_id=plan.id)]
        return champion.id, planned_by, steps


@pytest.mark.parametrize("champion_works", [True, False], ids=["kept", "unusable"])
def test_a_training_whose_every_candidate_fails_keeps_a_champion_that_still_works(
    database: Database, settings: Settings, monkeypatch: pytest.MonkeyPatch, champion_works: bool
) -> None:
    """Every candidate raising (a library upgrade) is a failed training, not a cold start: the
    last good champion and its plan stay, refreshed, and the run names the errors. Only a
    champion that no longer forecasts makes way for the seasonal-naive fallback."""
    import forecaster.training.forecasting as forecasting
    from tests.helpers import (
        BrokenModel,
        clear_of_step_turn,
        ending_now,
        store_points,
        synthetic_traffic,
    )

    # both trainings inside one 5-minute step: a turn between them moves the refreshed plan
    # on a step, and its floors near the ends with it (seen under parallel test workers)
    clear_of_step_turn(300, 90)
    make_service(database, name="chat", horizon_hours=2)
    store_points(database, settings, "chat", ending_now(synthetic_traffic(days=3)))
    train_all(database, settings)
    good, planned_by, steps = champion_and_plan(database, "chat")
    assert planned_by == good and job_runs(database, "train")[-1].status == "ok"
    if not champion_works:
        with database.session() as session:
            session.get_one(ModelRun, good).artifact = GONE_MODULE

    monkeypatch.setattr(forecasting, "create_model", lambda _name: BrokenModel())
    train_all(database, settings)

    run = job_runs(database, "train")[-1]
    champion, planned_by, now_steps = champion_and_plan(database, "chat")
    if champion_works:
        assert run.status == "failed" and "could not train chat" in (run.message or "")
        error = run.details["services"]["chat"]["error"]
        assert "every candidate model failed" in error
        assert "holt_winters: RuntimeError: the upgraded library broke me" in error
        assert f"champion run {good} " in error and "kept" in error
        assert (champion, planned_by) == (good, good)
        # refreshed by the same champion from the same samples: the same floors, on the steps
        # both reach (a 5-minute mark passing between the two trainings moves the refresh on)
        kept, refreshed = dict(steps), dict(now_steps)
        common = kept.keys() & refreshed.keys()
        assert len(common) >= len(kept) - 1 and all(kept[t] == refreshed[t] for t in common)
    else:  # the fallback is right here
        assert run.status == "ok" and champion != good and planned_by == champion
        assert "fell back to seasonal_naive_daily" in run.details["services"]["chat"]["message"]


@pytest.mark.parametrize("fallback_works", [True, False], ids=["fallback", "nothing"])
def test_one_series_that_trips_the_engine_fails_only_its_own_service(
    database: Database, settings: Settings, monkeypatch: pytest.MonkeyPatch, fallback_works: bool
) -> None:
    """QA: one service whose series raised outside the candidates' own guards (injected
    here, at selection) failed the scheduled training of every service trained beside it,
    each recorded with the other's error, night after night. Its trouble is now its own: the
    others train, and it keeps its last good champion and plan, as any failed training does."""
    import forecaster.training.forecasting as forecasting
    from tests.helpers import ending_now, store_points, synthetic_traffic

    for name, scale in (("chat", 1.0), ("huge", 1000.0)):
        make_service(database, name=name, horizon_hours=2)
        store_points(database, settings, name, ending_now(synthetic_traffic(days=1) * scale))
    train_all(database, settings)
    good, _, _ = champion_and_plan(database, "huge")
    chat_before, _, _ = champion_and_plan(database, "chat")

    def trips_on_huge(history: pd.Series) -> bool:
        return float(history.max()) > 10_000

    finish, naive = forecasting._finish, forecasting.SeasonalNaiveDaily

    def tripping_finish(item: forecasting._Series, *args: object) -> ForecastOutcome:
        if trips_on_huge(item.history):
            raise ZeroDivisionError("this series' own trouble")
        return finish(item, *args)

    class TrippingNaive(naive):  # type: ignore[misc, valid-type]
        def fit(self, history: pd.Series) -> object:
            if trips_on_huge(history):
                raise MemoryError("and the fallback's")
            return super().fit(history)

    monkeypatch.setattr(forecasting, "_finish", tripping_finish)
    if not fallback_works:
        monkeypatch.setattr(forecasting, "SeasonalNaiveDaily", TrippingNaive)
    train_all(database, settings)

    run = job_runs(database, "train")[-1]
    services = run.details["services"]
    assert "error" not in services["chat"], services
    assert champion_and_plan(database, "chat")[0] != chat_before  # chat trained anew
    error = services["huge"]["error"]
    assert "the engine failed on this series (ZeroDivisionError: this series' own trouble)" in error
    if not fallback_works:
        assert "so did the fallback (MemoryError: and the fallback's)" in error
    assert f"champion run {good} " in error and "kept" in error
    assert champion_and_plan(database, "huge")[0] == good
    assert run.status == "failed" and "could not train huge" in (run.message or "")


PROMETHEUS_SOURCE = {"metric": "requests_per_second", "query": "sum(rate(requests_total[1m]))"}


def test_pull_job_without_a_prometheus_url_pulls_nothing_and_says_why(
    database: Database, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    make_service(database, name="chat", prometheus=[PROMETHEUS_SOURCE])
    pull_all(database, settings.model_copy(update={"prometheus_url": None}))
    assert job_runs(database, "pull_prometheus") == []
    assert "['chat'] have Prometheus sources but FORECASTER_PROMETHEUS_URL" in caplog.text


def test_pull_job_records_an_unreachable_prometheus_per_source(
    database: Database, settings: Settings
) -> None:
    make_service(database, name="chat", prometheus=[PROMETHEUS_SOURCE])
    make_service(database, name="idle")  # no sources: not pulled
    unreachable = settings.model_copy(
        update={"prometheus_url": "http://127.0.0.1:9", "prometheus_retries": 0}
    )
    pull_all(database, unreachable)  # the scheduler's pass survives it
    [run] = job_runs(database, "pull_prometheus")
    assert (run.service, run.status) == ("chat", "failed")
    assert "unreachable" in (run.message or "")


def test_retention_job_records_each_service(database: Database, settings: Settings) -> None:
    make_service(database, name="chat")
    make_service(database, name="search")
    retention_all(database, settings)
    runs = job_runs(database, "retention")
    assert sorted((run.service, run.status) for run in runs) == [("chat", "ok"), ("search", "ok")]


def test_a_training_pass_stopped_midway_warns_the_services_it_did_not_train(
    database: Database, settings: Settings
) -> None:
    """A pass that stops part-way (here its process lost the leader lock after storing chat)
    still names the services it never got to: each one's page warns that its training failed,
    while the one it stored reads as trained."""
    from forecaster.jobs.tasks import train_recorded
    from forecaster.leadership import LeadershipLostError, leading
    from tests.helpers import failed_job_warnings

    _services_with_traffic(database, settings, days=2, step_seconds=900)
    make_service(database, name="idle")
    before = {name: _training_failures(name) for name in ("chat", "embed")}
    held = iter([True, True])  # the lock holds for the fits and chat's store, then it is gone
    with pytest.raises(LeadershipLostError), leading(lambda: next(held, False)):
        train_recorded(database, ["chat", "embed"], settings)
    assert _training_failures("embed") == before["embed"] + 1
    assert _training_failures("chat") == before["chat"]
    [run] = job_runs(database, "train")
    assert run.status == "failed" and list(run.details["services"]) == ["chat"]
    failed = failed_job_warnings(database)
    assert failed["idle"] == [] and failed["chat"] == []
    [warning] = failed["embed"]
    assert warning.startswith("the last training (ago) failed: leadership lost after 1 of 2 ")


def test_a_scheduled_pass_stopped_midway_is_resumed_for_the_services_it_did_not_train(
    database: Database, settings: Settings
) -> None:
    """A rollout's SIGTERM during the nightly pass left embed untrained and warning until the
    next night: the next refresh's ``train-resume`` trains embed alone and the warning goes.
    A resume that stops before training anyone is not resumed again (a service that kills
    the process would be retried forever), nor is a pass run by hand."""
    from forecaster.jobs.tasks import resume_training, train_recorded
    from forecaster.leadership import LeadershipLostError, leading
    from tests.helpers import failed_job_warnings

    _services_with_traffic(database, settings, days=2, step_seconds=900)

    def stopped_after(trained: int, noted: dict[str, object] | None) -> None:
        held = iter([True] * (1 + trained))  # for the fits and ``trained`` stores, then gone
        with pytest.raises(LeadershipLostError), leading(lambda: next(held, False)):
            train_recorded(database, ["chat", "embed"], settings, noted=noted)

    resume_training(database, settings)  # no pass yet: nothing to resume
    assert job_runs(database, "train") == []
    stopped_after(1, {"trigger": "schedule"})
    assert failed_job_warnings(database)["embed"] != []
    assert _champion_id(database, "embed") is None

    resume_training(database, settings)
    first, resumed = job_runs(database, "train")
    assert (resumed.status, resumed.details["covers"]) == ("ok", ["embed"])
    assert (resumed.details["trigger"], resumed.details["resumes"]) == ("resume", first.id)
    assert list(resumed.details["services"]) == ["embed"]
    assert _champion_id(database, "embed") is not None
    assert failed_job_warnings(database) == {"chat": [], "embed": []}
    resume_training(database, settings)  # the resume went well: nothing left
    assert len(job_runs(database, "train")) == 2

    stopped_after(0, {"trigger": "schedule"})  # stopped again, before chat
    with pytest.raises(LeadershipLostError), leading(lambda: False):
        resume_training(database, settings)  # ... and its resume, before anyone
    *_, stopped, resume = job_runs(database, "train")
    assert resume.details["resumes"] == stopped.id and resume.status == "failed"
    resume_training(database, settings)  # a resume that got nowhere is not resumed
    stopped_after(0, None)  # nor is a pass run by hand (``forecaster train`` of many)
    count = len(job_runs(database, "train"))
    resume_training(database, settings)
    assert len(job_runs(database, "train")) == count == 5


def test_a_refresh_whose_term_ended_during_its_forecast_stores_nothing(
    database: Database, settings: Settings
) -> None:
    """A refresh checked its term before each service only: one whose forecast, or the fit it
    falls back on (chat has no champion yet), outlasted the term stored the service's
    forecast and plan a term late, from its history of then, over the new term's. The
    refresh and its fallback check again before they store."""
    from forecaster.leadership import LeadershipLostError, leading
    from forecaster.storage.orm import Forecast, Plan
    from forecaster.training.train import forecast_service

    def stored() -> tuple[int, int]:
        with database.session() as session:
            return session.query(Forecast).count(), session.query(Plan).count()

    _services_with_traffic(database, settings, days=2, step_seconds=900)
    train_service(database, "embed", settings, model="seasonal_naive_daily")
    before = stored()
    for name in ("chat", "embed"):  # the fallback's fit, then the champion's refresh
        with pytest.raises(LeadershipLostError, match="after 0 of 1"), leading(lambda: False):
            forecast_service(database, name, settings)  # its term ended while it forecast
    assert stored() == before
    forecast_service(database, "chat", settings)  # outside a scheduled job, no term applies
    assert stored() == (before[0] + 1, before[1] + 1)


def _champion_id(database: Database, name: str) -> int | None:
    with database.session() as session:
        service = get_service(session=session, name=name)
        series_id = driving_series_id(session=session, service=service, profile=profile_of(service))
        run = champion_run(session=session, series_id=series_id)
        return None if run is None else run.id


def test_a_pass_writes_whom_it_trained_as_it_goes(
    database: Database, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A pass killed part-way (SIGKILL, out of memory) records nothing at its end: its run
    must already say whom it had trained, or the overview warns them all and the resume
    trains them all again. Read here between two services, as a new leader would."""
    from forecaster.jobs import tasks
    from forecaster.leadership import leading

    monkeypatch.setattr(tasks, "PROGRESS_SAVE_SECONDS", 0.0)
    _services_with_traffic(database, settings, days=2, step_seconds=900)
    recorded: list[list[str]] = []

    def still_held() -> bool:  # checked before each service is stored
        [run] = job_runs(database, "train")
        recorded.append(sorted(run.details.get("services", {})))
        return True

    with leading(still_held):
        tasks.train_recorded(database, ["chat", "embed"], settings)
    assert recorded == [[], [], ["chat"]]  # before the fits, before chat's store, embed's


def test_no_resume_while_a_training_pass_runs(database: Database, settings: Settings) -> None:
    """The scheduled pass and the resume fire together after a restart that missed the
    pass: the resume stands aside rather than train the same services side by side."""
    from forecaster.jobs import tasks
    from forecaster.leadership import LeadershipLostError, leading, term_lock

    _services_with_traffic(database, settings, days=2, step_seconds=900)
    with pytest.raises(LeadershipLostError), leading(lambda: False):
        tasks.train_recorded(database, ["chat", "embed"], settings, noted={"trigger": "schedule"})
    with term_lock(tasks.TRAINING_PASS):  # a pass is running
        tasks.resume_training(database, settings)
    assert len(job_runs(database, "train")) == 1
    tasks.resume_training(database, settings)
    assert len(job_runs(database, "train")) == 2


# a profile's stored text made no JSON by hand: a JSON column on PostgreSQL refuses such text
SQLITE_ONLY = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
DAMAGED = 'a stored value of service "broken" is damaged (a stored JSON value is malformed'


def damage(database: Database, name: str) -> None:
    """Make a service's stored profile text that is not JSON, as an operator's UPDATE may."""
    with database.session() as session:
        session.execute(
            text("UPDATE services SET profile = '{not json' WHERE name = :name"), {"name": name}
        )


def said_damaged(message: str | None) -> bool:
    """Whether a recorded or logged failure is the damaged row's, naming its fix."""
    return (message or "").startswith(DAMAGED) and (message or "").endswith(DAMAGED_DATA)


@SQLITE_ONLY
def test_a_damaged_row_fails_its_own_actuation_and_the_others_are_pushed(
    database: Database,
    settings: Settings,
    kube: FakeKubeApi,
    kubeconfig: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Review: listing the services with targets read every profile, and one whose stored text
    is not JSON (DamagedValueError) stopped the pass: no service's plan was pushed. It may
    hold targets above their baselines, so its own run fails, naming the fix."""
    fast = settings.model_copy(update={"actuator_retry_base_seconds": 0.01})
    for name in ("broken", "chat"):
        kube.add(*HPA, hpa(name=name, low=2))
        make_service(database, name=name, targets=[hpa_target(kubeconfig, name)])
        store_plan(database, name=name, replicas=[5] * 48)
    damage(database, "broken")

    actuate_all(database, fast)

    runs = {run.service: run for run in job_runs(database, "actuate")}
    assert runs["chat"].status == "ok"
    assert kube.get(*HPA, "ml", "chat")["spec"]["minReplicas"] == 5
    assert runs["broken"].status == "failed" and said_damaged(runs["broken"].message)
    assert f"actuate of service broken failed: {runs['broken'].message}" in caplog.messages


@SQLITE_ONLY
def test_a_damaged_row_fails_its_own_refresh_in_words(
    database: Database, settings: Settings
) -> None:
    """A pass over the enabled services by name met the damaged row in its own run, recorded
    as "DamagedValueError: ..." with a traceback logged and no word of the fix."""
    make_service(database, name="broken")
    damage(database, "broken")
    forecast_all(database, settings)
    [run] = job_runs(database, "forecast")
    assert run.status == "failed" and said_damaged(run.message)


@SQLITE_ONLY
def test_a_damaged_row_leaves_the_others_pulled(
    database: Database, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    """Review: the pull pass listed every service's profile, and one damaged row stopped it
    (logged as the whole pass failing): no source of any service was pulled."""
    make_service(database, name="broken", prometheus=[PROMETHEUS_SOURCE])
    make_service(database, name="chat", prometheus=[PROMETHEUS_SOURCE])
    damage(database, "broken")
    unreachable = settings.model_copy(
        update={"prometheus_url": "http://127.0.0.1:9", "prometheus_retries": 0}
    )
    pull_all(database, unreachable)
    [run] = job_runs(database, "pull_prometheus")
    assert (run.service, run.status) == ("chat", "failed")
    assert "unreachable" in (run.message or "")
    assert any(
        said_damaged(m.removesuffix("; its sources are not pulled")) for m in caplog.messages
    )

    caplog.clear()  # without a Prometheus URL the warning still names the others
    pull_all(database, settings.model_copy(update={"prometheus_url": None}))
    assert "['chat'] have Prometheus sources but FORECASTER_PROMETHEUS_URL" in caplog.text


@SQLITE_ONLY
def test_a_damaged_row_fails_its_own_retention_and_the_others_roll_up(
    database: Database, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    """Review: retention read every service's profile first, and one damaged row stopped it
    for every service (logged as apply_retention failing, nothing recorded)."""
    make_service(database, name="broken")
    make_service(database, name="chat")
    damage(database, "broken")
    retention_all(database, settings)
    runs = {run.service: run for run in job_runs(database, "retention")}
    assert runs["chat"].status == "ok"
    assert runs["broken"].status == "failed" and said_damaged(runs["broken"].message)
    assert f"retention of broken failed: {runs['broken'].message}" in caplog.messages
