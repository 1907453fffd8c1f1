"""``POST /v1/simulations``: what-if replays of inline points or a stored service's history."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from threading import BoundedSemaphore

import httpx
import numpy as np
import pandas as pd
import pytest
import yaml
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from api.app import create_app
from forecaster.cli import app as cli
from forecaster.planning import whatif
from forecaster.planning.policies import ForecastSettings
from forecaster.planning.simulate import SimulationOptions, estimate_cost, simulate, span_seconds
from forecaster.profiles import ScalingProfile
from forecaster.settings import Settings
from forecaster.storage.db import Database
from forecaster.timeutil import utc_now
from tests.helpers import live_server

PROFILE = {
    "capacity_per_replica": 10,
    "target_utilization": 0.5,
    "min_replicas": 1,
    "max_replicas": 100,
    "startup_seconds": 600,
    "scale_down_delay_seconds": 0,
    "step_seconds": 300,
    "cost_per_replica_hour": 0.8,
}


def daily_points(days: int, end: pd.Timestamp | None = None) -> list[list[object]]:
    """5-minute load, 20 at night and 200 from 08:00 to 18:00, the same every day."""
    periods = days * 288
    if end is None:
        index = pd.date_range("2024-01-01", periods=periods, freq="5min", tz="UTC")
    else:
        index = pd.date_range(end=end, periods=periods, freq="5min")
    values = np.where((index.hour >= 8) & (index.hour < 18), 200.0, 20.0)
    return [[ts.isoformat(), float(v)] for ts, v in zip(index, values, strict=True)]


@pytest.fixture
def client(settings: Settings, database: Database) -> Iterator[TestClient]:
    with TestClient(create_app(settings, database)) as test_client:
        yield test_client


def test_inline_points_with_a_plot(client: TestClient) -> None:
    body = {
        "profile": PROFILE,
        "points": daily_points(3),
        "train_fraction": 2 / 3,
        "model": "seasonal_naive_daily",
        "plot": True,
    }
    response = client.post("/v1/simulations", json=body)
    assert response.status_code == 200, response.text
    report = response.json()
    policies = report["policies"]
    assert set(policies) == {"static", "reactive", "predictive", "oracle", "reactive_equal_spend"}
    assert policies["predictive"]["under_provisioned_pct"] == 0
    assert policies["reactive"]["under_provisioned_pct"] > 0
    assert policies["predictive"]["cost"] == pytest.approx(
        policies["predictive"]["replica_hours"] * 0.8
    )
    assert report["trace"]["replay_ticks"] == 288 * 20
    assert report["svg"].startswith("<svg") and "predictive" in report["svg"]


def test_replays_a_stored_service(client: TestClient) -> None:
    assert client.put("/v1/services/chat", json=PROFILE).status_code == 201
    end = pd.Timestamp(utc_now()).floor("5min") - pd.Timedelta(minutes=5)
    points = daily_points(3, end=end)
    body = {"series": [{"service": "chat", "metric": "requests_per_second", "points": points}]}
    assert client.post("/v1/metrics", json=body).status_code == 200
    response = client.post(
        "/v1/simulations",
        json={
            "service": "chat",
            "days": 4,
            "train_fraction": 2 / 3,
            "model": "seasonal_naive_daily",
            "policies": ["reactive", "predictive"],
            "equal_spend": False,
        },
    )
    assert response.status_code == 200, response.text
    report = response.json()
    assert set(report["policies"]) == {"reactive", "predictive"}
    assert report["profile"]["startup_seconds"] == 600  # the service's own profile
    assert report["trace"]["source_step_seconds"] == 300


def test_a_stored_service_replays_its_load_as_it_came(client: TestClient) -> None:
    """Found by a QA pass: the replay read the service as training does, on the profile's
    5-minute step with its exclusions blanked, so 1-minute bursts were averaged away and an
    excluded incident replayed as an outage. It replays the samples' own step, exclusions kept,
    the same figures as those points sent inline."""
    assert client.put("/v1/services/chat", json=PROFILE).status_code == 201
    end = pd.Timestamp(utc_now()).floor("5min") - pd.Timedelta(minutes=5)
    index = pd.date_range(end=end, periods=3 * 1440, freq="1min")
    values = np.where(index.minute % 60 < 3, 400.0, 40.0)  # 3-minute bursts, hourly
    points = [[ts.isoformat(), float(v)] for ts, v in zip(index, values, strict=True)]
    body = {"series": [{"service": "chat", "metric": "requests_per_second", "points": points}]}
    assert client.post("/v1/metrics", json=body).status_code == 200
    incident = {"start": index[2000].isoformat(), "end": index[2120].isoformat()}
    assert client.post("/v1/services/chat/exclusions", json=incident).status_code == 201
    replay = {
        "days": 4,
        "train_fraction": 2 / 3,
        "model": "seasonal_naive_daily",
        "policies": ["reactive", "oracle"],
        "equal_spend": False,
    }
    stored = client.post("/v1/simulations", json={"service": "chat", **replay})
    inline = client.post("/v1/simulations", json={"profile": PROFILE, "points": points, **replay})
    assert stored.status_code == inline.status_code == 200, stored.text + inline.text
    trace = stored.json()["trace"]
    assert trace["source_step_seconds"] == 60
    assert trace["missing_ticks"] == 0  # the excluded hours are load, not an outage
    for policy in ("reactive", "oracle"):
        ours, theirs = stored.json()["policies"][policy], inline.json()["policies"][policy]
        assert ours["replica_hours"] == pytest.approx(theirs["replica_hours"], rel=1e-6)
        assert ours["unserved_load_pct"] == pytest.approx(theirs["unserved_load_pct"], rel=1e-6)
    assert stored.json()["policies"]["reactive"]["unserved_load_pct"] > 1.0


def nested(depth: int) -> list[object]:
    """A list ``depth`` lists deep: quoting one in a refusal overflowed the recursion (a 500)."""
    value: list[object] = []
    for _ in range(depth):
        value = [value]
    return value


@pytest.mark.parametrize(
    ("body", "status", "fragment"),
    [
        ({"profile": PROFILE}, 422, "points, or a service"),
        ({"profile": PROFILE, "points": [[1, nested(600)], [2, 3]]}, 422, "first at index 0"),
        ({"profile": PROFILE, "points": [[0, 1], [60, 1]], "service": "x"}, 422, "not both"),
        ({"points": [[0, 1], [60, 1]]}, 422, "need a profile"),
        ({"profile": PROFILE, "points": [[0, 1], [60, -3]]}, 422, "first at index 1"),
        ({"profile": PROFILE, "points": [[0, 1], ["soon", 3]]}, 422, "first at index 1"),
        ({"profile": PROFILE, "points": [[0, 1]]}, 422, "at least two points"),
        ({"profile": PROFILE, "points": [[0, 1], [60, 1]], "model": "nope"}, 422, "unknown model"),
        ({"profile": PROFILE, "points": [[0, 1], [60, 1]], "policies": ["x"]}, 422, "unknown"),
        ({"profile": PROFILE, "points": [[0, 1], [60, 1]], "tick_seconds": 7}, 422, "tick"),
        ({"profile": PROFILE, "points": [[0, 1], [60, 1]], "max_replay_days": 99}, 422, ""),
        ({"profile": {**PROFILE, "bogus": 1}, "points": [[0, 1], [60, 1]]}, 422, "bogus"),
        (
            {
                "profile": {
                    **PROFILE,
                    "tiers": [{"name": "a", "capacity_per_replica": 1, "cost_per_replica_hour": 1}],
                },
                "points": daily_points(1),
            },
            422,
            "tiers",
        ),
        ({"service": "ghost"}, 404, "does not exist"),
        ({"service": "ghost", "days": "nan"}, 422, "finite number"),  # not "at most 90"
    ],
)
def test_bad_requests_get_clear_4xx(
    client: TestClient, body: dict[str, object], status: int, fragment: str
) -> None:
    response = client.post("/v1/simulations", json=body)
    assert response.status_code == status, response.text
    assert fragment in response.text


def test_too_many_points_and_no_history(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(whatif, "MAX_POINTS", 10)
    body = {"profile": PROFILE, "points": daily_points(1)}
    assert client.post("/v1/simulations", json=body).status_code == 413
    assert client.put("/v1/services/empty", json=PROFILE).status_code == 201
    response = client.post("/v1/simulations", json={"service": "empty"})
    assert response.status_code == 409
    assert response.json()["detail"] == 'service "empty" has no requests_per_second samples yet'


def test_a_simulation_too_large_is_refused_up_front(client: TestClient) -> None:
    """The fuzzing find: 1-s ticks re-planned every minute made a request run for minutes."""
    body = {
        "profile": PROFILE,
        "points": daily_points(3),
        "train_fraction": 2 / 3,
        "model": "seasonal_naive_daily",
        "tick_seconds": 1,
        "replan_seconds": 60,
    }
    started = time.perf_counter()
    response = client.post("/v1/simulations", json=body)
    assert response.status_code == 422, response.text
    assert time.perf_counter() - started < 5  # nothing replayed, nothing forecast
    detail = response.json()["detail"]
    assert "1,440 forecasts" in detail  # one a minute over the last day
    assert "at most 1,000" in detail
    assert "longer replan_seconds" in detail and "max_replay_days" in detail
    # the same what-if at the default 15-minute re-plans is fine
    body["replan_seconds"] = 900
    body["tick_seconds"] = 15
    assert client.post("/v1/simulations", json=body).status_code == 200


def test_hourly_refits_over_a_week_are_refused_up_front(
    client: TestClient, settings: Settings
) -> None:
    """A refit is a whole training: hourly ones over a week's replay (168) kept a request busy
    for minutes, while each passed the forecast budget as one cheap update."""
    body = {
        "profile": PROFILE,
        "points": daily_points(14),
        "model": "lightgbm",
        "refit_seconds": 3600,
    }
    started = time.perf_counter()
    response = client.post("/v1/simulations", json=body)
    assert response.status_code == 422, response.text
    assert time.perf_counter() - started < 5
    detail = response.json()["detail"]
    assert "refit its model 168 times" in detail
    assert f"at most {settings.simulation_max_refits}" in detail
    assert "longer refit_seconds" in detail
    assert "forecasts" not in detail  # 672 updates are within that budget


def test_the_tick_budget_is_a_setting(database: Database, settings: Settings) -> None:
    """Replay ticks x autoscaler runs: a coarser tick or no equal-spend run makes it fit."""
    tight = settings.model_copy(update={"simulation_max_tick_steps": 50_000})
    body = {
        "profile": PROFILE,
        "points": daily_points(3),
        "train_fraction": 2 / 3,
        "policies": ["reactive"],
        "tick_seconds": 1,
    }
    with TestClient(create_app(tight, database)) as tight_client:
        response = tight_client.post("/v1/simulations", json=body)
        assert response.status_code == 422, response.text
        detail = response.json()["detail"]
        assert "86,400 ticks of 1 s x 1 runs" in detail and "at most 50,000" in detail
        assert "coarser tick_seconds" in detail
        assert tight_client.post("/v1/simulations", json={**body, "tick_seconds": 15}).is_success


def test_a_normal_what_if_fits_the_default_budget() -> None:
    """Two weeks of 5-minute history at 15-s ticks (a week replayed, 15-minute re-plans, the
    equal-spend run): within the defaults, so documented what-ifs are never refused."""
    defaults = Settings()
    options = SimulationOptions(max_replay_days=7)
    cost = estimate_cost(14 * 86_400, ScalingProfile(capacity_per_replica=10), options)
    assert cost.forecasts == 7 * 96 <= defaults.simulation_max_forecasts
    assert cost.refits == 7 <= defaults.simulation_max_refits
    assert cost.tick_steps == 7 * 5760 * 16 <= defaults.simulation_max_tick_steps


def test_the_estimate_is_the_work_done() -> None:
    """The budget counts what the replay then does: its ticks and its forecasts."""
    points = pd.Series(
        [float(value) for _, value in daily_points(3)],
        index=pd.date_range("2024-01-01", periods=3 * 288, freq="5min", tz="UTC"),
    )
    profile = ScalingProfile.model_validate(PROFILE)
    made: list[int] = []  # decisions in all, as the progress callback hears of them
    for update in (True, False):
        options = SimulationOptions(
            train_fraction=2 / 3,
            forecast=ForecastSettings(
                model="seasonal_naive_daily", refit_seconds=3 * 3600, update=update
            ),
            progress=lambda done, total: made.append(total),
        )
        cost = estimate_cost(span_seconds(points), profile, options)
        report = simulate(points, profile, options).report()
        assert cost.replay_ticks == report["trace"]["replay_ticks"]
        assert made[-1] == 96  # decisions over the replayed day
        assert cost.forecasts == (96 if update else 8)  # with update off, one per refit


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"model": "nope"}, 'unknown model "nope"; known: auto, ensemble, holt_winters,'),
        ({"policies": ["b", "a"]}, "unknown policies a, b; known: static, reactive, predictive"),
        ({"tick_seconds": 7}, "tick_seconds must be one of 1, 3, 5, 15, 30 "),
        ({"points": [[0, 1], [60, "x"]]}, 'first at index 1 [60, "x"]: value is not a finite'),
        ({"points": [[0, 1], [60, None]]}, "first at index 1 [60, null]: value is not a finite"),
        ({"points": [[0, 1], [{"a": 1}, 2]]}, 'first at index 1 [{"a": 1}, 2]: timestamp is'),
    ],
)
def test_refusals_read_as_plain_text(
    client: TestClient, change: dict[str, object], expected: str
) -> None:
    """Names and points as a client writes them, not as Python reprs (``['a', 'b']``)."""
    body = {"profile": PROFILE, "points": [[0, 1], [60, 1]], **change}
    response = client.post("/v1/simulations", json=body)
    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    assert expected in detail
    assert not any(mark in detail for mark in ("['", "'", "None", "np.", "Timestamp("))


def test_takes_every_model_the_cli_takes(client: TestClient) -> None:
    """The ensemble was refused as unknown though `forecaster simulate --model ensemble` runs it
    (a trace too short to replay keeps the test quick: refused for that, not for the model)."""
    body = {"profile": PROFILE, "points": [[0, 1], [300, 2]], "model": "ensemble"}
    response = client.post("/v1/simulations", json=body)
    assert response.status_code == 422
    assert "training window" in response.json()["detail"]


def test_a_validation_error_does_not_echo_a_whole_large_body(client: TestClient) -> None:
    """A check on the whole body echoed all of it: 3 MB to say "not both"."""
    points = [[1_700_000_000 + 15 * i, 5.0] for i in range(50_000)]
    response = client.post("/v1/simulations", json={"service": "chat", "points": points})
    assert response.status_code == 422
    assert len(response.content) < 2_000
    (problem,) = response.json()["detail"]
    assert problem["msg"] == "Value error, give either points or service, not both"
    assert problem["input"].startswith("{'service': 'chat', 'points': [[1700000000, 5.0], ")
    assert problem["input"].endswith(" characters)")
    short = client.post("/v1/simulations", json={"service": "chat", "points": points[:2]})
    assert short.json()["detail"][0]["input"] == {"service": "chat", "points": points[:2]}


def test_simulations_past_the_running_limit_are_told_to_retry(client: TestClient) -> None:
    """A replay runs on after its client gives up: with every slot taken (here by the test,
    as by replays still running), one more is refused at once with Retry-After, not queued."""
    body = {"profile": PROFILE, "points": daily_points(2), "policies": ["reactive"]}
    with _every_slot_taken(client.app.state.simulation_slots) as taken:
        response = client.post("/v1/simulations", json=body)
    assert response.status_code == 429, response.text
    assert response.headers["Retry-After"] == "30"
    assert "2 simulations are replaying" in response.json()["detail"]
    assert taken == 2  # FORECASTER_SIMULATION_MAX_RUNNING's default
    assert client.post("/v1/simulations", json=body).status_code == 200
    assert client.post("/v1/simulations", json=body).status_code == 200  # slots given back


def test_a_bad_simulation_is_refused_for_what_is_wrong_while_every_slot_is_busy(
    client: TestClient,
) -> None:
    """With every slot taken, a request that could never run is told what is wrong with it
    (404, 422), not to retry later only to be refused then."""
    good = {"profile": PROFILE, "points": daily_points(2), "policies": ["reactive"]}
    with _every_slot_taken(client.app.state.simulation_slots):
        missing = client.post("/v1/simulations", json={"service": "nobody"})
        model = client.post("/v1/simulations", json={**good, "model": "crystal_ball"})
        tick = client.post("/v1/simulations", json={**good, "tick_seconds": 7})
        busy = client.post("/v1/simulations", json=good)
    assert busy.status_code == 429
    assert missing.status_code == 404, missing.text
    assert model.status_code == 422
    assert model.json()["detail"].startswith('unknown model "crystal_ball"; known: auto, ')
    assert tick.status_code == 422
    assert tick.json()["detail"].startswith("tick_seconds must be one of")


@contextmanager
def _every_slot_taken(slots: BoundedSemaphore) -> Iterator[int]:
    """Every free replay slot held (as by replays still running); how many that was."""
    taken = 0
    while slots.acquire(blocking=False):
        taken += 1
    try:
        yield taken
    finally:
        for _ in range(taken):
            slots.release()


def _free(slots: BoundedSemaphore) -> int:
    with _every_slot_taken(slots) as free:
        return free


def test_a_replay_stops_when_its_client_hangs_up(database: Database, settings: Settings) -> None:
    """A week of LightGBM re-plans takes half a minute here; the client gives up after a
    second, and the replay stops at its next forecast and gives its slot back."""
    app = create_app(settings, database)
    body = {
        "profile": PROFILE,
        "points": daily_points(14),
        "model": "lightgbm",
        "policies": ["predictive"],
        "equal_spend": False,
    }
    with live_server(app) as base_url:
        with pytest.raises(httpx.ReadTimeout):
            httpx.post(f"{base_url}/v1/simulations", json=body, timeout=1.0)
        hung_up = time.monotonic()
        while _free(app.state.simulation_slots) < 2 and time.monotonic() - hung_up < 10:
            time.sleep(0.1)
        assert _free(app.state.simulation_slots) == 2, "the replay ran on without its client"


def office_hours_in_new_york(*, with_offsets: bool) -> list[list[object]]:
    """Hourly load on New York's clock (100 from 09:00 to 17:00, else 10) across the spring
    change, written with each row's own offset (-05:00, then -04:00) or in UTC."""
    local = pd.date_range("2026-02-09", "2026-03-14", freq="h", tz="America/New_York")
    values = np.where((local.hour >= 9) & (local.hour < 17), 100.0, 10.0)
    stamps = [ts.isoformat() if with_offsets else ts.tz_convert("UTC").isoformat() for ts in local]
    return [[ts, float(v)] for ts, v in zip(stamps, values, strict=True)]


