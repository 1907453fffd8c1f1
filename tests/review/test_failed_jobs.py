"""A training that keeps failing leaves the old champion forecasting, so nothing else shows it:
the overview (dashboard, ``forecaster status``) warns when a service's latest training or
forecast refresh failed, and stops once a later run goes well."""

from __future__ import annotations

from datetime import timedelta

import pytest

from forecaster.errors import NotFoundError
from forecaster.review.detail import service_detail
from forecaster.storage.db import Database
from forecaster.storage.jobs import (
    ABANDONED,
    close_abandoned_job_runs,
    list_job_runs,
    recorded_job,
)
from forecaster.storage.services import delete_service
from forecaster.timeutil import utc_now
from tests.actuators.factories import make_service, store_plan
from tests.helpers import failed_job_warnings


def test_the_latest_failed_training_or_refresh_is_a_warning_until_a_run_goes_well(
    database: Database,
) -> None:
    for name in ("chat", "search"):
        make_service(database, name=name)
        store_plan(database, name=name, replicas=[2] * 48)
    with pytest.raises(RuntimeError), recorded_job(database.sessions, "train") as pass_details:
        pass_details["services"] = {
            "chat": {"error": "every candidate failed: lightgbm: bad install"},
            "search": {"model": "mstl", "plan_id": 1},
        }
        raise RuntimeError("could not train chat")  # the pass fails, naming chat
    with pytest.raises(RuntimeError), recorded_job(database.sessions, "forecast", "search"):
        raise RuntimeError("the database went away")
    warnings = failed_job_warnings(database)
    assert warnings["chat"] == [
        "the last training (ago) failed: every candidate failed: lightgbm: bad install; "
        "the champion and plan before it stay in force"
    ]
    assert warnings["search"] == [
        "the last forecast refresh (ago) failed: RuntimeError: the database went away; "
        "the plan in force runs on until it ends"
    ]
    with database.session() as session:  # each service's own page says the same, alone
        pages = {
            name: service_detail(session=session, name=name, now=utc_now()).summary.warnings
            for name in ("chat", "search")
        }
    for name, job in (("chat", "training"), ("search", "forecast refresh")):
        failed = [w for w in pages[name] if w.startswith("the last ")]
        assert len(failed) == 1 and failed[0].startswith(f"the last {job} ("), pages[name]

    with recorded_job(database.sessions, "train", "chat") as details:  # trained on demand
        details["model"] = "prophet"
    with recorded_job(database.sessions, "forecast", "search"):
        pass
    assert failed_job_warnings(database) == {"chat": [], "search": []}


def test_a_service_made_again_under_a_deleted_ones_name_inherits_none_of_its_failures(
    database: Database,
) -> None:
    """QA: the deleted service's runs that ended after the delete (a training, a pass naming
    it in its outcomes) warned that the new service's last training had failed."""
    make_service(database, name="chat")
    gone = 'service "chat" was deleted while it trained; nothing was stored'
    with (
        pytest.raises(NotFoundError),
        recorded_job(database.sessions, "train", covers=["chat"]) as pass_details,
        recorded_job(database.sessions, "train", "chat"),
    ):
        with database.session() as session:
            delete_service(session=session, name="chat")
        make_service(database, name="chat")
        pass_details["services"] = {"chat": {"error": gone}}
        raise NotFoundError(gone)
    assert failed_job_warnings(database) == {"chat": []}
    with database.session() as session:  # the training's own record still says what happened
        runs = list_job_runs(session=session)
        assert [(run.service, run.message) for run in runs] == [("chat", gone), (None, gone)]

    with pytest.raises(RuntimeError), recorded_job(database.sessions, "forecast", "chat"):
        raise RuntimeError("timeout")  # the new service's own failures still warn
    assert failed_job_warnings(database)["chat"] != []


def test_failures_older_than_the_recent_runs_are_not_looked_for(database: Database) -> None:
    make_service(database, name="chat")
    with pytest.raises(RuntimeError), recorded_job(database.sessions, "forecast", "chat"):
        raise RuntimeError("timeout")
    assert failed_job_warnings(database)["chat"] != []
    assert failed_job_warnings(database, later=timedelta(hours=37))["chat"] == []


def test_a_pass_that_stops_before_recording_outcomes_warns_every_service_it_set_out_to_do(
    database: Database,
) -> None:
    """A pass that crashes, or whose process is killed, before it records each service's
    outcome failed every service it covered; services outside it are not warned."""
    for name in ("chat", "search", "embed"):
        make_service(database, name=name)
    for name in ("chat", "search"):
        store_plan(database, name=name, replicas=[2] * 48)
    with (
        pytest.raises(MemoryError),
        recorded_job(database.sessions, "train", covers=["chat", "search"]),
    ):
        raise MemoryError("cannot allocate the global booster")
    crashed = (
        "the last training (ago) failed: MemoryError: cannot allocate the global booster; "
        "the champion and plan before it stay in force"
    )
    assert failed_job_warnings(database) == {"chat": [crashed], "search": [crashed], "embed": []}

    killed = recorded_job(database.sessions, "forecast", covers=["embed"])
    killed.__enter__()  # the process dies here; the next leader closes what it left open
    with database.sessions.begin() as session:
        assert close_abandoned_job_runs(session=session, now=utc_now() + timedelta(1)) == 1
    assert failed_job_warnings(database)["embed"] == [
        f"the last forecast refresh (ago) failed: {ABANDONED}; it has no plan yet"
    ]

    with recorded_job(database.sessions, "train", covers=["chat"]) as details:
        details["services"] = {"chat": {"model": "mstl"}}  # a later pass went well for chat
    assert failed_job_warnings(database)["chat"] == []
    assert failed_job_warnings(database)["search"] == [crashed]
