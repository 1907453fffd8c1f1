"""DELETE /v1/services/{name}: a service goes with everything stored for it, never while
forecaster may still hold its autoscaler above baseline (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

import api.routes.engine as engine_routes
import forecaster.ingestion.batch as batch_module
import forecaster.training.train as train_module
from api.app import create_app
from forecaster.actuators.retired import RETRY_FOR
from forecaster.errors import ForecasterError, NotFoundError
from forecaster.profiles import ScalingProfile
from forecaster.settings import Settings
from forecaster.storage import plan_views
from forecaster.storage.db import Database
from forecaster.storage.orm import (
    Forecast,
    JobRun,
    ModelRun,
    Plan,
    PlanStep,
    Sample,
    Series,
    Service,
)
from forecaster.storage.services import delete_service, find_service, upsert_service
from forecaster.timeutil import as_utc
from forecaster.training.train import train_service, train_services
from tests.actuators.factories import record_push
from tests.helpers import ending_now, store_service, synthetic_traffic

PROFILE = {"step_seconds": 3600, "horizon_hours": 24, "capacity_per_replica": 10}
PROFILE_MODEL = ScalingProfile.model_validate(PROFILE)
HPA = {"kind": "kubernetes-hpa", "config": {"namespace": "ml", "name": "chat"}}


def _train(database: Database, settings: Settings, name: str, capacity: float = 10) -> None:
    trace = ending_now(synthetic_traffic(days=4, step_seconds=3600), step="1h")
    profile = ScalingProfile.model_validate(PROFILE | {"capacity_per_replica": capacity})
    store_service(database, settings, name, trace, profile)
    train_service(database, name, settings)


def _rows(database: Database) -> dict[str, int]:
    with database.session() as session:
        return {
            table.__tablename__: session.scalar(select(func.count()).select_from(table)) or 0
            for table in (Service, Series, Sample, ModelRun, Forecast, Plan, PlanStep)
        }


def test_a_deleted_service_takes_its_rows_and_leaves_the_others(
    settings: Settings, database: Database
) -> None:
    _train(database, settings, "other")
    alone = _rows(database)
    _train(database, settings, "chat")
    client = TestClient(create_app(settings, database))
    assert client.get("/v1/services/chat/plan").status_code == 200  # its plan now cached

    with database.session() as session:  # a failed training of chat, on record
        session.add(JobRun(job="train", service="chat", status="failed", message="boom"))
    response = client.delete("/v1/services/chat")
    assert response.status_code == 204, response.text
    assert _rows(database) == alone  # every sample, run, forecast and plan of chat is gone
    with database.session() as session:  # its records too: a new "chat" starts clean
        assert session.scalar(select(func.count()).where(JobRun.service == "chat")) == 0
    assert client.get("/v1/services/chat").status_code == 404
    gone = client.get("/v1/services/chat/plan")
    assert gone.status_code == 404 and "does not exist" in gone.json()["detail"]
    assert client.get("/v1/services/other/plan").status_code == 200
    again = client.delete("/v1/services/chat")
    assert again.status_code == 404 and "does not exist" in again.json()["detail"]


def test_a_service_made_again_after_a_delete_serves_its_new_plan(
    settings: Settings, database: Database
) -> None:
    """SQLite gives a deleted service's highest ids to the next rows: the plan made for a new
    service of the same name had the id of the one cached before the delete, whose steps the
    plan route then served."""
    _train(database, settings, "chat", capacity=10)
    client = TestClient(create_app(settings, database))
    before = client.get("/v1/services/chat/plan").json()
    assert client.delete("/v1/services/chat").status_code == 204

    _train(database, settings, "chat", capacity=2.5)  # as another process would: no route
    plan_views.refresh_current_plans(database)  # the once-a-second re-check of a server
    after = client.get("/v1/services/chat/plan").json()
    assert after["generated_at"] != before["generated_at"]
    assert max(s["replicas"] for s in after["steps"]) > max(s["replicas"] for s in before["steps"])


def test_a_service_whose_autoscaler_forecaster_may_hold_is_not_deleted(
    settings: Settings, database: Database
) -> None:
    _train(database, settings, "chat")
    client = TestClient(create_app(settings, database))
    assert client.put("/v1/services/chat", json=PROFILE | {"targets": [HPA]}).status_code == 200
    rows = _rows(database)

    refused = client.delete("/v1/services/chat")
    assert refused.status_code == 409
    detail = refused.json()["detail"]
    assert "kubernetes-hpa" in detail and "PUT its profile without targets" in detail
    assert _rows(database) == rows  # nothing deleted

    # targets dropped but not yet restored by the actuation pass: still refused
    assert client.put("/v1/services/chat", json=PROFILE).status_code == 200
    pending = client.delete("/v1/services/chat")
    assert pending.status_code == 409
    detail = pending.json()["detail"]
    assert "targets removed from its profile whose baselines are not restored yet" in detail
    assert (
        'kubernetes-hpa {"namespace": "ml", "name": "chat"} (no restore tried yet; given up at '
        in detail
    )
    assert "PUT its profile without targets" not in detail  # done already
    with database.session() as session:  # a pass whose restore failed
        service = find_service(session=session, name="chat")
        assert service is not None
        retired_at = datetime.fromisoformat(service.retired_targets[0]["retired_at"])
        given_up_at = (as_utc(retired_at) + RETRY_FOR).isoformat(timespec="seconds")
        refused = "API server 127.0.0.1:18399 refused the connection"
        record_push(session, service.id, outcome="failed", error=refused)
        # another object of the same kind failed since (review: it was named)
        record_push(
            session, service.id, outcome="failed", target="ml/other", error="forbidden on ml/other"
        )
    detail = client.delete("/v1/services/chat").json()["detail"]
    assert "ml/other" not in detail
    assert (
        "kubernetes-hpa ml/chat (restore failed: API server 127.0.0.1:18399 refused the "
        f"connection; given up at {given_up_at})"
    ) in detail, detail
    assert "retries each until it is restored or given up" in detail
    with database.session() as session:  # as the pass leaves it once the baseline is back
        session.execute(Service.__table__.update().values(retired_targets=[]))
    assert client.delete("/v1/services/chat").status_code == 204


def test_a_service_deleted_while_it_trains_fails_alone(
    settings: Settings, database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A review: deleting one service while the nightly pass fitted it stopped the pass before
    it stored the others (the service's row was gone), and on SQLite a service created
    meanwhile took the deleted one's id and was given its forecast and plan."""
    trace = ending_now(synthetic_traffic(days=4, step_seconds=3600), step="1h")
    for name in ("typo", "chat"):
        store_service(database, settings, name, trace, ScalingProfile.model_validate(PROFILE))
    fit = train_module.run_at_idle_priority

    def deleted_while_fitting(function: Any, *args: Any, **kwargs: Any) -> Any:
        fitted = fit(function, *args, **kwargs)
        with database.session() as session:
            if find_service(session=session, name="typo") is not None:
                delete_service(session=session, name="typo")
                upsert_service(  # on SQLite it takes the deleted service's id
                    session=session, name="fresh", profile=ScalingProfile.model_validate(PROFILE)
                )
        return fitted

    monkeypatch.setattr(train_module, "run_at_idle_priority", deleted_while_fitting)
    results = train_services(database, ["typo", "chat"], settings)
    assert isinstance(results["typo"], ForecasterError)
    assert "was deleted while it trained" in str(results["typo"])
    assert not isinstance(results["chat"], Exception)  # the rest of the pass stored
    with database.session() as session:
        fresh = find_service(session=session, name="fresh")
        assert fresh is not None
        assert session.scalar(select(func.count()).where(Plan.service_id == fresh.id)) == 0


