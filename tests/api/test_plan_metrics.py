"""``/v1/plans/metrics``: what each service's plan in force says for now, for Prometheus: the
replica and GPU floor and the forecast it covers, for graphs beside the real load and alerts."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import text

from api.app import create_app
from forecaster.profiles import ScalingProfile
from forecaster.security.api_keys import create_key
from forecaster.settings import Settings
from forecaster.storage.db import Database
from forecaster.storage.forecasts import forecast_frame
from forecaster.storage.jobs import recorded_job
from forecaster.storage.plans import plan_steps
from forecaster.timeutil import utc_now
from forecaster.training.train import train_service
from tests.actuators.factories import hours, make_service, store_plan
from tests.helpers import clear_of_step_turn, live_server, store_service
from tests.prometheus_server import PrometheusFactory, query_until_found, scrape_config

PROFILE = ScalingProfile(step_seconds=300, horizon_hours=6, capacity_per_replica=10)


@pytest.fixture
def client(settings: Settings, database: Database) -> Iterator[TestClient]:
    with TestClient(create_app(settings, database)) as test_client:
        yield test_client


def _scraped(client: TestClient) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of the forecaster_plan_*, forecaster_planned_* and forecaster_forecast_load
    gauges."""
    response = client.get("/v1/plans/metrics")
    assert response.status_code == 200
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        if family.name.startswith(("forecaster_plan", "forecaster_forecast_load"))
        for sample in family.samples
    }


def _two_days_until_now() -> pd.Series:
    index = pd.date_range(end=pd.Timestamp(utc_now()).floor("5min"), periods=576, freq="5min")
    hours_of_day = index.hour.to_numpy() + index.minute.to_numpy() / 60
    return pd.Series(40 + 20 * np.sin(2 * np.pi * hours_of_day / 24), index=index)


def test_a_trained_service_reports_its_floor_and_forecast_for_now(
    client: TestClient, database: Database, settings: Settings
) -> None:
    store_service(database, settings, "chat", _two_days_until_now(), PROFILE)
    result = train_service(database, "chat", settings, model="seasonal_naive_daily")
    clear_of_step_turn(300, 5)  # not between the scrape and the check
    scraped = _scraped(client)
    now = pd.Timestamp(utc_now())
    with database.session() as session:
        (step,) = [
            s
            for s in plan_steps(session=session, plan_id=result.plan_id)
            if s.ts <= now < s.ts + pd.Timedelta(seconds=300)
        ]
        forecast = forecast_frame(session=session, forecast_id=result.forecast_id)
    assert scraped[("forecaster_planned_replicas", (("service", "chat"),))] == step.replicas
    assert scraped[("forecaster_planned_gpus", (("service", "chat"),))] == step.gpus
    for quantile, column in ((0.5, "p50"), (0.95, "p95"), (0.99, "p99")):
        labels = (
            ("metric", "requests_per_second"),
            ("quantile", str(quantile)),
            ("service", "chat"),
        )
        assert scraped[("forecaster_forecast_load", labels)] == pytest.approx(
            forecast.loc[step.ts, column]
        )


def test_only_plans_in_force_now_are_reported_and_one_that_stops_drops_out(
    client: TestClient, database: Database
) -> None:
    for name in ("chat", "search", "later"):
        make_service(database, name=name)
    store_plan(database, name="chat", replicas=[3, 5, 8])
    store_plan(database, name="search", replicas=[2, 2], start=utc_now() - hours(2))  # ran out
    store_plan(database, name="later", replicas=[4], start=utc_now() + hours(1))  # not begun
    scraped = _scraped(client)
    in_force = {
        (("service", name),): 1 if name == "chat" else 0 for name in ("chat", "search", "later")
    }
    assert scraped == {
        ("forecaster_planned_replicas", (("service", "chat"),)): 3,
        ("forecaster_planned_gpus", (("service", "chat"),)): 3,
        **{("forecaster_plan_in_force", labels): value for labels, value in in_force.items()},
    }  # a plan without a forecast (pruned) reports its floor alone
    assert "forecaster_planned_replicas" not in client.get("/metrics").text  # open: health only
    store_plan(database, name="chat", replicas=[6], start=utc_now() + hours(1))  # the newest
    assert _scraped(client) == {  # not kept at the last value scraped
        ("forecaster_plan_in_force", (("service", name),)): 0
        for name in ("chat", "search", "later")
    }


