"""The dashboard's JSON over real HTTP on SQLite and PostgreSQL: bucketed history that keeps
peaks and gaps, forecast review against actuals, the overview's warnings, the service panels.
"""

from __future__ import annotations

from collections.abc import Iterator
from itertools import pairwise
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest

from api.app import create_app
from forecaster.profiles import ScalingProfile
from forecaster.security.api_keys import create_key
from forecaster.settings import Settings
from forecaster.storage.db import Database
from forecaster.storage.services import upsert_service
from forecaster.training.train import train_service
from tests.actuators.factories import store_plan
from tests.api.dashboard_seed import CHAT_PROFILE, EMBED_PROFILE, seed_stale_service
from tests.helpers import ending_now, live_server, store_points, synthetic_traffic


@pytest.fixture
def client(settings: Settings, database: Database) -> Iterator[httpx.Client]:
    with database.session() as session:
        upsert_service(session=session, name="chat", profile=CHAT_PROFILE)
        upsert_service(session=session, name="embed", profile=EMBED_PROFILE)
    with (
        live_server(create_app(settings, database)) as base,
        httpx.Client(base_url=base, timeout=60) as http,
    ):
        yield http


def test_history_is_bucketed_keeping_means_peaks_and_gaps(
    client: httpx.Client, settings: Settings, database: Database
) -> None:
    trace = ending_now(synthetic_traffic(days=3, step_seconds=60, seed=3), "1h")
    trace.iloc[2000] = 5_000.0  # a one-minute burst
    trace = trace.drop(trace.index[3000:3240])  # a four-hour outage
    store_points(database, settings, "chat", trace)
    start, end = trace.index[0], trace.index[-1] + pd.Timedelta(minutes=1)
    params = {"start": start.isoformat(), "end": end.isoformat(), "points": 100}
    body = client.get("/v1/services/chat/history", params=params).json()

    assert body["bucket_seconds"] == 3600  # 3 days / 100 points, rounded up to a readable width
    assert body["resolution_seconds"] == 3600
    expected = trace.resample("1h").agg(["mean", "max"]).dropna()
    got = pd.DataFrame(
        {"mean": body["mean"], "max": body["max"]}, index=pd.to_datetime(body["ts"], utc=True)
    )
    assert got["mean"].isna().sum() == 1  # the outage breaks the line once
    got = got.dropna()
    assert got.index.equals(expected.index)
    np.testing.assert_allclose(got["mean"], expected["mean"], rtol=1e-9)
    np.testing.assert_allclose(got["max"], expected["max"], rtol=1e-9)
    assert max(body["max"][i] or 0 for i in range(len(body["max"]))) == 5_000.0

    default = client.get("/v1/services/chat/history").json()  # the last week, ~1,500 buckets
    assert default["bucket_seconds"] == 600
    last_hour = {"start": (end - pd.Timedelta(hours=1)).isoformat(), "end": end.isoformat()}
    zoomed = client.get("/v1/services/chat/history", params=last_hour).json()
    # an hour in ~1,500 buckets is 5-second buckets, but the data is 1-minute: the chart says so
    assert (zoomed["bucket_seconds"], zoomed["resolution_seconds"]) == (5, 60)
    assert len(zoomed["ts"]) == 60
    assert client.get("/v1/services/ghost/history").status_code == 404
    backwards = {"start": end.isoformat(), "end": start.isoformat()}
    assert client.get("/v1/services/chat/history", params=backwards).status_code == 422
    assert client.get("/v1/services/chat/history", params={"points": 1}).status_code == 422


