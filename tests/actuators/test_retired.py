"""Targets taken out of a profile get their baselines back; a failing target is never hidden.

Both found by an actuator QA pass: an HPA whose target was removed from the profile stayed at
the last floor pushed (30 against a baseline of 2) after the plan had gone stale, and a failing
target's warning was hidden by a later target's success or by a dry run.
"""

from __future__ import annotations

import shutil
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from kubernetes.config import kube_config
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from forecaster.actuators import run
from forecaster.actuators.retired import RETIRED_AT, retire_removed
from forecaster.actuators.run import GIVEN_UP, actuate_service
from forecaster.jobs.tasks import services_with_targets
from forecaster.profiles import ActuationTarget
from forecaster.settings import Settings
from forecaster.storage.db import Database
from forecaster.storage.services import find_service, get_service, upsert_service
from forecaster.timeutil import utc_now
from tests.actuators.conftest import HPA, hpa
from tests.actuators.factories import make_service, scaling_profile, store_plan
from tests.fakes.kube_api import FakeKubeApi
from tests.helpers import service_warnings


@pytest.fixture
def fast(settings: Settings) -> Settings:
    return settings.model_copy(
        update={"actuator_retry_base_seconds": 0.01, "actuator_read_timeout_seconds": 2.0}
    )


def hpa_target(kubeconfig: str, name: str = "chat", label: str | None = None) -> dict[str, Any]:
    config = {"namespace": "ml", "name": name, "kubeconfig": kubeconfig}
    return {"kind": "kubernetes-hpa", "name": label, "config": config}


def retired_of(database: Database) -> list[dict[str, Any]]:
    with database.session() as session:
        return list(get_service(session=session, name="chat").retired_targets)


def actuation_warnings(database: Database) -> list[str]:
    return service_warnings(database, "chat", "last actuation")


def test_a_target_taken_out_of_the_profile_gets_its_baseline_back(
    database: Database, fast: Settings, kube: FakeKubeApi, kubeconfig: str
) -> None:
    kube.add(*HPA, hpa(low=2, high=50))
    make_service(database, targets=[hpa_target(kubeconfig)])
    store_plan(database, replicas=[30] * 48)
    actuate_service(database, "chat", fast)
    assert kube.get(*HPA, "ml", "chat")["spec"]["minReplicas"] == 30

    make_service(database, targets=[])
    assert [entry["config"]["name"] for entry in retired_of(database)] == ["chat"]
    assert services_with_targets(database) == ["chat"]  # still visited, to restore it
    preview = actuate_service(database, "chat", fast, dry_run=True)
    assert [r.outcome for r in preview.records] == ["restored"]
    assert retired_of(database) != []  # a dry run restores nothing, so forgets nothing

    done = actuate_service(database, "chat", fast)
    assert [(r.outcome, r.after["window"]["status"]) for r in done.records] == [
        ("restored", "retired")
    ]
    restored = kube.get(*HPA, "ml", "chat")
    assert restored["spec"]["minReplicas"] == 2
    assert not any(key.startswith("forecaster.io/") for key in restored["metadata"]["annotations"])
    assert retired_of(database) == [] and services_with_targets(database) == []
    assert actuate_service(database, "chat", fast).records == []


def test_a_renamed_target_is_the_same_target_and_one_put_back_leaves_the_list(
    kubeconfig: str,
) -> None:
    now = utc_now()
    main = ActuationTarget.model_validate(hpa_target(kubeconfig, label="main"))
    renamed = ActuationTarget.model_validate(hpa_target(kubeconfig, label="primary"))
    other = ActuationTarget.model_validate(hpa_target(kubeconfig, name="embed"))
    assert retire_removed([], before=[main], after=[renamed], now=now) == []
    retired = retire_removed([], before=[main, other], after=[renamed], now=now)
    assert [entry["config"]["name"] for entry in retired] == ["embed"]
    assert retired[0][RETIRED_AT] == now.isoformat()
    again = retire_removed(retired, before=[renamed], after=[], now=now + timedelta(hours=1))
    assert [(e["config"]["name"], e[RETIRED_AT]) for e in again] == [
        ("embed", now.isoformat()),  # kept once, from when it first left
        ("chat", (now + timedelta(hours=1)).isoformat()),
    ]
    assert retire_removed(again, before=[], after=[other], now=now) == again[1:]


