"""Deployment-wide training: services sharing a step train side by side with a global model."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import select, text

from forecaster.errors import NotFoundError, NotReadyError
from forecaster.ingestion.batch import SeriesPoints, ingest_batch
from forecaster.jobs.tasks import train_all
from forecaster.profiles import ScalingProfile
from forecaster.settings import Settings
from forecaster.storage.db import Database
from forecaster.storage.failures import DAMAGED_DATA
from forecaster.storage.forecasts import latest_training_runs
from forecaster.storage.orm import JobRun
from forecaster.storage.services import get_service, upsert_service
from forecaster.timeutil import utc_now
from forecaster.training.service_data import driving_series_id
from forecaster.training.train import train_services
from tests.helpers import chunks_trained, dask_workers

PROFILE = ScalingProfile(step_seconds=3600, horizon_hours=12, capacity_per_replica=10)


@pytest.mark.parametrize("spread_over", ["processes", "dask"])
def test_services_train_together_with_a_global_model(
    database: Database, settings: Settings, spread_over: str, request: pytest.FixtureRequest
) -> None:
    end = pd.Timestamp(utc_now()).floor("h")
    index = pd.date_range(end=end, periods=24 * 4, freq="h")
    rng = np.random.default_rng(0)
    with database.session() as session:
        for number, name in enumerate(("chat", "search", "embed")):
            upsert_service(session=session, name=name, profile=PROFILE)
            level = 50 * (number + 1)
            values = level * (1 + 0.4 * np.sin(2 * np.pi * index.hour.to_numpy() / 24))
            values = values + rng.normal(0, 2, len(index))
            item = SeriesPoints(
                service=name,
                metric="requests_per_second",
                timestamps=[ts.isoformat() for ts in index],
                values=values.tolist(),
            )
            ingest_batch(session=session, batch=[item], settings=settings)
    if spread_over == "dask":  # FORECASTER_DASK_SCHEDULER: a real cluster's workers train
        address = request.getfixturevalue("dask_scheduler")
        spread = settings.model_copy(update={"dask_scheduler": address})
        before = chunks_trained(address)
    else:
        spread = settings.model_copy(update={"training_workers": 2})
        assert spread.training_processes == 2
    results = train_services(database, ["chat", "search", "embed", "missing"], spread)
    trained_on = {
        name: result.run_details().get("trained_on")
        for name, result in results.items()
        if not isinstance(result, Exception)
    }
    if spread_over == "dask":  # the job-run record names the worker that trained each
        assert chunks_trained(address) > before
        workers = {f"Dask worker {worker}" for worker in dask_workers(address)}
        assert set(trained_on.values()) <= workers and len(trained_on) == 3
    else:
        assert trained_on == dict.fromkeys(("chat", "search", "embed"))
    assert isinstance(results["missing"], NotFoundError)
    with database.session() as session:
        for name in ("chat", "search", "embed"):
            service = get_service(session=session, name=name)
            series_id = driving_series_id(session=session, service=service, profile=PROFILE)
            runs = latest_training_runs(session=session, series_id=series_id)
            models = {run.model: run for run in runs}
            assert "lightgbm_global" in models and "lightgbm" not in models
            assert models["lightgbm_global"].status == "ok"
            assert runs[0].is_champion


def test_a_stored_profile_that_no_longer_validates_fails_alone(
    database: Database, settings: Settings
) -> None:
    """QA: one service's stored profile that a tightened rule now refuses (a capacity of -5)
    raised out of the pass, and no other service trained."""
    _store_broken_and_chat(database, settings)
    with database.session() as session:
        broken = get_service(session=session, name="broken")
        broken.profile = {**broken.profile, "capacity_per_replica": -5}
    results = train_services(database, ["broken", "chat"], settings)
    assert not isinstance(results["chat"], Exception)
    error = results["broken"]
    assert isinstance(error, NotReadyError)
    assert 'stored profile of service "broken" no longer validates (capacity_per_replica' in str(
        error
    )


def test_a_damaged_profile_fails_its_own_service_in_the_nightly_pass(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Review: a profile whose stored text is not JSON (changed by hand through SQL) raised
    DamagedValueError out of the nightly pass before any service trained. It is that service's
    failure, recorded and logged with its reason and fix; the others train. (A JSON column on
    PostgreSQL refuses such text: a real SQLite file only.)"""
    database, settings = _broken_and_chat(tmp_path)
    with database.session() as session:
        session.execute(text("UPDATE services SET profile = '{not json' WHERE name = 'broken'"))
    try:
        with caplog.at_level(logging.ERROR, logger="forecaster.jobs.tasks"):
            train_all(database, settings)
        with database.session() as session:
            (run,) = session.execute(select(JobRun).where(JobRun.job == "train")).scalars()
            chat = get_service(session=session, name="chat")
            series_id = driving_series_id(session=session, service=chat, profile=PROFILE)
            assert latest_training_runs(session=session, series_id=series_id)[0].is_champion
    finally:
        database.dispose()
    said = _failed_alone_as_damaged(run)
    assert said.endswith(DAMAGED_DATA)
    assert f"train of service broken failed: {said}" in caplog.messages


def test_a_damaged_plan_fails_its_own_service_when_the_pass_stores(tmp_path: Path) -> None:
    """Review: only the load of each service was guarded; a damaged value read when its new
    forecast was stored (the plan in force, changed by hand) still stopped the nightly pass,
    and the services after it in the pass stored nothing."""
    database, settings = _broken_and_chat(tmp_path)
    try:
        train_all(database, settings)  # the plans in force
        with database.session() as session:
            broken = get_service(session=session, name="broken")
            damage = text("UPDATE plans SET summary = '{not json' WHERE service_id = :id")
            session.execute(damage, {"id": broken.id})
        train_all(database, settings)
        with database.session() as session:
            query = select(JobRun).where(JobRun.job == "train").order_by(JobRun.id.desc())
            run = session.execute(query.limit(1)).scalar_one()
    finally:
        database.dispose()
    _failed_alone_as_damaged(run)


def _failed_alone_as_damaged(run: JobRun) -> str:
    """The pass failed for "broken" alone, as damaged data, and "chat" trained: what it said."""
    assert run.status == "failed" and "could not train broken (1 of 2" in (run.message or "")
    assert "model" in run.details["services"]["chat"]
    said = run.details["services"]["broken"]["error"]
    assert said.startswith('a stored value of service "broken" is damaged (a stored JSON value')
    return str(said)


def _broken_and_chat(tmp_path: Path) -> tuple[Database, Settings]:
    """A real SQLite file (a JSON column on PostgreSQL refuses text that is not JSON) with
    services "broken" and "chat", three days of hourly samples each, not trained yet."""
    url = f"sqlite:///{tmp_path / 'forecaster.db'}"
    database = Database(url)
    database.migrate()
    settings = Settings(database_url=url, auth_enabled=False)
    _store_broken_and_chat(database, settings)
    return database, settings


def _store_broken_and_chat(database: Database, settings: Settings) -> None:
    """Services "broken" and "chat", three days of hourly samples each."""
    index = pd.date_range(end=pd.Timestamp(utc_now()).floor("h"), periods=24 * 3, freq="h")
    values = (50 + 10 * np.sin(np.arange(len(index)) / 4)).tolist()
    with database.session() as session:
        for name in ("broken", "chat"):
            upsert_service(session=session, name=name, profile=PROFILE)
            item = SeriesPoints(
                service=name,
                metric="requests_per_second",
                timestamps=[ts.isoformat() for ts in index],
                values=values,
            )
            ingest_batch(session=session, batch=[item], settings=settings)