def test_forecast_review_and_a_surge_outside_the_band(
    client: httpx.Client, settings: Settings, database: Database
) -> None:
    trace = ending_now(synthetic_traffic(days=7, step_seconds=300, noise=0.02, seed=1))
    cut = trace.index[-1] - pd.Timedelta(hours=3)
    store_points(database, settings, "chat", trace[trace.index <= cut])
    trained = train_service(database, "chat", settings)
    surge = trace[trace.index > cut] * 3
    store_points(database, settings, "chat", surge)

    listed = client.get("/v1/services/chat/forecasts").json()
    assert [f["id"] for f in listed["data"]] == [trained.forecast_id]
    assert listed["data"][0]["steps"] == 144 and listed["data"][0]["model"] == trained.model

    review = client.get(f"/v1/forecasts/{trained.forecast_id}").json()
    assert len(review["ts"]) == len(review["p50"]) == len(review["actual"]) == 144
    actual = pd.Series(review["actual"], index=pd.to_datetime(review["ts"], utc=True))
    happened = actual.dropna()
    assert happened.index.equals(surge.index)  # 36 five-minute steps have happened
    np.testing.assert_allclose(happened.to_numpy(), surge.to_numpy())
    check = review["check"]
    assert check["steps"] == 36 and check["above_p95"] == 36 and check["left_band"] is True
    assert check["coverage_p95"] == 0.0
    assert client.get("/v1/forecasts/999999").status_code == 404
    assert client.get(f"/v1/forecasts/{2**63}").status_code == 422

    overview = client.get("/v1/dashboard/overview").json()
    chat = next(s for s in overview["data"] if s["name"] == "chat")
    assert chat["warnings"][0].startswith("recent load left the forecast band: 12 of the last")
    assert chat["current_load"] == pytest.approx(surge.iloc[-1])
    assert chat["champion"]["model"] == trained.model and chat["champion"]["scores"]
    assert chat["plan"]["plan_id"] == trained.plan_id and chat["plan"]["replicas"] >= 2
    assert chat["last_actuation"] is None and chat["forecast_only"] is True
    assert chat["sparkline"]["forecast_ts"] and chat["sparkline"]["actual_ts"]


def test_an_hourly_service_warns_when_its_load_leaves_the_band(
    client: httpx.Client, settings: Settings, database: Database
) -> None:
    """The check read the last hour, one hourly step, and needs three: load ten times the
    forecast for twenty hours never warned. Its newest hour, which one region has not
    reported yet, is no drop either."""
    hourly = ScalingProfile(step_seconds=3600, horizon_hours=24, capacity_per_replica=10)
    with database.session() as session:
        upsert_service(session=session, name="bikes", profile=hourly)
    trace = ending_now(synthetic_traffic(days=14, step_seconds=3600, noise=0.02, seed=2), "1h")
    cut = trace.index[-1] - pd.Timedelta(hours=20)

    def send(load: pd.Series, region: str) -> None:
        store_points(database, settings, "bikes", load / 2, labels={"region": region})

    for region in ("eu", "us"):
        send(trace[trace.index <= cut], region)
    train_service(database, "bikes", settings, model="seasonal_naive_daily")

    def bikes() -> dict[str, Any]:
        overview = client.get("/v1/dashboard/overview").json()
        return next(s for s in overview["data"] if s["name"] == "bikes")

    calm = trace[trace.index > cut]
    send(calm, "eu")  # both regions as forecast; "us" a step behind
    send(calm[:-1], "us")
    assert not any("forecast band" in warning for warning in bikes()["warnings"])
    surge = calm * 10
    send(surge, "eu")  # "us" still a step behind: the warning comes anyway
    send(surge[:-1], "us")
    warnings = bikes()["warnings"]
    assert warnings[0].startswith("recent load left the forecast band: 5 of the last 5 steps")


def test_overview_of_a_service_that_was_never_trained(client: httpx.Client) -> None:
    overview = client.get("/v1/dashboard/overview").json()
    assert [s["name"] for s in overview["data"]] == ["chat", "embed"]
    embed = overview["data"][1]
    assert embed["forecast_only"] is False and embed["targets"] == ["embed-hpa"]
    assert embed["champion"] is None and embed["plan"] is None and embed["band"] is None
    assert embed["current_load"] is None and embed["last_actuation"] is None
    assert embed["warnings"] == [
        "no requests_per_second samples yet",
        "no forecast yet: train the service",
    ]
    detail = client.get("/v1/dashboard/services/embed").json()
    assert detail["plan"] is None and detail["leaderboard"] == []
    assert detail["first_sample_at"] is None
    assert detail["events"] == [] and detail["actuations"] == []
    assert client.get("/v1/services/embed/forecasts").json() == {"data": [], "count": 0}
    assert client.get("/v1/dashboard/services/ghost").status_code == 404


