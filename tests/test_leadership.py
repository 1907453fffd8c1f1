"""A scheduled pass whose process loses the leader lock stops before its next service.

Real databases: on PostgreSQL the session holding the advisory lock is terminated (as a server
restart does), on SQLite the lock file is removed; in both a standby can then take the lock,
so the old leader's pass must not write one more service.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest

from forecaster.ingestion.prometheus import pull_prometheus
from forecaster.ingestion.retention import apply_retention
from forecaster.jobs.leader import LeaderLock
from forecaster.jobs.registry import JobSpec
from forecaster.jobs.scheduler import JobScheduler
from forecaster.jobs.tasks import each_service
from forecaster.leadership import LeadershipLostError, check_leading, leading
from forecaster.profiles import PrometheusSource, ScalingProfile
from forecaster.settings import Settings
from forecaster.storage.db import Database
from forecaster.storage.jobs import list_job_runs
from forecaster.storage.plans import latest_plan
from forecaster.storage.services import get_service
from forecaster.timeutil import utc_now
from forecaster.training.train import TrainResult, train_services
from tests.helpers import lose_lock, store_service

NAMES = ["a", "b", "c", "d"]
LOST = "leadership lost after 2 of 4 services"


def take_over(database: Database) -> LeaderLock:
    standby = LeaderLock(database)
    deadline = time.monotonic() + 10  # the terminated backend frees its lock as it exits
    while not standby.try_acquire():
        assert time.monotonic() < deadline, "the standby never got the lock"
        time.sleep(0.05)
    return standby


def statuses(database: Database, job: str) -> dict[str | None, tuple[str, str | None]]:
    with database.session() as session:
        return {r.service: (r.status, r.message) for r in list_job_runs(session=session, job=job)}


def test_a_pass_stops_at_the_next_service_once_the_lock_is_lost(
    database: Database, settings: Settings
) -> None:
    worked: list[str] = []
    standbys: list[LeaderLock] = []

    def work(name: str) -> dict[str, object]:
        worked.append(name)
        if len(worked) == 2:  # mid-pass: the lock goes and a standby takes it
            lose_lock(database, scheduler.lock)
            standbys.append(take_over(database))
        return {}

    def a_pass(db: Database, _settings: Settings) -> None:
        each_service(db, "pass", NAMES, work)

    # the scheduler's own lease check would take a minute: the pass must notice by itself
    spec = JobSpec("pass", a_pass, lambda _s: "every 1h")
    scheduler = JobScheduler(database, settings, [spec], lease_check_seconds=60)
    scheduler.start()
    try:
        assert scheduler.wait_until_leader(30)
        scheduler.run("pass", term=scheduler.terms)  # as APScheduler does, on this thread
    finally:
        scheduler.stop()
        for standby in standbys:
            standby.release()
    assert worked == ["a", "b"]
    runs = statuses(database, "pass")
    assert runs["a"] == ("ok", None) and runs["b"] == ("ok", None)
    status, message = runs["c"]
    assert status == "failed" and message is not None and message.startswith(LOST)
    assert "d" not in runs


def test_outside_a_scheduled_job_there_is_no_leadership_to_lose() -> None:
    check_leading(0, 1)  # the CLI and the API run passes without a scheduler
    with leading(lambda: True):
        check_leading(0, 1)
    with leading(lambda: False), pytest.raises(LeadershipLostError, match="after 0 of 1"):
        check_leading(0, 1)
    check_leading(0, 1)


def run_stopped(pass_: Callable[[], object]) -> None:
    with leading(lambda: False), pytest.raises(LeadershipLostError, match="after 0 of 2"):
        pass_()


def test_every_multi_service_pass_checks_before_each_service(
    database: Database, settings: Settings
) -> None:
    source = PrometheusSource(metric="requests_per_second", query="sum(rate(x[1m]))")
    profile = ScalingProfile(
        step_seconds=3600, horizon_hours=6, capacity_per_replica=10, prometheus=[source]
    )
    index = pd.date_range(end=pd.Timestamp(utc_now()).floor("h"), periods=72, freq="h")
    trace = pd.Series(50 + 20 * np.sin(np.arange(72) * 2 * np.pi / 24), index=index)
    for name in ("a", "b"):
        store_service(database, settings, name, trace, profile)
    run_stopped(lambda: apply_retention(database, settings))
    assert statuses(database, "retention")["a"][1] == (
        "leadership lost after 0 of 2 services; the new leader's run does the rest"
    )
    run_stopped(lambda: train_services(database, ["a", "b"], settings))
    with database.session() as session:  # fitted, but not stored
        assert (
            latest_plan(session=session, service_id=get_service(session=session, name="a").id)
            is None
        )
    run_stopped(lambda: each_service(database, "forecast", ["a", "b"], lambda _n: {}))
    pulling = settings.model_copy(update={"prometheus_url": "http://127.0.0.1:9"})
    with leading(lambda: False), pytest.raises(LeadershipLostError, match="after 0 of 2 sources"):
        pull_prometheus(database, pulling)  # nothing asked of Prometheus
    assert statuses(database, "pull_prometheus")["a"][0] == "failed"


def test_a_shutdown_during_the_fits_still_stores_them_while_the_lock_holds(
    database: Database, settings: Settings
) -> None:
    """SIGTERM arrived while the group was fitting: the fits made are stored (the lock holds
    through the stop's grace, so no new leader overlaps), where they had all been thrown away
    for the resume to redo; a shutdown before the fits starts none."""
    profile = ScalingProfile(step_seconds=3600, horizon_hours=6, capacity_per_replica=10)
    index = pd.date_range(end=pd.Timestamp(utc_now()).floor("h"), periods=72, freq="h")
    trace = pd.Series(50 + 20 * np.sin(np.arange(72) * 2 * np.pi / 24), index=index)
    for name in ("a", "b"):
        store_service(database, settings, name, trace, profile)
    with leading(lambda: True, stopping=lambda: True), pytest.raises(LeadershipLostError):
        train_services(database, ["a", "b"], settings)  # before the fits: none started
    signals = iter([False])  # no shutdown yet at the start of the fits, then one
    with leading(lambda: True, stopping=lambda: next(signals, True)):
        results = train_services(database, ["a", "b"], settings)
    assert all(isinstance(result, TrainResult) for result in results.values())
    with database.session() as session:
        for name in ("a", "b"):
            service_id = get_service(session=session, name=name).id
            assert latest_plan(session=session, service_id=service_id) is not None