def test_a_retired_target_that_keeps_failing_is_given_up_after_a_day(
    database: Database, fast: Settings, kube: FakeKubeApi, kubeconfig: str
) -> None:
    make_service(database, targets=[hpa_target(kubeconfig, name="gone")])
    make_service(database, targets=[])
    first = actuate_service(database, "chat", fast)  # the HPA does not exist: 404
    assert [r.outcome for r in first.records] == ["failed"]
    assert len(retired_of(database)) == 1
    assert actuation_warnings(database) == [
        f"last actuation of ml/gone failed: {first.records[0].error}"
    ]

    with database.session() as session:
        service = get_service(session=session, name="chat")
        entry = dict(service.retired_targets[0])
        entry[RETIRED_AT] = (utc_now() - timedelta(days=1, minutes=1)).isoformat()
        service.retired_targets = [entry]
    last = actuate_service(database, "chat", fast)
    assert [r.outcome for r in last.records] == ["failed"]
    assert GIVEN_UP in last.records[0].after["notes"]
    assert retired_of(database) == [] and services_with_targets(database) == []


def test_a_failing_target_is_warned_about_whatever_comes_after_it(
    database: Database, fast: Settings, kube: FakeKubeApi, kubeconfig: str
) -> None:
    kube.add(*HPA, hpa(low=2, high=50))
    typo = hpa_target(kubeconfig, name="chat-typo", label="typo")
    make_service(database, targets=[typo, hpa_target(kubeconfig, label="main")])
    store_plan(database, replicas=[9] * 48)
    done = actuate_service(database, "chat", fast)
    assert [r.outcome for r in done.records] == ["failed", "applied"]
    expected = [f"last actuation of typo: ml/chat-typo failed: {done.records[0].error}"]
    assert actuation_warnings(database) == expected

    actuate_service(database, "chat", fast, dry_run=True)  # reads, so cannot say a push works
    assert actuation_warnings(database) == expected

    make_service(database, targets=[hpa_target(kubeconfig, label="main")])
    kube.add(*HPA, hpa(name="chat-typo", low=2, high=50))  # the retired one restores cleanly
    actuate_service(database, "chat", fast)
    assert actuation_warnings(database) == []


def test_changing_a_targets_options_leaves_the_object_at_its_floor(
    database: Database, fast: Settings, kube: FakeKubeApi, kubeconfig: str
) -> None:
    """Writing out a default used to retire the target and add it again: the pass restored
    the HPA to 2, then pushed under max_step_up 3 from there, 10 -> 2 -> 5."""
    kube.add(*HPA, hpa(low=2, high=20))
    make_service(database, targets=[hpa_target(kubeconfig)], max_step_up=3)
    store_plan(database, replicas=[10] * 48)
    for _ in range(3):
        actuate_service(database, "chat", fast)
    assert kube.get(*HPA, "ml", "chat")["spec"]["minReplicas"] == 10

    explicit = hpa_target(kubeconfig)
    explicit["config"]["allow_below_baseline"] = False
    make_service(database, targets=[explicit], max_step_up=3)
    assert retired_of(database) == []
    done = actuate_service(database, "chat", fast)
    assert [r.outcome for r in done.records] == ["unchanged"]
    assert kube.get(*HPA, "ml", "chat")["spec"]["minReplicas"] == 10

    other_object = hpa_target(kubeconfig, name="embed")
    make_service(database, targets=[other_object], max_step_up=3)
    assert [entry["config"]["name"] for entry in retired_of(database)] == ["chat"]


@pytest.mark.parametrize(
    "edit",
    [
        {"in_cluster": False},
        {"kubeconfig": "default"},  # the file the client loads anyway
        {"kubeconfig": "moved"},  # a copy at another path (a secret mounted elsewhere)
        {"context": "fake"},  # the file's current context
    ],
)
def test_spelling_out_how_a_target_reaches_its_cluster_leaves_its_floor(
    database: Database,
    fast: Settings,
    kube: FakeKubeApi,
    kubeconfig: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    edit: dict[str, Any],
) -> None:
    """The target was retired and added again: the pass restored the HPA to its baseline in
    the plan's peak, then stepped it up under max_step_up from there, 11 -> 2 -> 5."""
    monkeypatch.setattr(kube_config, "KUBE_CONFIG_DEFAULT_LOCATION", kubeconfig)
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    moved = tmp_path / "mounted" / "kubeconfig"
    moved.parent.mkdir()
    shutil.copy(kubeconfig, moved)
    paths = {"default": kubeconfig, "moved": str(moved)}
    kube.add(*HPA, hpa(low=2, high=20))
    plain = {"kind": "kubernetes-hpa", "config": {"namespace": "ml", "name": "chat"}}
    make_service(database, targets=[plain], max_step_up=3)
    store_plan(database, replicas=[11] * 48)
    for _ in range(3):
        actuate_service(database, "chat", fast)
    assert kube.get(*HPA, "ml", "chat")["spec"]["minReplicas"] == 11

    written = {key: paths.get(value, value) for key, value in edit.items()}
    target = {**plain, "config": {**plain["config"], **written}}
    make_service(database, targets=[target], max_step_up=3)
    assert retired_of(database) == []
    done = actuate_service(database, "chat", fast)
    assert [r.outcome for r in done.records] == ["unchanged"]
    assert kube.get(*HPA, "ml", "chat")["spec"]["minReplicas"] == 11


