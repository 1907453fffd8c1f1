""" "No new samples" waits for rows at their own pace: a daily series is not silent at noon."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pandas as pd

from forecaster.profiles import ScalingProfile
from forecaster.settings import Settings
from forecaster.storage.db import Database
from forecaster.storage.services import get_service
from tests.helpers import service_warnings, store_service

PROFILE = ScalingProfile(capacity_per_replica=100)  # a 5-minute step


def _silence_warnings(database: Database, name: str, hours_after_last: float) -> list[str]:
    last = pd.Timestamp("2024-03-31", tz="UTC")
    now = (last + timedelta(hours=hours_after_last)).to_pydatetime()
    return service_warnings(database, name, "no new requests_per_second samples", now=now)


def test_daily_rows_are_silent_only_after_a_missed_row(
    database: Database, settings: Settings
) -> None:
    """Found by a QA pass: an up-to-date daily series warned "no new samples for 21 h" all
    day, so ``forecaster status --check`` failed every day."""
    days = pd.date_range(end="2024-03-31", periods=30, freq="D", tz="UTC")
    store_service(database, settings, "daily", pd.Series(np.full(30, 500.0), days), PROFILE)
    assert _silence_warnings(database, "daily", 30) == []
    missed = _silence_warnings(database, "daily", 50)
    assert missed == ["no new requests_per_second samples for 2 d 2 h"]
    steps = pd.date_range(end="2024-03-31", periods=300, freq="5min", tz="UTC")
    store_service(database, settings, "fine", pd.Series(np.full(300, 5.0), steps), PROFILE)
    assert _silence_warnings(database, "fine", 0.5) != []  # 5-minute rows: as before


def test_a_disabled_service_warns_of_nothing_it_is_not_meant_to_do(
    database: Database, settings: Settings
) -> None:
    """QA: a service disabled to retire it still warned "no new samples" and "no forecast
    yet", so ``forecaster status --check`` failed for as long as it stayed in the database."""
    steps = pd.date_range(end="2024-03-31", periods=300, freq="5min", tz="UTC")
    store_service(database, settings, "old", pd.Series(np.full(300, 5.0), steps), PROFILE)
    with database.session() as session:
        get_service(session=session, name="old").enabled = False
    now = pd.Timestamp("2024-04-30", tz="UTC").to_pydatetime()
    assert service_warnings(database, "old", now=now) == []
    with database.session() as session:
        get_service(session=session, name="old").enabled = True
    assert _silence_warnings(database, "old", 24 * 30) != []  # enabled again: it is news