def test_a_plan_the_actuators_would_not_push_is_not_in_force(
    client: TestClient, database: Database
) -> None:
    """A plan refreshed on samples that stopped 8 hours ago (the limit is 6): the actuators
    restore baselines, while the gauge said 1 and no alert on it could fire. A disabled
    service is left out: nothing pushes for it by choice, and an alert on it would never end."""
    make_service(database, name="stopped")
    store_plan(database, name="stopped", replicas=[16] * 12, data_until=utc_now() - hours(8))
    make_service(database, name="off", enabled=False)
    store_plan(database, name="off", replicas=[9] * 12)
    make_service(database, name="fresh")
    store_plan(database, name="fresh", replicas=[4] * 12, data_until=utc_now() - hours(1))
    scraped = _scraped(client)
    in_force = {
        name: scraped.get(("forecaster_plan_in_force", (("service", name),)))
        for name in ("stopped", "off", "fresh")
    }
    assert in_force == {"stopped": 0, "off": None, "fresh": 1}
    assert not [labels for name, labels in scraped if ("service", "off") in labels]
    assert ("forecaster_planned_replicas", (("service", "stopped"),)) not in scraped
    assert scraped[("forecaster_planned_replicas", (("service", "fresh"),))] == 4


def test_a_failed_training_refresh_or_push_is_a_gauge_whoever_ran_it(
    client: TestClient, database: Database
) -> None:
    """The failure counter lives in the process that ran the job (a separate worker serves no
    metrics); this gauge is read from the job runs, so the API reports it, from the first
    failure on, until a later run goes well."""
    for name in ("chat", "search"):
        make_service(database, name=name)
    with pytest.raises(MemoryError), recorded_job(database.sessions, "train", covers=["chat"]):
        raise MemoryError("the global booster")
    # QA: pushes refused at every pass (a 403) showed in no metric a scrape could alert on
    with pytest.raises(RuntimeError), recorded_job(database.sessions, "actuate", "search"):
        raise RuntimeError("1 of 1 targets failed: ml/search")

    def failing() -> dict[tuple[str, str], float]:
        text = client.get("/v1/plans/metrics").text
        return {
            (sample.labels["service"], sample.labels["forecaster_job"]): sample.value
            for family in text_string_to_metric_families(text)
            if family.name == "forecaster_service_job_failing"
            for sample in family.samples
        }

    assert failing() == {
        ("chat", "train"): 1,
        ("chat", "forecast"): 0,
        ("chat", "actuate"): 0,
        ("search", "train"): 0,
        ("search", "forecast"): 0,
        ("search", "actuate"): 1,
    }
    with recorded_job(database.sessions, "train", "chat"):
        pass  # trained on demand, and well
    with recorded_job(database.sessions, "actuate", "search"):
        pass  # pushed at the next pass
    assert set(failing().values()) == {0}


def test_a_real_prometheus_scrapes_the_plans_with_a_read_key(
    database: Database, settings: Settings, start_prometheus: PrometheusFactory
) -> None:
    """The scrape configuration the README gives: Prometheus holds the floor in force."""
    make_service(database, name="chat")
    store_plan(database, name="chat", replicas=[7] * 3)
    with database.session() as session:
        secret = create_key(session=session, name="prometheus", scopes=["read"]).secret
    app = create_app(settings.model_copy(update={"auth_enabled": True}), database)
    with live_server(app) as base:
        config = scrape_config(base, job="forecaster-plans", path="/v1/plans/metrics", key=secret)
        url = start_prometheus(config=config)
        result = query_until_found(url, "forecaster_planned_replicas")
    (sample,) = result
    assert sample["metric"]["service"] == "chat" and sample["metric"]["job"] == "forecaster-plans"
    assert float(sample["value"][1]) == 7


