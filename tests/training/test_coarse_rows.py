"""A service whose rows are coarser than its profile's step (daily rows, 5-minute profile)."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pandas as pd

from forecaster.profiles import ScalingProfile
from forecaster.settings import Settings
from forecaster.storage.db import Database
from forecaster.storage.services import get_service
from forecaster.timeutil import utc_now
from forecaster.training.service_data import load_history
from forecaster.training.train import train_service
from tests.helpers import store_service

FIVE_MINUTES = ScalingProfile(capacity_per_replica=1_500)  # the default 300 s step


def test_daily_rows_on_a_five_minute_profile_are_all_learnt_from(
    database: Database, settings: Settings
) -> None:
    """Found by a QA pass: 35 daily rows left 287 empty steps between each two, the gap before
    the last row read as a stray start, and the service trained on one point ("only 1
    observed point") with a flat forecast that missed every Monday. Each row now stands for
    its day; a missing day stays missing."""
    today = pd.Timestamp(utc_now()).floor("D")
    index = pd.date_range(end=today - timedelta(days=1), periods=35, freq="D")
    weekday = np.array([1.6, 1.2, 1.1, 1.0, 0.9, 0.6, 0.5])[index.day_of_week]
    rows = pd.Series(3_000 * weekday, index=index).drop(index[-10])
    store_service(database, settings, "site", rows, FIVE_MINUTES)
    with database.session() as session:
        service = get_service(session=session, name="site")
        history = load_history(session=session, service=service, profile=FIVE_MINUTES, days=60)
    assert history.notna().sum() == 34 * 288
    assert history.loc[index[-1] + timedelta(hours=23, minutes=55)] == rows.iloc[-1]
    assert history.loc[index[-10] : index[-10] + timedelta(hours=23, minutes=55)].isna().all()
    outcome = train_service(database, "site", settings, model="seasonal_naive_weekly")
    assert outcome.model == "seasonal_naive_weekly", outcome.message
