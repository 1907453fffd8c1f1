"""One label set's newest samples arrive a scrape after another's: until they do, the sum
over label sets is incomplete, and neither training nor the overview reads it as a drop."""

from __future__ import annotations

from datetime import timedelta

import pandas as pd

from forecaster.ingestion.batch import SeriesPoints, ingest_batch
from forecaster.profiles import ScalingProfile
from forecaster.review.overview import summarize_service
from forecaster.settings import Settings
from forecaster.storage.db import Database
from forecaster.storage.services import get_service, upsert_service
from forecaster.training.service_data import load_history
from forecaster.training.train import train_service
from tests.helpers import clear_of_step_turn

PROFILE = ScalingProfile(step_seconds=300, capacity_per_replica=10)


def _store_regions(database: Database, settings: Settings, ends: dict[str, pd.Timestamp]) -> None:
    """10 req/s per region every 5 minutes for a day, each region up to its own end."""
    regions = {
        ("region", region): pd.date_range(end=end, periods=288, freq="5min")
        for region, end in ends.items()
    }
    _store_label_sets(database, settings, regions)


def _store_label_sets(
    database: Database, settings: Settings, label_sets: dict[tuple[str, str], pd.DatetimeIndex]
) -> None:
    """10 req/s at each time of each label set's index."""
    batch = [
        SeriesPoints(
            service="chat",
            metric=PROFILE.metric,
            timestamps=(index.as_unit("ms").asi8 / 1000).tolist(),
            values=[10.0] * len(index),
            labels={name: value},
        )
        for (name, value), index in label_sets.items()
    ]
    with database.session() as session:
        upsert_service(session=session, name="chat", profile=PROFILE)
        ingest_batch(session=session, batch=batch, settings=settings)


def test_a_step_one_region_has_not_reached_yet_is_left_out(
    database: Database, settings: Settings
) -> None:
    now = clear_of_step_turn(300, 30)
    last = pd.Timestamp(now).floor("5min") - timedelta(minutes=5)  # the newest complete step
    _store_regions(database, settings, {"eu": last, "us": last - timedelta(minutes=5)})
    with database.session() as session:
        service = get_service(session=session, name="chat")
        history = load_history(session=session, service=service, profile=PROFILE, days=2)
        summary = summarize_service(session=session, service=service, now=now, last_actuation=None)
    assert history.index[-1] == last - timedelta(minutes=5)  # us has not reached `last` yet
    assert history.iloc[-1] == 20.0 and (history.dropna().tail(50) == 20.0).all()
    assert summary.current_load == 20.0  # the sum over both regions, not eu's 10 alone


def test_a_region_that_stopped_counts_as_stopped(database: Database, settings: Settings) -> None:
    now = clear_of_step_turn(300, 30)
    last = pd.Timestamp(now).floor("5min") - timedelta(minutes=5)
    _store_regions(database, settings, {"eu": last, "us": last - timedelta(minutes=30)})
    with database.session() as session:
        service = get_service(session=session, name="chat")
        history = load_history(session=session, service=service, profile=PROFILE, days=2)
        summary = summarize_service(session=session, service=service, now=now, last_actuation=None)
    assert history.index[-1] == last and history.iloc[-1] == 10.0
    assert summary.current_load == 10.0


def test_label_sets_that_never_overlap_leave_a_gap_not_an_error(
    database: Database, settings: Settings
) -> None:
    """QA: pod "a" stopped six hours ago, pod "b" started ten minutes later (a recreate
    rollout). The sum's steps were the union of the two grids, with a hole, and setting the
    step on it raised: every training and simulation of the service was a 500."""
    now = clear_of_step_turn(300, 30)
    switch = pd.Timestamp(now).floor("5min") - timedelta(hours=6)
    old = pd.date_range(end=switch, periods=288, freq="5min")
    new = pd.date_range(switch + timedelta(minutes=15), pd.Timestamp(now), freq="5min")
    _store_label_sets(database, settings, {("pod", "a"): old, ("pod", "b"): new})
    with database.session() as session:
        service = get_service(session=session, name="chat")
        history = load_history(session=session, service=service, profile=PROFILE, days=2)
    assert history.index.freq == pd.Timedelta(minutes=5)
    assert history[switch + timedelta(minutes=5) : switch + timedelta(minutes=10)].isna().all()
    assert history[switch] == 10.0 and history[switch + timedelta(minutes=15)] == 10.0
    result = train_service(database, "chat", settings, model="seasonal_naive_daily")
    assert result.model == "seasonal_naive_daily"
