"""What the actuators are handed: the plan window cut from a stored plan, or why there is none."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import event

from forecaster.actuators.window import (
    PlanStatus,
    PlanWindow,
    Step,
    build_window,
    change_points,
    floor_over,
    load_windows,
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


def window_from(
    values: list[int], *, now: datetime, age: float = 0, max_age: float = 6 * 3600
) -> PlanWindow:
    return build_window(
        service="chat",
        profile=profile(),
        plan_id=7,
        generated_at=now - timedelta(hours=age),
        step_seconds=300,
        steps=steps(values),
        now=now,
        window_seconds=360,
        max_age_seconds=max_age,
    )


def test_plan_that_ends_inside_the_window_or_is_too_old_is_stale() -> None:
    values = [4] * 12  # one hour of plan
    fresh = window_from(values, now=T0 + timedelta(minutes=30))
    assert fresh.active and fresh.floor == 4 and fresh.ends_at == T0 + timedelta(hours=1)
    ending = window_from(values, now=T0 + timedelta(minutes=57))
    assert ending.status is PlanStatus.STALE and "before the coming window ends" in ending.reason
    old = window_from(values, now=T0 + timedelta(minutes=30), age=7)
    assert old.status is PlanStatus.STALE and "is 7 h old (limit 6 h)" in old.reason
    # a limit under an hour reads in minutes or seconds (QA: "0.0h old (limit 0.001h)")
    brief = window_from(values, now=T0 + timedelta(minutes=30), age=0.01, max_age=3.6)
    assert "is 36 s old (limit 3.6 s)" in brief.reason
    assert old.floor is None and not old.active


def test_load_window_from_the_database(database: Database) -> None:
    make_service(database)
    store_plan(database, replicas=[3] * 12 + [6] * 12)

    def load(*, preview: bool = False) -> PlanWindow:
        return windows_of(database, max_age_seconds=6 * 3600, preview=preview)[None]

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


def test_a_plan_made_to_be_shown_only_is_not_pushed_once_actuation_is_on(
    database: Database,
) -> None:
    """Forecast-only turned off in the same edit that changed the metric: the re-plan was
    refused (no forecast of the new metric yet), and the plan made for showing was pushed."""
    make_service(database)  # forecast_only: false now
    store_plan(database, replicas=[27] * 24, summary={"forecast_only": True})
    window = windows_of(database, max_age_seconds=6 * 3600)[None]
    assert window.status is PlanStatus.FORECAST_ONLY and "was made while" in window.reason
    preview = windows_of(database, max_age_seconds=6 * 3600, preview=True)[None]
    assert preview.active  # a dry run shows the push, and says a real run makes none
    assert "preview only: plan 1 was made forecast_only, so a real run pushes nothing" in (
        preview.reason
    )
    store_plan(database, replicas=[27] * 24, summary={"forecast_only": False})
    assert windows_of(database, max_age_seconds=6 * 3600)[None].active


def test_a_plan_is_as_old_as_the_data_under_it(database: Database) -> None:
    """A re-plan (a profile edit, the refresh of a history whose samples stopped) writes a new
    plan from the same forecast: a plan on data 7 hours old is stale however new it is."""
    make_service(database)
    data_until = utc_now() - hours(1)
    store_plan(database, replicas=[3] * 24, data_until=data_until)
    active = windows_of(database, max_age_seconds=6 * 3600)[None]
    assert active.active and active.trusted_until is not None
    # what runs on by itself after a push (AWS scheduled actions) must let go by then
    limit = data_until + hours(6)  # the stored origin is the step it falls in
    assert limit - timedelta(minutes=5) <= active.trusted_until <= limit
    store_plan(database, replicas=[3] * 24, data_until=utc_now() - hours(7))
    stale = windows_of(database, max_age_seconds=6 * 3600)[None]
    assert stale.status is PlanStatus.STALE
    assert "rests on data that ends 7" in stale.reason and "ago (limit 6 h)" in stale.reason


def windows_of(database: Database, **given: Any) -> dict[str | None, PlanWindow]:
    """The windows of service "chat"'s stored plan now, over the next 6 minutes."""
    with database.session() as session:
        service = get_service(session=session, name="chat")
        return load_windows(
            session=session,
            service=service,
            profile=profile_of(service),
            now=utc_now(),
            **{"window_seconds": 360, "max_age_seconds": 3600, **given},
        )


def test_windows_of_several_tiers_read_the_plan_once(database: Database) -> None:
    """The actuate pass cuts a window per tier its targets scale, from one read of the plan
    (it had read the plan again for each tier, every few minutes)."""
    make_service(database)
    store_plan(database, replicas=[13] * 24, tier="CPU:5+L4:4+A100:4")
    statements: list[str] = []

    def count(conn, cursor, statement, *args) -> None:  # type: ignore[no-untyped-def]
        statements.append(statement)

    event.listen(database.engine, "before_cursor_execute", count)
    try:
        windows = windows_of(database, tiers=[None, "L4", "A100", "L4", "TPU"])
    finally:
        event.remove(database.engine, "before_cursor_execute", count)
    assert {tier: w.floor for tier, w in windows.items()} == {
        None: 13,
        "L4": 4,
        "A100": 4,
        "TPU": 0,
    }
    assert "(tier L4)" in windows["L4"].reason and "tier" not in windows[None].reason
    assert sum("plan_steps" in s.lower() for s in statements) == 1, statements


def test_service_without_a_plan_is_missing(database: Database) -> None:
    make_service(database)
    assert windows_of(database)[None].status is PlanStatus.MISSING


def test_pushes_capped_per_push_keep_up_with_a_plan_of_finer_steps() -> None:
    """QA: with 1-minute plan steps and ``max_step_up: 2`` the plan rose 2 a minute (10 per
    5-minute push) while each push may add 2, so the floor fell further behind at each push.
    Replayed push by push, each adding at most the cap, the floor in force covers every step."""
    rise = [2] * 90 + [2 + 2 * i for i in range(1, 15)] + [30] * 60  # 1-minute steps
    plan = [Step(T0 + timedelta(minutes=i), v, v * 7.0) for i, v in enumerate(rise)]
    capped = profile(max_step_up=2)

    def replay(push_seconds: float | None) -> list[int]:
        """The floor in force at each minute when a push every 5 minutes adds at most 2."""
        held, in_force = 2, []
        for minute in range(0, len(rise) - 10):
            now = T0 + timedelta(minutes=minute)
            if minute % 5 == 0:
                window = build_window(
                    service="chat",
                    profile=capped,
                    plan_id=7,
                    generated_at=T0,
                    step_seconds=60,
                    steps=plan,
                    now=now,
                    window_seconds=360,
                    max_age_seconds=6 * 3600,
                    push_seconds=push_seconds,
                )
                assert window.floor is not None
                held = min(window.floor, held + 2)
            in_force.append(held)
        return in_force

    short = [m for m, held in enumerate(replay(None)) if held < rise[m]]
    assert len(short) > 10  # without pacing: behind the plan for most of the climb
    assert all(held >= rise[m] for m, held in enumerate(replay(300)))
    paced = window_from([2, 2, 20], now=T0)  # 5-minute steps: the planner's ramp already does
    assert paced.floor == 2 and "raised" not in paced.reason
