"""The dashboard and ``forecaster status`` judge a plan and a forecast as the actuators and the
alerts do: a floor nothing holds is not shown as in force, and a forecast that stopped
refreshing is news long before it runs out."""

from __future__ import annotations

from sqlalchemy import update

from forecaster.review.overview import ServiceSummary, summarize_service
from forecaster.storage.db import Database
from forecaster.storage.orm import Forecast
from forecaster.storage.services import get_service
from forecaster.timeutil import utc_now
from tests.actuators.factories import hours, make_service, store_plan


def _summary(database: Database, name: str) -> ServiceSummary:
    with database.session() as session:
        service = get_service(session=session, name=name)
        return summarize_service(
            session=session,
            service=service,
            now=utc_now(),
            last_actuation=None,
            max_plan_age_seconds=6 * 3600,
        )


def test_a_plan_on_data_that_stopped_is_stale_as_the_actuators_judge_it(
    database: Database,
) -> None:
    """QA: the plan route said stale ("rests on data that ends 10 h ago"), the actuators had
    restored their baselines, and the overview showed its floor as in force, with no word."""
    make_service(database, name="stopped")
    plan_id = store_plan(
        database, name="stopped", replicas=[4] * 48, data_until=utc_now() - hours(10)
    )
    summary = _summary(database, "stopped")
    plan = summary.plan
    assert plan is not None and plan.stale and not plan.ran_out and plan.note is not None
    assert plan.note.startswith(f"plan {plan_id} rests on data that ends 10")
    assert "h ago (limit 6 h): actuators restore their baselines" in plan.note
    assert any(warning.startswith("the plan is too old to push: ") for warning in summary.warnings)
    make_service(database, name="fresh")
    store_plan(database, name="fresh", replicas=[4] * 48, data_until=utc_now() - hours(1))
    fresh = _summary(database, "fresh").plan
    assert fresh is not None and not fresh.stale and fresh.note is None


def test_a_forecast_that_stopped_refreshing_is_a_warning_after_an_hour(
    database: Database,
) -> None:
    """QA: a forecast 22 hours old (the refresh runs every 15 minutes) was nowhere on the
    dashboard until it ran out, 48 h after it was made."""
    make_service(database, name="chat")
    store_plan(database, name="chat", replicas=[4] * 48, data_until=utc_now())

    def forecast_warnings() -> list[str]:
        return [warning for warning in _summary(database, "chat").warnings if "forecast" in warning]

    assert forecast_warnings() == []
    with database.session() as session:
        session.execute(update(Forecast).values(created_at=utc_now() - hours(22)))
    assert forecast_warnings() == ["no new forecast for 22 h: are the forecast jobs running?"]


def test_a_disabled_services_plan_is_not_shown_as_in_force(database: Database) -> None:
    """As the plan route reads it: a disabled service's targets are back at their baselines,
    so the dashboard's floor is one nothing holds, and the note says why."""
    make_service(database, name="paused", enabled=False)
    store_plan(database, name="paused", replicas=[4] * 48, data_until=utc_now() - hours(1))
    summary = _summary(database, "paused")
    plan = summary.plan
    assert plan is not None and plan.stale and not plan.ran_out
    assert plan.note is not None and plan.note.startswith('service "paused" is disabled')
    assert summary.warnings == []  # off by choice: not news