def test_a_plan_that_ran_out_says_why_as_the_plan_route_does(
    client: httpx.Client, settings: Settings, database: Database
) -> None:
    """A history that ended days ago: training is refused, the old plan stays on show, and the
    dashboard carries the plan route's own note on it. A plan in force carries none."""
    kept = seed_stale_service(database, settings, "chat")
    store_points(database, settings, "embed", ending_now(synthetic_traffic(days=1, seed=4)))
    fresh = store_plan(database, name="embed", replicas=[4] * 12)

    said = client.get("/v1/services/chat/plan").json()
    assert said["plan_id"] == kept and said["stale"] is True
    assert said["note"].startswith("this plan ended at ")
    assert said["note"].endswith("already past; send recent samples, then train again")

    overview = {s["name"]: s for s in client.get("/v1/dashboard/overview").json()["data"]}
    chat = overview["chat"]
    assert chat["plan"]["plan_id"] == kept and chat["plan"]["stale"] is True
    assert chat["plan"]["note"] == said["note"]
    assert "the plan has run out: actuators fall back to their baselines" in chat["warnings"]
    detail = client.get("/v1/dashboard/services/chat").json()
    assert detail["summary"]["plan"]["note"] == said["note"]
    assert detail["plan"]["plan_id"] == kept  # the outdated plan is still what is shown

    embed = overview["embed"]
    assert embed["plan"]["plan_id"] == fresh and embed["plan"]["stale"] is False
    assert embed["plan"]["note"] is None
    assert client.get("/v1/dashboard/services/embed").json()["summary"]["plan"]["note"] is None
    assert client.get("/v1/services/embed/plan").json()["note"] is None


def test_service_panels_give_capacity_reasons_and_leaderboard(
    client: httpx.Client, settings: Settings, database: Database
) -> None:
    trace = ending_now(synthetic_traffic(days=4, seed=2))
    store_points(database, settings, "chat", trace)
    trained = train_service(database, "chat", settings)
    detail = client.get("/v1/dashboard/services/chat").json()
    assert pd.Timestamp(detail["first_sample_at"]) == trace.index[0]  # the chart's "all" starts

    plan = detail["plan"]
    assert plan["plan_id"] == trained.plan_id and len(plan["ts"]) == 144
    assert detail["summary"]["plan"]["stale"] is False and detail["summary"]["plan"]["note"] is None
    per_replica = CHAT_PROFILE.capacity_per_replica * CHAT_PROFILE.target_utilization
    assert plan["capacity"] == pytest.approx([r * per_replica for r in plan["replicas"]])
    changes = plan["changes"]
    assert sum(change["steps"] for change in changes) == 144
    assert all(a["replicas"] != b["replicas"] for a, b in pairwise(changes))
    assert all("p95 load" in change["reason"] for change in changes)
    assert changes[0]["start"] == plan["ts"][0]

    board = detail["leaderboard"]
    assert board[0]["champion"] is True and board[0]["model"] == trained.model
    assert sum(row["champion"] for row in board) == 1
    assert {row["model"] for row in board} >= {"seasonal_naive_daily", "holt_winters"}
    assert all("mase" in row["scores"] for row in board if row["status"] == "ok")
    assert detail["profile"]["capacity_per_replica"] == 20


def test_pages_open_without_a_key_and_data_needs_one(
    settings: Settings, database: Database
) -> None:
    """With auth on, the page shells load; their data comes with the forecaster_key cookie."""
    with database.session() as session:
        upsert_service(session=session, name="chat", profile=CHAT_PROFILE)
        issued = create_key(session=session, name="viewer", scopes=["read"])
        admin = create_key(session=session, name="pasted", scopes=["admin"])
    app = create_app(settings.model_copy(update={"auth_enabled": True}), database)
    with live_server(app) as base, httpx.Client(base_url=base, timeout=30) as http:
        for page in ("/", "/dashboard", "/dashboard/static/plotly.min.js"):
            assert http.get(page).status_code == 200, page
        for page in ("/dashboard", "/dashboard/services/chat"):  # no other site frames them
            headers = http.get(page).headers
            assert headers["x-frame-options"] == "DENY", page
            assert "frame-ancestors 'none'" in headers["content-security-policy"], page
        assert http.get("/v1/dashboard/overview").status_code == 401
        http.cookies.set("forecaster_key", issued.secret)
        assert http.get("/v1/dashboard/overview").json()["count"] == 1
        assert http.get("/dashboard/services/chat").status_code == 200
        # an admin key pasted into the dashboard reads, but its cookie changes nothing: any
        # page a browser opens can send it (a cross-site request that actuated a service)
        http.cookies.set("forecaster_key", admin.secret)
        assert http.get("/v1/dashboard/overview").status_code == 200
        changed = http.put("/v1/services/chat", json={"capacity_per_replica": 99})
        assert changed.status_code == 401
        assert "the dashboard's cookie is taken for reading only" in changed.json()["detail"]
        sent = http.post("/v1/metrics", json={"series": []})
        assert sent.status_code == 401
        bearer = {"Authorization": f"Bearer {admin.secret}"}
        assert http.put(
            "/v1/services/chat", json=CHAT_PROFILE.model_dump(), headers=bearer
        ).is_success