def put_refused_while_held(database_url: str, targets: list[dict[str, Any]]) -> bool:
    """Another replica's profile update, waiting at most 0.2 s for a lock: whether it had to
    give up (the row or the database's write lock held); True leaves nothing changed."""
    replica = Database(database_url)
    try:
        with replica.session() as session:
            if replica.is_sqlite:
                session.connection().exec_driver_sql("PRAGMA busy_timeout = 200")
            else:
                session.execute(text("SET LOCAL lock_timeout = '200ms'"))
            upsert_service(session=session, name="chat", profile=scaling_profile(targets))
    except OperationalError:
        return True
    finally:
        replica.dispose()
    return False


def test_a_profile_update_during_a_pass_keeps_the_target_it_retired(
    database: Database,
    database_url: str,
    fast: Settings,
    kube: FakeKubeApi,
    kubeconfig: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The pass forgot the targets it had restored by writing back the retired list it read
    at its end, less those: a profile update committed between that read and the write
    (another replica's PUT, taking out one more target) was overwritten, and the target it
    retired was never restored, its HPA left at the plan's floor. The pass now reads and
    writes under the service's lock: the update waits for it (here gives up, then is made
    again) and both changes are kept."""
    kube.add(*HPA, hpa(name="chat", low=2, high=50))
    kube.add(*HPA, hpa(name="embed", low=3, high=50))
    chat, embed = hpa_target(kubeconfig, "chat"), hpa_target(kubeconfig, "embed")
    make_service(database, targets=[chat, embed])
    store_plan(database, replicas=[30] * 48)
    actuate_service(database, "chat", fast)  # both HPAs at the plan's floor
    make_service(database, targets=[embed])  # chat is retired, to be restored
    refused: list[bool] = []

    def forget_restored(retired: Any, done: Any) -> list[dict[str, Any]]:
        refused.append(put_refused_while_held(database_url, []))  # embed taken out too
        return without(retired, done)

    without = run.without
    monkeypatch.setattr(run, "without", forget_restored)
    done = actuate_service(database, "chat", fast)
    assert [(r.target, r.outcome) for r in done.records] == [
        ("ml/chat", "restored"),
        ("ml/embed", "unchanged"),  # at the floor already
    ]
    if refused == [True]:  # it waited for the pass: made again, as its client retries
        assert not put_refused_while_held(database_url, [])
    assert [entry["config"]["name"] for entry in retired_of(database)] == ["embed"]
    assert refused == [True]  # the update waited for the pass's write
    monkeypatch.undo()
    actuate_service(database, "chat", fast)  # the next pass restores embed too
    assert kube.get(*HPA, "ml", "embed")["spec"]["minReplicas"] == 3
    assert retired_of(database) == []


def test_a_profile_update_keeps_what_a_pass_forgot_after_the_update_looked_the_service_up(
    database: Database, fast: Settings, kube: FakeKubeApi, kubeconfig: str
) -> None:
    """A profile update (PUT) looks the service up before it writes: a pass that restored and
    forgot a retired target in between was undone, the update writing back the retired list
    of its first look, and the next pass restored that target again, over whatever had been
    set on it since. The update reads the list again once it holds the row."""
    kube.add(*HPA, hpa(name="chat", low=2, high=50))
    kube.add(*HPA, hpa(name="embed", low=3, high=50))
    chat, embed = hpa_target(kubeconfig, "chat"), hpa_target(kubeconfig, "embed")
    make_service(database, targets=[chat, embed])
    store_plan(database, replicas=[30] * 48)
    actuate_service(database, "chat", fast)
    make_service(database, targets=[embed])  # chat is retired
    with database.session() as session:
        existing = find_service(session=session, name="chat")  # as the PUT route does
        assert existing is not None  # (and keeps it, so the session does too)
        done = actuate_service(database, "chat", fast)  # meanwhile: chat restored, forgotten
        assert [r.outcome for r in done.records] == ["restored", "unchanged"]
        upsert_service(session=session, name="chat", profile=scaling_profile([]))  # embed out
    assert [entry["config"]["name"] for entry in retired_of(database)] == ["embed"]