def test_the_plan_route_calls_a_plan_on_old_data_stale(
    client: TestClient, database: Database
) -> None:
    """A plan refreshed on samples that stopped 8 hours ago still runs for hours, but the
    actuators no longer push it: the plan route said ``stale: false`` while the baselines
    were back, so a person reading it believed the floor was in force."""
    make_service(database, name="stopped")
    store_plan(database, name="stopped", replicas=[16] * 12, data_until=utc_now() - hours(8))
    make_service(database, name="fresh")
    store_plan(database, name="fresh", replicas=[4] * 12, data_until=utc_now() - hours(1))
    stopped = client.get("/v1/services/stopped/plan").json()
    assert stopped["stale"] is True and len(stopped["steps"]) == 12
    assert "rests on data that ends 8" in stopped["note"] and "ago (limit 6 h)" in stopped["note"]
    assert "actuators restore their baselines" in stopped["note"]
    fresh = client.get("/v1/services/fresh/plan").json()
    assert fresh["stale"] is False and fresh["note"] is None


def _forecast_ages(client: TestClient) -> dict[str, float]:
    return {
        sample.labels["service"]: sample.value
        for family in text_string_to_metric_families(client.get("/metrics").text)
        if family.name == "forecaster_forecast_age_seconds"
        for sample in family.samples
    }


def test_a_disabled_services_forecast_age_drops_out_of_the_metrics(
    client: TestClient, database: Database
) -> None:
    """Nothing refreshes a disabled service's forecast: its age grew, and the stale-forecast
    alert on it fired, for as long as the service stayed disabled."""
    for name in ("chat", "off"):
        make_service(database, name=name)
        store_plan(database, name=name, replicas=[3] * 4, data_until=utc_now() - hours(1))
    assert set(_forecast_ages(client)) == {"chat", "off"}
    make_service(database, name="off", enabled=False)
    assert set(_forecast_ages(client)) == {"chat"}


def test_a_forecast_only_plan_is_shown_but_never_reported_in_force(
    client: TestClient, database: Database
) -> None:
    """QA: a forecast-only service read forecaster_plan_in_force 1 though nothing pushed its
    plan. Its floor and forecast are still shown (the plan's figures, to judge it by); the
    in-force gauge leaves it out, as for a disabled service (0 would alert for good on the
    default profile). A plan made while forecast_only, the profile pushing since, waits for a
    plan made to be pushed: not in force."""
    make_service(database, name="shown", forecast_only=True)
    store_plan(database, name="shown", replicas=[6] * 12)
    make_service(database, name="waiting")
    store_plan(database, name="waiting", replicas=[5] * 12, summary={"forecast_only": True})
    scraped = _scraped(client)
    assert ("forecaster_plan_in_force", (("service", "shown"),)) not in scraped
    assert scraped[("forecaster_planned_replicas", (("service", "shown"),))] == 6
    assert scraped[("forecaster_plan_in_force", (("service", "waiting"),))] == 0


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # PostgreSQL refuses it
def test_a_damaged_row_hides_no_other_services_metrics(
    client: TestClient, database: Database, caplog: pytest.LogCaptureFixture
) -> None:
    """Review: a profile whose stored text is not JSON (an UPDATE by hand) made the plans'
    scrape a 503 and froze every forecast age on /metrics. The others are reported; the
    damaged one's forecast still ages (nothing refreshes it), its plan is not called in force
    (nothing pushes it)."""
    for name in ("broken", "chat"):
        make_service(database, name=name)
        store_plan(database, name=name, replicas=[3] * 4, data_until=utc_now() - hours(1))
    with database.session() as session:
        session.execute(text("UPDATE services SET profile = '{not json' WHERE name = 'broken'"))

    assert set(_forecast_ages(client)) == {"broken", "chat"}
    assert "database unusable" not in caplog.text
    in_force = {
        dict(labels)["service"]
        for name, labels in _scraped(client)
        if name == "forecaster_plan_in_force"
    }
    assert in_force == {"chat"}
