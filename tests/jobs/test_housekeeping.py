"""Housekeeping: routine records older than the retention window go; the audit trail stays."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import select, update

from api.app import create_app
from forecaster.jobs.housekeeping import prune_records
from forecaster.jobs.tasks import retention_all
from forecaster.profiles import ScalingProfile
from forecaster.settings import Settings
from forecaster.storage.db import Database
from forecaster.storage.jobs import recorded_job
from forecaster.storage.orm import Actuation, Forecast, ForecastPoint, JobRun, ModelRun, Plan
from forecaster.storage.services import get_service
from forecaster.timeutil import utc_now
from forecaster.training.train import forecast_service, train_service
from tests.actuators.factories import make_service, record_push
from tests.helpers import ending_now, store_service, synthetic_traffic


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
            record_push(session, service_id, outcome=outcome)


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


def ids(database: Database, model: type[Forecast] | type[Plan] | type[ModelRun]) -> list[int]:
    with database.session() as session:
        return sorted(session.execute(select(model.id)).scalars())


def test_old_forecasts_plans_and_runs_go_but_what_is_in_use_stays(
    database: Database, settings: Settings
) -> None:
    """Every 15-minute refresh stores a forecast and a plan of a horizon of steps each, every
    training a model run per candidate with the champion's fitted model: nothing deleted them.
    The plan in force, the newest forecast and the champion's training stay however old."""
    profile = ScalingProfile(capacity_per_replica=10, horizon_hours=2)
    store_service(database, settings, "chat", ending_now(synthetic_traffic(days=3)), profile)
    train_service(database, "chat", settings, model="auto")  # several candidates
    second = train_service(database, "chat", settings, model="seasonal_naive_daily")
    refreshed = forecast_service(database, "chat", settings)  # by the second's champion
    runs_of_first = set(ids(database, ModelRun)) - {
        run for run in ids(database, ModelRun) if run >= second.run_id
    }
    assert len(runs_of_first) > 1 and refreshed.run_id == second.run_id
    with database.session() as session:  # everything is ten days old
        long_ago = utc_now() - timedelta(days=10)
        for model in (Forecast, ModelRun):
            session.execute(update(model).values(created_at=long_ago))
        session.execute(update(Plan).values(generated_at=long_ago))

    pruned = prune_records(database, settings)

    assert (pruned.plans, pruned.forecasts, pruned.model_runs) == (2, 2, len(runs_of_first))
    assert ids(database, Plan) == [refreshed.plan_id]
    assert ids(database, Forecast) == [refreshed.forecast_id]
    assert not set(ids(database, ModelRun)) & runs_of_first
    with database.session() as session:
        points = session.execute(select(ForecastPoint.forecast_id).distinct()).scalars()
        assert list(points) == [refreshed.forecast_id]
    with TestClient(create_app(settings, database)) as client:
        plan = client.get("/v1/services/chat/plan")
        assert plan.status_code == 200 and plan.json()["plan_id"] == refreshed.plan_id
        assert client.get("/v1/services/chat/forecast").status_code == 200
        assert len(client.get("/v1/services/chat/runs").json()["data"]) >= 1
    again = forecast_service(database, "chat", settings)  # the kept champion still forecasts
    assert again.run_id == second.run_id
    prune_records(database, settings)  # now the old ones are out of use: they go
    assert (ids(database, Plan), ids(database, Forecast)) == ([again.plan_id], [again.forecast_id])
