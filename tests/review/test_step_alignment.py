"""The review and the chart put each point in the step training puts it in: points of a finer
step move to their nearest own mark first. Bucketed by their raw time, 5-minute rows stamped
at :x2:53 (the NAB traces) landed a step early on a 15-minute profile, and the review held
every forecast step against a load training never saw there."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pandas as pd

from forecaster.profiles import ScalingProfile
from forecaster.review.accuracy import actuals_on_steps
from forecaster.review.history import display_history
from forecaster.settings import Settings
from forecaster.storage.db import Database
from forecaster.storage.samples import metric_series_ids
from forecaster.storage.services import get_service
from forecaster.timeutil import utc_now
from forecaster.training.service_data import load_history
from tests.helpers import store_service

PROFILE = ScalingProfile(step_seconds=900, capacity_per_replica=10)


def test_review_and_chart_buckets_match_what_training_reads(
    database: Database, settings: Settings
) -> None:
    end = pd.Timestamp(utc_now()).floor("15min") - pd.Timedelta(minutes=30)
    stamps = pd.date_range(end=end, periods=600, freq="5min") - pd.Timedelta(seconds=127)
    load = pd.Series(np.random.default_rng(4).uniform(10, 100, len(stamps)), index=stamps)
    store_service(database, settings, "chat", load, PROFILE)  # rows at :x2:53, :x7:53
    with database.session() as session:
        service = get_service(session=session, name="chat")
        history = load_history(session=session, service=service, profile=PROFILE, days=3)
        steps = pd.DatetimeIndex(history.dropna().index[1:-1])
        ids = metric_series_ids(session=session, service_id=service.id, metric=PROFILE.metric)
        reviewed = actuals_on_steps(session=session, series_ids=ids, index=steps, step_seconds=900)
        shown = display_history(
            session=session,
            series_ids=ids,
            start=steps[0].to_pydatetime(),
            end=(steps[-1] + timedelta(minutes=15)).to_pydatetime(),
            bucket_seconds=900,
        )
    np.testing.assert_allclose(reviewed.to_numpy(), history[steps].to_numpy())
    assert shown.ts == list(steps.to_pydatetime())
    np.testing.assert_allclose(np.array(shown.mean, dtype=float), history[steps].to_numpy())