def _deleted_while_fitting(
    database: Database, monkeypatch: pytest.MonkeyPatch, name: str, *, again: bool = False
) -> None:
    """Delete service ``name`` (as its route does) once its models have fitted, before they
    are stored; ``again``: then create it anew under the same name."""
    fit = train_module.run_at_idle_priority

    def deleted(function: Any, *args: Any, **kwargs: Any) -> Any:
        fitted = fit(function, *args, **kwargs)
        with database.session() as session:
            delete_service(session=session, name=name)
            if again:  # on SQLite it takes the deleted service's id
                upsert_service(session=session, name=name, profile=PROFILE_MODEL)
        return fitted

    monkeypatch.setattr(train_module, "run_at_idle_priority", deleted)


def test_a_service_deleted_while_it_trains_on_demand_is_a_404(
    settings: Settings, database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """QA: the delete took the training's running job record too, and closing it failed: a 500
    (and a traceback from ``forecaster train``) instead of the training's own error."""
    trace = ending_now(synthetic_traffic(days=4, step_seconds=3600), step="1h")
    store_service(database, settings, "chat", trace, PROFILE_MODEL)
    _deleted_while_fitting(database, monkeypatch, "chat")
    response = TestClient(create_app(settings, database)).post("/v1/services/chat/train")
    assert response.status_code == 404, response.text
    assert "was deleted while it trained; nothing was stored" in response.json()["detail"]


def test_a_training_of_a_deleted_service_is_not_given_to_one_made_again_under_its_name(
    settings: Settings, database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """QA: on SQLite the new service took the deleted one's id as well as its name, and was
    given the deleted one's champion, forecast and plan."""
    trace = ending_now(synthetic_traffic(days=4, step_seconds=3600), step="1h")
    store_service(database, settings, "chat", trace, PROFILE_MODEL)
    _deleted_while_fitting(database, monkeypatch, "chat", again=True)
    with pytest.raises(NotFoundError, match="was deleted while it trained; nothing was stored"):
        train_service(database, "chat", settings)
    rows = _rows(database)
    assert rows.pop("services") == 1  # the new one, given nothing of the old one's training
    assert set(rows.values()) == {0}, rows


def test_a_batch_racing_the_delete_of_its_service_is_a_404(
    settings: Settings, database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A review: a batch (remote-write pushes every few seconds) whose service was deleted after
    the batch looked it up failed on the series' foreign key: a 500."""
    client = TestClient(create_app(settings, database))
    assert client.put("/v1/services/chat", json=PROFILE).status_code == 201
    looked_up = batch_module.services_by_name

    def then_deleted(*, session: Any, names: set[str]) -> Any:
        found = looked_up(session=session, names=names)
        with database.session() as other:  # the DELETE route, in another request
            delete_service(session=other, name="chat")
        return found

    monkeypatch.setattr(batch_module, "services_by_name", then_deleted)
    series = {"service": "chat", "metric": "requests_per_second", "points": [[1764979200, 5]]}
    response = client.post("/v1/metrics", json={"series": [series]})
    assert response.status_code == 404, response.text
    assert "deleted while the batch was stored; nothing was stored" in response.json()["detail"]


WINDOW = {"start": "2027-01-01T00:00:00Z", "end": "2027-01-02T00:00:00Z"}


@pytest.mark.parametrize(
    ("kind", "body"), [("event", WINDOW | {"name": "launch"}), ("exclusion", WINDOW)]
)
def test_an_event_or_exclusion_racing_the_delete_of_its_service_is_a_404(
    settings: Settings,
    database: Database,
    monkeypatch: pytest.MonkeyPatch,
    kind: str,
    body: dict[str, str],
) -> None:
    """QA: declaring one while its service was being deleted failed on the foreign key: a 500
    where a batch of points racing the same delete is a 404."""
    client = TestClient(create_app(settings, database))
    assert client.put("/v1/services/chat", json=PROFILE).status_code == 201
    looked_up = engine_routes.get_service

    def then_deleted(*, session: Any, name: str) -> Any:
        found = looked_up(session=session, name=name)
        with database.session() as other:  # the DELETE route, in another request
            delete_service(session=other, name=name)
        return found

    monkeypatch.setattr(engine_routes, "get_service", then_deleted)
    response = client.post(f"/v1/services/chat/{kind}s", json=body)
    assert response.status_code == 404, response.text
    detail = response.json()["detail"]
    assert f"deleted while the {kind} was stored; nothing was stored" in detail
