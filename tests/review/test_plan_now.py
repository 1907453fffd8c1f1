"""The overview's plan figures: the floor in force now, or the first one of a plan that has not
started, and the peak of the steps running within the window ahead (no step before it)."""

from __future__ import annotations

from datetime import timedelta

import pandas as pd

from forecaster.review.plan_now import DEFAULT_MAX_PLAN_AGE, PlanNow, plans_now
from forecaster.storage.db import Database
from forecaster.storage.samples import latest_metric_ms
from forecaster.storage.services import get_service, profile_of
from forecaster.timeutil import utc_now
from tests.actuators.factories import STEP, make_service, store_plan


def _plan_now(database: Database, now: pd.Timestamp, window: timedelta) -> PlanNow:
    with database.session() as session:
        service = get_service(session=session, name="chat")
        profile = profile_of(service)
        latest = latest_metric_ms(session=session, service_id=service.id, metric=profile.metric)
        plan = plans_now(
            session=session,
            services=[(service, profile)],
            now=now.to_pydatetime(),
            window=window,
            max_age_seconds=DEFAULT_MAX_PLAN_AGE,
            latest_ms={service.id: latest},
        ).get(service.id)
    assert plan is not None
    return plan


def test_the_floor_in_force_and_the_peak_ahead(database: Database) -> None:
    make_service(database)
    first = pd.Timestamp(utc_now()).floor(f"{STEP}s") - pd.Timedelta(seconds=3 * STEP)
    # steps: 3 before now's, now's (5), then 4, 7 within the window, 30 after it
    store_plan(database, replicas=[20, 9, 8, 5, 4, 7, 30], start=first.to_pydatetime())
    now = first + pd.Timedelta(seconds=3 * STEP + 10)
    plan = _plan_now(database, now, timedelta(seconds=3 * STEP - 20))
    assert (plan.replicas, plan.since) == (5, first + pd.Timedelta(seconds=3 * STEP))
    assert plan.peak_replicas == 7  # the steps begun before now's are past, 30 is beyond


def test_a_plan_that_has_not_started_shows_its_first_floor(database: Database) -> None:
    make_service(database)
    start = pd.Timestamp(utc_now()).floor(f"{STEP}s") + pd.Timedelta(seconds=2 * STEP)
    store_plan(database, replicas=[3, 6, 2], start=start.to_pydatetime())
    plan = _plan_now(database, start - pd.Timedelta(seconds=STEP), timedelta(hours=1))
    assert (plan.replicas, plan.since, plan.peak_replicas) == (3, start, 6)
    assert plan.gpus == 3 and plan.peak_gpus == 6  # the factory's GPUs: one per replica
