"""A service's traffic follows its users' clock: with the profile's ``timezone`` the engine
reads its UTC history on that zone's current clock across daylight-saving changes."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from forecaster.profiles import STORED, ScalingProfile
from forecaster.storage.db import Database
from forecaster.storage.services import upsert_service
from forecaster.training.forecasting import make_forecast, refreshed
from forecaster.training.history import on_local_clock
from forecaster.training.service_data import service_calendar
from models.calendar import Calendar

ZONE = "America/New_York"  # -05:00, then -04:00 from 8 March 2026


def office_hours(days: int = 21, start: str = "2026-02-20") -> pd.Series:
    """Hourly load stored in UTC that peaks at 14:00 New York time, through the change."""
    local = pd.date_range(start, periods=days * 24, freq="h", tz=ZONE)
    return pd.Series(np.where(local.hour == 14, 100.0, 10.0), index=local.tz_convert("UTC"))


def peak_hour_utc(forecast: pd.DataFrame) -> int:
    return int(forecast["p50"].idxmax().hour)


def test_the_engine_forecasts_last_weeks_peak_at_the_same_local_hour() -> None:
    history = office_hours()
    in_utc = make_forecast(history, 24, model="seasonal_naive_weekly")
    local = make_forecast(
        history, 24, model="seasonal_naive_weekly", calendar=Calendar(timezone=ZONE)
    )
    assert peak_hour_utc(in_utc.frame) == 19  # last week's 14:00 at -05:00
    assert peak_hour_utc(local.frame) == 18  # 14:00 at -04:00, as the traffic will come
    # the 15-minute refresh reads newer history the same way
    newer, note = refreshed(local.fitted, history, Calendar(timezone=ZONE), 24)
    assert peak_hour_utc(newer.predict(24)) == 18 and f"{ZONE}'s clock" in note


@pytest.mark.parametrize(
    ("start", "before_change", "after_change"),
    [("2026-02-21", 19, 18), ("2026-10-17", 18, 19)],  # spring forward, fall back
)
def test_a_clock_change_inside_the_horizon_moves_the_forecast_with_it(
    start: str, before_change: int, after_change: int
) -> None:
    history = office_hours(days=15, start=start)  # ends the night before the change
    forecast = make_forecast(
        history, 48, model="seasonal_naive_weekly", calendar=Calendar(timezone=ZONE)
    ).frame
    peaks = forecast["p50"][forecast["p50"] == forecast["p50"].max()].index
    local = peaks.tz_convert(ZONE)
    assert list(local.hour) == [14, 14]  # both days at 14:00 on the clock the traffic follows
    assert list(peaks.hour) == [after_change, after_change]
    in_utc = make_forecast(history, 48, model="seasonal_naive_weekly").frame
    assert peak_hour_utc(in_utc) == before_change  # read in UTC: the old offset throughout


def test_a_history_inside_one_offset_is_read_as_it_is() -> None:
    winter = office_hours(days=14)  # ends 5 March, before the change
    read, note = on_local_clock(winter, ZONE)
    assert read is winter and note == ""
    spring = office_hours()
    read, note = on_local_clock(spring, ZONE)
    assert read.index[-1] == spring.index[-1]  # the grid the forecast continues is kept
    assert read.index.freq == spring.index.freq
    before = read[:"2026-03-07"]  # rows from before the change, now an hour earlier in UTC
    assert (before[before == 100].index.hour == 18).all()


def test_profiles_refuse_an_unknown_zone_but_keep_a_stored_one() -> None:
    with pytest.raises(ValidationError, match="unknown time zone"):
        ScalingProfile(capacity_per_replica=1, timezone="Mars/Olympus")
    with pytest.raises(ValidationError, match="unknown time zone"):
        ScalingProfile(capacity_per_replica=1, timezone="../../etc/passwd")
    data = {"capacity_per_replica": 1, "timezone": "Mars/Olympus"}
    assert ScalingProfile.model_validate(data, context=STORED).timezone == "Mars/Olympus"
    # and training then reads it in UTC, saying why, rather than failing
    history = office_hours()
    read, note = on_local_clock(history, "Mars/Olympus")
    assert read is history and "unknown here" in note


def test_a_services_calendar_carries_its_profiles_zone(database: Database) -> None:
    profile = ScalingProfile(capacity_per_replica=1, timezone=ZONE)
    with database.session() as session:
        service = upsert_service(session=session, name="chat", profile=profile)[0]
        assert service_calendar(session=session, service=service, profile=profile).timezone == ZONE


def test_a_stored_holiday_country_no_longer_known_is_ignored_with_a_warning(
    database: Database, caplog: pytest.LogCaptureFixture
) -> None:
    """QA: a holiday country stored before the ``holidays`` package dropped it failed Prophet
    and LightGBM at every training, while the docs said it was logged and ignored (as a stale
    time zone is read as UTC)."""
    stored = {"capacity_per_replica": 1, "holiday_country": "XX", "timezone": ZONE}
    profile = ScalingProfile.model_validate(stored, context=STORED)
    with database.session() as session:
        service = upsert_service(session=session, name="chat", profile=profile)[0]
        calendar = service_calendar(session=session, service=service, profile=profile)
    assert calendar.holiday_country is None and calendar.timezone == ZONE
    assert 'service chat: holidays ignored: unknown holiday country "XX"' in caplog.text
    outcome = make_forecast(office_hours(), 24, model="lightgbm", calendar=calendar)
    assert outcome.model == "lightgbm"  # it had failed: unknown holiday country 'XX'
