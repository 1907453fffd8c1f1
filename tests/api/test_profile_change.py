"""A changed profile is re-planned at once from the latest forecast (SQLite and PostgreSQL),
or the answer says why not and which plan stays in force."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from forecaster.profiles import ScalingProfile
from forecaster.settings import Settings
from forecaster.storage.db import Database
from forecaster.storage.forecasts import forecast_frame
from forecaster.storage.orm import Service
from forecaster.storage.plans import latest_plan, plan_steps
from forecaster.training.train import train_service
from tests.helpers import ending_now, store_service, synthetic_traffic

PROFILE = {"step_seconds": 3600, "horizon_hours": 24, "capacity_per_replica": 10}


def _trained_client(settings: Settings, database: Database) -> TestClient:
    trace = ending_now(synthetic_traffic(days=4, step_seconds=3600), step="1h")
    store_service(database, settings, "chat", trace, ScalingProfile.model_validate(PROFILE))
    train_service(database, "chat", settings)
    return TestClient(create_app(settings, database))


def _plan(database: Database) -> tuple[int, int | None, np.ndarray]:
    """The plan in force: its id, its forecast and its replicas."""
    with database.session() as session:
        service = session.query(Service).filter_by(name="chat").one()
        plan = latest_plan(session=session, service_id=service.id)
        assert plan is not None
        replicas = [step.replicas for step in plan_steps(session=session, plan_id=plan.id)]
        return plan.id, plan.forecast_id, np.array(replicas)


def _plan_covers_capacity_5(database: Database) -> tuple[int, int | None]:
    """The plan in force is sized for capacity 5 (the PUT's), not the old 10: its id and
    forecast."""
    plan_id, forecast_id, replicas = _plan(database)
    assert forecast_id is not None
    with database.session() as session:
        frame = forecast_frame(session=session, forecast_id=forecast_id)
    assert (replicas >= np.ceil(frame["p95"].to_numpy() / (5 * 0.7))).all()
    return plan_id, forecast_id


def _trained_database(url: str) -> tuple[Database, Settings, TestClient]:
    database = Database(url)
    database.migrate()
    settings = Settings(database_url=url, auth_enabled=False)
    return database, settings, _trained_client(settings, database)


def test_a_changed_capacity_is_planned_from_the_same_forecast(
    settings: Settings, database: Database
) -> None:
    client = _trained_client(settings, database)
    before_id, forecast_id, before = _plan(database)
    assert client.get("/v1/services/chat/plan").json()["plan_id"] == before_id  # now cached

    same = client.put("/v1/services/chat", json=PROFILE)
    assert same.status_code == 200 and same.json()["plan_change"] is None
    assert _plan(database)[0] == before_id

    changed = client.put("/v1/services/chat", json=PROFILE | {"capacity_per_replica": 5})
    assert changed.status_code == 200, changed.text
    change = changed.json()["plan_change"]
    after_id, after_forecast, after = _plan(database)
    assert change["plan_id"] == after_id != before_id
    # whoever changed the profile reads the new plan back at once, not the one cached
    assert client.get("/v1/services/chat/plan").json()["plan_id"] == after_id
    assert after_forecast == forecast_id  # no training: the same forecast, re-planned
    assert len(after) == len(before)
    assert (after >= before).all() and after.max() > before.max()  # half the capacity each


def test_a_changed_horizon_is_planned_as_far_as_the_forecast_reaches_and_says_so(
    settings: Settings, database: Database
) -> None:
    """Cut from 24 h to 6 h, the re-plan still reached 24 h; raised to 48 h it said
    "re-planned" while the plan reached the forecast's 24 h."""
    client = _trained_client(settings, database)
    shorter = client.put("/v1/services/chat", json=PROFILE | {"horizon_hours": 6})
    assert shorter.json()["plan_change"]["message"] == "re-planned from the latest forecast"
    assert len(_plan(database)[2]) == 6

    longer = client.put("/v1/services/chat", json=PROFILE | {"horizon_hours": 48})
    change = longer.json()["plan_change"]
    assert change["plan_id"] is not None and len(_plan(database)[2]) == 24
    assert "which reaches 24 h of the 48h horizon" in change["message"], change


def test_a_profile_no_forecast_fits_keeps_the_plan_and_says_why(
    settings: Settings, database: Database
) -> None:
    client = _trained_client(settings, database)
    before_id = _plan(database)[0]

    new_metric = client.put("/v1/services/chat", json=PROFILE | {"metric": "queue_length"})
    change = new_metric.json()["plan_change"]
    assert change["plan_id"] is None
    assert 'no forecast of "queue_length"' in change["message"]
    assert "stays in force" in change["message"]

    finer = client.put("/v1/services/chat", json=PROFILE | {"step_seconds": 300})
    change = finer.json()["plan_change"]
    assert change["plan_id"] is None and "3600s steps and the profile on 300s" in change["message"]
    assert _plan(database)[0] == before_id


def test_a_profile_changed_while_training_runs_is_not_undone_by_its_plan(
    settings: Settings, database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A PUT while a training fits re-plans at once from the previous forecast; the training's
    own plan, landing minutes later, used to be sized on the profile read before the fit,
    undoing the change until the next refresh. It is planned with the profile as stored now."""
    import forecaster.training.train as train

    client = _trained_client(settings, database)
    real = train.forecast_each

    def fit_while_the_profile_changes(*args: Any, **kwargs: Any) -> Any:
        changed = client.put("/v1/services/chat", json=PROFILE | {"capacity_per_replica": 5})
        assert changed.json()["plan_change"]["plan_id"] is not None
        return real(*args, **kwargs)

    monkeypatch.setattr(train, "forecast_each", fit_while_the_profile_changes)
    trained = train_service(database, "chat", settings, model="seasonal_naive_daily")

    assert _plan_covers_capacity_5(database) == (trained.plan_id, trained.forecast_id)


def test_a_capacity_per_replica_too_small_to_divide_by_is_refused_and_the_plan_stays(
    settings: Settings, database: Database
) -> None:
    """Found by fuzzing: capacity and utilisation just above 0 multiplied to exactly 0, and the
    replan's replay of the HPA divided by it (a 500). Now the profile is refused, field named."""
    client = _trained_client(settings, database)
    before_id, _, before = _plan(database)
    tiny = {"capacity_per_replica": 5e-324, "target_utilization": 5e-324}
    refused = client.put("/v1/services/chat", json=PROFILE | tiny | {"reactive_tolerance_pct": 0.0})
    assert refused.status_code == 422, refused.text
    assert "capacity_per_replica" in refused.text and "target_utilization" in refused.text
    plan_id, _, replicas = _plan(database)
    assert plan_id == before_id and (replicas == before).all()


def test_a_new_label_set_keeps_the_forecast_in_force_served_and_replanned(
    settings: Settings, database: Database
) -> None:
    """QA: one point of a new label set made the sum of two label sets drive, which nothing had
    been trained on yet: the forecast route answered 409 "train it first" beside the plan made
    from that very forecast, the leaderboard was empty, and a changed profile was not
    re-planned, until the next training."""
    client = _trained_client(settings, database)
    forecast = client.get("/v1/services/chat/forecast")
    assert forecast.status_code == 200
    latest = forecast.json()["origin"]
    labelled = {"service": "chat", "metric": "requests_per_second", "labels": {"region": "eu"}}
    batch = {"series": [labelled | {"points": [[latest, 5.0]]}]}
    assert client.post("/v1/metrics", json=batch).status_code == 200

    again = client.get("/v1/services/chat/forecast")
    assert again.status_code == 200, again.text
    assert again.json()["forecast_id"] == forecast.json()["forecast_id"]
    assert client.get("/v1/services/chat/runs").json()["data"]  # the leaderboard still shows
    changed = client.put("/v1/services/chat", json=PROFILE | {"capacity_per_replica": 5})
    assert changed.json()["plan_change"] is not None, changed.text


@pytest.mark.postgres
def test_a_profile_put_while_a_plan_is_being_stored_is_not_undone_by_it(
    postgres_schema_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The training had read the profile in its storing transaction when a PUT committed a new
    one and re-planned; the training's plan, stored next, was sized on the old profile and
    stayed in force until the next refresh. The storing transaction holds the service row,
    so the PUT waits and re-plans from it."""
    import forecaster.training.replan as replan

    database, settings, client = _trained_database(postgres_schema_url)
    real = replan.plan_capacity
    answers: list[Any] = []
    put = threading.Thread(
        target=lambda: answers.append(
            client.put("/v1/services/chat", json=PROFILE | {"capacity_per_replica": 5})
        )
    )

    def plan_while_the_profile_changes(*args: Any, **kwargs: Any) -> Any:
        if not put.is_alive() and not answers:  # the training's own plan, not the PUT's
            put.start()
            put.join(3)  # it commits here unless the training holds the service
        return real(*args, **kwargs)

    monkeypatch.setattr(replan, "plan_capacity", plan_while_the_profile_changes)
    try:
        trained = train_service(database, "chat", settings, model="seasonal_naive_daily")
        put.join(30)
        assert answers and answers[0].status_code == 200, answers
        plan_id, forecast_id = _plan_covers_capacity_5(database)
        assert answers[0].json()["plan_change"]["plan_id"] == plan_id
        assert forecast_id == trained.forecast_id  # re-planned from the training's forecast
    finally:
        database.dispose()


def test_a_profile_put_just_before_a_plan_is_stored_is_not_undone_by_it_on_sqlite(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SQLite ignores FOR UPDATE and begins the storing transaction at its first write: a PUT
    committed after the training had read the service, before it wrote, was undone by the
    training's plan (24 of 24 rows below what the new capacity needs)."""
    import forecaster.training.train as train

    database, settings, client = _trained_database(f"sqlite:///{tmp_path / 'race.db'}")
    real = train.driving_series_id
    answers: list[Any] = []

    def put_in_between(*args: Any, **kwargs: Any) -> Any:  # after the read, before a write
        if not answers:
            answers.append(
                client.put("/v1/services/chat", json=PROFILE | {"capacity_per_replica": 5})
            )
        return real(*args, **kwargs)

    monkeypatch.setattr(train, "driving_series_id", put_in_between)
    try:
        trained = train_service(database, "chat", settings, model="seasonal_naive_daily")
        assert answers[0].json()["plan_change"]["plan_id"] is not None
        assert _plan_covers_capacity_5(database) == (trained.plan_id, trained.forecast_id)
    finally:
        database.dispose()


def test_a_disabled_services_plan_is_stale_and_not_re_planned(
    settings: Settings, database: Database
) -> None:
    """QA: a disabled service's plan read as in force (stale false, no note) while the KEDA
    route and the actuators held none, and a PUT disabling it while changing its profile
    answered "re-planned" with a new plan, where nothing is to plan a disabled service."""
    client = _trained_client(settings, database)
    before_id = _plan(database)[0]
    off = client.put(
        "/v1/services/chat", json=PROFILE | {"capacity_per_replica": 5, "enabled": False}
    )
    assert off.status_code == 200
    assert off.json()["plan_change"] == {
        "plan_id": None,
        "message": "service is disabled: not re-planned",
    }
    assert _plan(database)[0] == before_id
    plan = client.get("/v1/services/chat/plan").json()
    assert plan["plan_id"] == before_id and plan["stale"] is True
    assert "is disabled" in plan["note"] and "enabled true" in plan["note"]

    on = client.put("/v1/services/chat", json=PROFILE | {"capacity_per_replica": 5})
    assert on.json()["plan_change"]["plan_id"] not in (None, before_id)  # sized for 5 now
    _plan_covers_capacity_5(database)
    plan = client.get("/v1/services/chat/plan").json()
    assert plan["stale"] is False and plan["note"] is None