def test_inline_points_are_forecast_on_the_clock_their_offsets_follow(
    client: TestClient, tmp_path: Path
) -> None:
    """QA: rows at -04:00 then -05:00 and a profile without a zone: the CLI forecast on the
    zone the offsets follow (2763 replica-h), the API on UTC's clock (3168). Both read the
    points' offsets one way now, so both give one report, the zone's."""
    profile = {**PROFILE, "step_seconds": 3600, "max_replicas": 20}
    options = {"model": "seasonal_naive_weekly", "max_replay_days": 7, "equal_spend": False}
    options["policies"] = ["predictive"]
    reports = {}
    new_york = {"timezone": "America/New_York"}
    # in UTC without a zone, the daily cycle shows the clock it follows (the replay did not
    # ask, where plan --input did: found in review)
    variants = (("offsets", True, {}), ("zone", False, new_york), ("utc", False, {}))
    for name, offsets, zone in variants:
        body = {
            "profile": {**profile, **zone},
            "points": office_hours_in_new_york(with_offsets=offsets),
            **options,
        }
        response = client.post("/v1/simulations", json=body)
        assert response.status_code == 200, response.text
        reports[name] = response.json()["policies"]["predictive"]
    assert reports["offsets"] == reports["zone"] == reports["utc"]
    assert reports["zone"]["under_provisioned_pct"] == 0
    # and the CLI, on a CSV of the same rows, says what the API answers
    points = office_hours_in_new_york(with_offsets=True)
    trace = tmp_path / "trace.csv"
    pd.DataFrame(points, columns=["timestamp", "value"]).to_csv(trace, index=False)
    (tmp_path / "p.yaml").write_text(yaml.safe_dump(profile))
    out = tmp_path / "r.json"
    args = ["--input", str(trace), "--profile", str(tmp_path / "p.yaml"), "--output", str(out)]
    args += ["--model", "seasonal_naive_weekly", "--replay-days", "7", "--no-equal-spend"]
    result = CliRunner().invoke(cli, ["simulate", *args, "--policies", "predictive"])
    assert result.exit_code == 0, result.output
    assert json.loads(out.read_text())["policies"]["predictive"] == reports["offsets"]
