"""A profile stored before a rule tightened no longer validates: the service says so, the
others carry on (listing, overview, retention, pulls), and a corrected PUT replaces it,
keeping its dropped targets for the actuation pass to restore (SQLite and PostgreSQL)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from api.app import create_app
from forecaster.ingestion.prometheus import pull_prometheus
from forecaster.ingestion.retention import apply_retention
from forecaster.review.overview import summarize_services
from forecaster.settings import Settings
from forecaster.storage.db import Database
from forecaster.storage.failures import DAMAGED_DATA
from forecaster.storage.services import get_service
from forecaster.timeutil import utc_now

PROFILE = {"step_seconds": 3600, "horizon_hours": 24, "capacity_per_replica": 10}
HPA = {"kind": "kubernetes-hpa", "config": {"namespace": "ml", "name": "chat"}}
DAMAGED = 'a stored value of service "broken" is damaged (a stored JSON value is malformed'
PROBLEM = 'the stored profile of service "broken" no longer validates (capacity_per_replica'


def _break(database: Database) -> None:
    """As an older release could have stored it: a value today's rules refuse."""
    with database.session() as session:
        broken = get_service(session=session, name="broken")
        broken.profile = {**broken.profile, "capacity_per_replica": -5}


def test_a_profile_that_no_longer_validates_hides_no_other_service(
    settings: Settings, database: Database
) -> None:
    client = TestClient(create_app(settings, database))
    for name in ("broken", "chat"):
        assert client.put(f"/v1/services/{name}", json=PROFILE).status_code == 201
    _break(database)

    listed = client.get("/v1/services")
    assert listed.status_code == 200, listed.text
    by_name = {s["name"]: s for s in listed.json()["data"]}
    assert by_name["broken"]["profile"] is None
    assert by_name["broken"]["problem"].startswith(PROBLEM)
    assert by_name["chat"]["profile"]["capacity_per_replica"] == 10
    assert by_name["chat"]["problem"] is None

    with database.session() as session:
        summaries = {s.name: s for s in summarize_services(session=session, now=utc_now())}
    assert summaries["broken"].warnings[0].startswith(PROBLEM)
    assert summaries["chat"].metric == "requests_per_second"
    overview = client.get("/v1/dashboard/overview")
    assert overview.status_code == 200, overview.text

    assert [s.service for s in apply_retention(database, settings).services] == ["chat"]
    assert pull_prometheus(database, settings).sources == []  # neither has a source: no error


def test_a_corrected_put_replaces_it_and_keeps_its_dropped_target_to_restore(
    settings: Settings, database: Database
) -> None:
    client = TestClient(create_app(settings, database))
    assert client.put("/v1/services/broken", json=PROFILE | {"targets": [HPA]}).status_code == 201
    _break(database)

    fixed = client.put("/v1/services/broken", json=PROFILE)  # its target dropped too
    assert fixed.status_code == 200, fixed.text  # replaced, not created
    assert fixed.json()["problem"] is None and fixed.json()["plan_change"] is not None
    with database.session() as session:
        broken = get_service(session=session, name="broken")
        assert broken.profile["capacity_per_replica"] == 10
        assert [entry["config"] for entry in broken.retired_targets] == [HPA["config"]]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # PostgreSQL refuses it
def test_a_damaged_row_is_shown_as_such_and_hides_no_other_service(
    settings: Settings, database: Database
) -> None:
    """Review: a profile whose stored text is not JSON (an UPDATE by hand) made the listing,
    the dashboard's overview and `forecaster status` a 503 for every service. The others
    answer; the damaged one is listed with what mends it."""
    client = TestClient(create_app(settings, database))
    for name in ("broken", "chat"):
        assert client.put(f"/v1/services/{name}", json=PROFILE).status_code == 201
    with database.session() as session:
        session.execute(text("UPDATE services SET profile = '{not json' WHERE name = 'broken'"))

    listed = client.get("/v1/services")
    assert listed.status_code == 200, listed.text
    assert listed.json()["count"] == 2
    broken, chat = listed.json()["data"]
    assert (broken["name"], broken["enabled"], broken["profile"]) == ("broken", True, None)
    assert broken["problem"].startswith(DAMAGED) and broken["problem"].endswith(DAMAGED_DATA)
    assert chat["profile"]["capacity_per_replica"] == 10 and chat["problem"] is None

    overview = client.get("/v1/dashboard/overview")
    assert overview.status_code == 200, overview.text
    broken, chat = overview.json()["data"]
    assert broken["name"] == "broken" and broken["warnings"] == [
        listed.json()["data"][0]["problem"]
    ]
    assert chat["name"] == "chat" and chat["metric"] == "requests_per_second"
