"""What the actuators are handed: the plan window cut from a stored plan, or why there is none."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from forecaster.actuators.window import (
    PlanStatus,
    PlanWindow,
    Step,
    build_window,
    change_points,
    floor_over,
    load_window,
)
from forecaster.storage.db import Database
from forecaster.storage.services import get_service, profile_of
from forecaster.timeutil import utc_now
from tests.actuators.conftest import profile
from tests.actuators.factories import hours, make_service, store_plan

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def steps(values: list[int]) -> list[Step]:
    return [Step(T0 + timedelta(minutes=5 * i), v, v * 7.0) for i, v in enumerate(values)]


def test_floor_is_the_peak_over_the_coming_window() -> None:
    plan = steps([2, 3, 5, 4, 8, 1])
    # now = 12:02 (inside the first step), window 6 min: steps at 12:00 and 12:05 overlap
    assert floor_over(
        plan, step_seconds=300, start=T0 + timedelta(minutes=2), end=T0 + timedelta(minutes=8)
    ) == (3, 21.0)
    assert floor_over(
        plan, step_seconds=300, start=T0 + timedelta(minutes=2), end=T0 + timedelta(minutes=11)
    ) == (5, 35.0)


def test_change_points_start_with_the_step_in_force() -> None:
    now = T0 + timedelta(minutes=7)
    points = change_points(steps([2, 3, 3, 5, 5, 2]), step_seconds=300, now=now)
    assert [(p.at - T0, p.replicas) for p in points] == [
        (timedelta(minutes=7), 3),
        (timedelta(minutes=15), 5),
        (timedelta(minutes=25), 2),
    ]


def window_from(values: list[int], *, now: datetime, age: float = 0) -> PlanWindow:
    return build_window(
        service="chat",
        profile=profile(),
        plan_id=7,
        generated_at=now - timedelta(hours=age),
        step_seconds=300,
        steps=steps(values),
        now=now,
        window_seconds=360,
        max_age_seconds=6 * 3600,
    )


def test_plan_that_ends_inside_the_window_or_is_too_old_is_stale() -> None:
    values = [4] * 12  # one hour of plan
    fresh = window_from(values, now=T0 + timedelta(minutes=30))
    assert fresh.active and fresh.floor == 4 and fresh.ends_at == T0 + timedelta(hours=1)
    ending = window_from(values, now=T0 + timedelta(minutes=57))
    assert ending.status is PlanStatus.STALE and "before the coming window ends" in ending.reason
    old = window_from(values, now=T0 + timedelta(minutes=30), age=7)
    assert old.status is PlanStatus.STALE and "7.0h old" in old.reason
    assert old.floor is None and not old.active


def test_load_window_from_the_database(database: Database) -> None:
    make_service(database)
    store_plan(database, replicas=[3] * 12 + [6] * 12)

    def load(*, preview: bool = False) -> PlanWindow:
        with database.session() as session:
            service = get_service(session=session, name="chat")
            return load_window(
                session=session,
                service=service,
                profile=profile_of(service),
                now=utc_now(),
                window_seconds=360,
                max_age_seconds=6 * 3600,
                preview=preview,
            )

    active = load()
    assert active.active and active.floor in (3, 6)
    assert active.change_points[-1].replicas == 6

    make_service(database, forecast_only=True)
    assert load().status is PlanStatus.FORECAST_ONLY
    assert load(preview=True).active  # a dry run previews the push anyway

    make_service(database, enabled=False)
    assert load().status is PlanStatus.DISABLED

    make_service(database)
    store_plan(database, replicas=[3] * 24, start=utc_now() - hours(5))
    assert load().status is PlanStatus.STALE


def test_service_without_a_plan_is_missing(database: Database) -> None:
    make_service(database)
    with database.session() as session:
        service = get_service(session=session, name="chat")
        window = load_window(
            session=session,
            service=service,
            profile=profile_of(service),
            now=utc_now(),
            window_seconds=360,
            max_age_seconds=3600,
        )
    assert window.status is PlanStatus.MISSING
