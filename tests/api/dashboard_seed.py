"""A seeded database for the dashboard tests: real traffic, two trainings, events, actuations.

``chat`` gets a load trace ending now, trained once six hours ago (so that forecast can be
reviewed against what happened since) and refreshed now; plus a declared event, an excluded
window and two actuations. ``embed`` is actuating, has no samples and was never trained.
``seed_stale_service`` adds a service whose samples stopped days ago, so its plan ran out.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import pandas as pd

from forecaster.profiles import ActuationTarget, ScalingProfile
from forecaster.settings import Settings
from forecaster.storage.db import Database
from forecaster.storage.orm import Actuation, Event, Exclusion
from forecaster.storage.services import get_service, upsert_service
from forecaster.timeutil import utc_now
from forecaster.training.train import forecast_service, train_service
from tests.actuators.factories import store_plan
from tests.helpers import demo_trace_slice, ending_now, store_points

CHAT_PROFILE = ScalingProfile(
    capacity_per_replica=20,
    target_utilization=0.7,
    min_replicas=2,
    max_replicas=40,
    horizon_hours=12,
    gpus_per_replica=1,
    gpu_type="nvidia-l4",
    cost_per_replica_hour=0.8,
)
EMBED_PROFILE = ScalingProfile(
    capacity_per_replica=50,
    forecast_only=False,
    targets=[
        ActuationTarget(
            kind="kubernetes-hpa",
            name="embed-hpa",
            config={"namespace": "inference", "name": "embed"},
        )
    ],
)
REVIEW_HOURS = 6
STALE_DAYS = 8  # the stale service's samples stopped this long ago


@dataclass(frozen=True)
class Seeded:
    first_forecast_id: int  # made REVIEW_HOURS ago: actuals exist for part of it
    latest_forecast_id: int
    trace: pd.Series


def seed_dashboard(database: Database, settings: Settings, trace: pd.Series) -> Seeded:
    """Store ``trace`` (shifted to end now) for ``chat`` in two parts with a training between."""
    trace = ending_now(trace)
    now = trace.index[-1]
    cut = now - pd.Timedelta(hours=REVIEW_HOURS)
    with database.session() as session:
        upsert_service(session=session, name="chat", profile=CHAT_PROFILE)
        upsert_service(session=session, name="embed", profile=EMBED_PROFILE)
    store_points(database, settings, "chat", trace[trace.index <= cut])
    first = train_service(database, "chat", settings)
    store_points(database, settings, "chat", trace[trace.index > cut])
    latest = forecast_service(database, "chat", settings)
    start = now.to_pydatetime()
    with database.session() as session:
        service_id = get_service(session=session, name="chat").id
        session.add_all(
            [
                Event(
                    service_id=service_id,
                    name="spring launch",
                    start=start + timedelta(hours=2),
                    end=start + timedelta(hours=4),
                    multiplier=1.5,
                ),
                Exclusion(
                    service_id=service_id,
                    start=start - timedelta(days=3),
                    end=start - timedelta(days=3) + timedelta(hours=2),
                    reason="outage INC-42",
                ),
                Actuation(
                    service_id=service_id,
                    plan_id=first.plan_id,
                    target="prod/chat-hpa",
                    kind="kubernetes-hpa",
                    before={"minReplicas": 2},
                    after={"minReplicas": 5},
                    outcome="applied",
                    created_at=start - timedelta(minutes=30),
                ),
                Actuation(
                    service_id=service_id,
                    plan_id=latest.plan_id,
                    target="prod/chat-hpa",
                    kind="kubernetes-hpa",
                    dry_run=True,
                    before={"minReplicas": 5},
                    after={"minReplicas": 6},
                    outcome="unchanged",
                    created_at=start - timedelta(minutes=5),
                ),
            ]
        )
    return Seeded(
        first_forecast_id=first.forecast_id, latest_forecast_id=latest.forecast_id, trace=trace
    )


def seed_stale_service(database: Database, settings: Settings, name: str) -> int:
    """``name`` with three days of samples that stopped ``STALE_DAYS`` ago and the plan made
    while they came in, which ran out two days ago: training is refused, so that plan stays.
    Returns the plan's id."""
    trace = ending_now(demo_trace_slice(days=3))
    trace.index = trace.index - pd.Timedelta(days=STALE_DAYS)
    with database.session() as session:
        upsert_service(session=session, name=name, profile=CHAT_PROFILE)
    store_points(database, settings, name, trace)
    return store_plan(
        database, name=name, replicas=[3] * 12, start=utc_now() - pd.Timedelta(days=2)
    )
