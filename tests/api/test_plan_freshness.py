"""The plan route answers from memory and notices a new plan within about a second."""

from __future__ import annotations

import time

import httpx

from api.app import create_app
from forecaster.settings import Settings
from forecaster.storage.db import Database
from tests.actuators.factories import make_service, store_plan
from tests.helpers import live_server


def _plan_ids_until(client: httpx.Client, wanted: int, seconds: float) -> list[int]:
    """Plan ids served, one query every 50 ms, until ``wanted`` is served or time is up."""
    seen: list[int] = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and (not seen or seen[-1] != wanted):
        response = client.get("/v1/services/chat/plan", params={"horizon": "1h"})
        assert response.status_code == 200, response.text
        seen.append(response.json()["plan_id"])
        time.sleep(0.05)
    return seen


def test_a_new_plan_is_served_within_seconds(settings: Settings, database: Database) -> None:
    make_service(database)
    first = store_plan(database, replicas=[2] * 12)
    with live_server(create_app(settings, database)) as base, httpx.Client(base_url=base) as client:
        assert _plan_ids_until(client, first, 5)[-1] == first
        second = store_plan(database, replicas=[7] * 12)
        seen = _plan_ids_until(client, second, 5)
        assert seen[-1] == second, f"still serving {seen[-1]} after 5 s"
        assert set(seen) <= {first, second}  # meanwhile: the previous plan, whole
        steps = client.get("/v1/services/chat/plan", params={"horizon": "1h"}).json()["steps"]
        assert [s["replicas"] for s in steps][:3] == [7, 7, 7]
