"""Housekeeping: routine records older than the retention window go; the audit trail stays."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from forecaster.jobs.housekeeping import prune_records
from forecaster.jobs.tasks import retention_all
from forecaster.settings import Settings
from forecaster.storage.actuations import record_actuation
from forecaster.storage.db import Database
from forecaster.storage.jobs import recorded_job
from forecaster.storage.orm import Actuation, JobRun
from forecaster.storage.services import get_service
from forecaster.timeutil import utc_now
from tests.actuators.factories import make_service


def age(database: Database, model: type[Actuation] | type[JobRun], days: float) -> None:
    """Move every row of ``model`` stored so far ``days`` into the past."""
    column = Actuation.created_at if model is Actuation else JobRun.started_at
    with database.session() as session:
        for row in session.execute(select(model)).scalars():
            setattr(row, column.key, utc_now() - timedelta(days=days))


def audit(database: Database, *outcomes: str) -> None:
    with database.session() as session:
        service_id = get_service(session=session, name="chat").id
        for outcome in outcomes:
            record_actuation(
                session=session,
                service_id=service_id,
                plan_id=None,
                target="ml/chat",
                kind="kubernetes-hpa",
                dry_run=False,
                outcome=outcome,
                before={},
                after={},
                error=None,
                actor="scheduler",
            )


def outcomes(database: Database) -> list[str]:
    with database.session() as session:
        return sorted(row.outcome for row in session.execute(select(Actuation)).scalars())


def test_old_routine_records_go_and_changes_stay(database: Database, settings: Settings) -> None:
    make_service(database, name="chat")
    for _ in range(3):
        with recorded_job(database.sessions, "pull_prometheus", "chat"):
            pass
    audit(database, "unchanged", "unchanged", "applied", "failed", "restored")
    age(database, JobRun, days=40)
    age(database, Actuation, days=40)
    with recorded_job(database.sessions, "forecast", "chat"):  # recent: kept
        pass
    audit(database, "unchanged")  # recent: kept

    pruned = prune_records(database, settings)

    assert (pruned.job_runs, pruned.unchanged_actuations) == (3, 2)
    assert outcomes(database) == ["applied", "failed", "restored", "unchanged"]
    with database.session() as session:
        jobs = sorted(run.job for run in session.execute(select(JobRun)).scalars())
    assert jobs == ["forecast", "prune"]


def test_a_shorter_window_and_the_daily_job(database: Database, settings: Settings) -> None:
    make_service(database, name="chat")
    audit(database, "unchanged")
    age(database, Actuation, days=2)
    retention_all(database, settings)  # 30 days by default: kept
    assert outcomes(database) == ["unchanged"]
    retention_all(database, settings.model_copy(update={"retention_records_days": 1}))
    assert outcomes(database) == []
