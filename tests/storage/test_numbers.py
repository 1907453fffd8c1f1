"""Bulk reads as plain numbers: a time the database turns into epoch microseconds is the one the
ORM reads, to the microsecond, and forecast points read so for many windows at once are the
frames the ORM's rows make of each window alone.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
from sqlalchemy import select

from forecaster.profiles import ScalingProfile
from forecaster.storage.db import Database
from forecaster.storage.forecasts import forecast_frames, save_forecast, save_model_run
from forecaster.storage.numbers import epoch_us
from forecaster.storage.orm import ForecastPoint
from forecaster.storage.samples import ensure_series
from forecaster.storage.services import upsert_service
from forecaster.timeutil import epoch_us_of
from models.base import quantile_name

START = datetime(2026, 3, 2, 12, 0, 0, 123_456, tzinfo=UTC)  # not on a whole second
STEP = timedelta(minutes=5)


def _forecast(database: Database, index: pd.DatetimeIndex, risk: float | None) -> int:
    """A stored forecast over ``index``, its quantiles distinct per step."""
    levels = np.arange(len(index), dtype="float64") + 0.5
    frame = pd.DataFrame(
        {"p50": levels, "p90": levels + 1, "p95": levels + 2, "p99": levels + 3}, index=index
    )
    if risk is not None:
        frame[quantile_name(risk)] = levels + 2.5
    with database.session() as session:
        service, _ = upsert_service(
            session=session, name="chat", profile=ScalingProfile(capacity_per_replica=10)
        )
        (series_id,) = ensure_series(session=session, keys=[(service.id, "rps", {}, None)]).values()
        run = save_model_run(
            session=session, series_id=series_id, model="naive", step_seconds=300, status="ok"
        )
        forecast = save_forecast(
            session=session,
            run_id=run.id,
            series_id=series_id,
            step_seconds=300,
            frame=frame,
            risk_quantile=risk,
        )
        return forecast.id


def test_a_time_read_as_epoch_microseconds_is_the_orms_to_the_microsecond(
    database: Database,
) -> None:
    stamps = [
        datetime(1969, 12, 31, 23, 59, 58, 999_999, tzinfo=UTC),  # rounded up by SQLite too
        datetime(1969, 12, 31, 23, 59, 59, 250_000, tzinfo=UTC),  # before the epoch
        datetime(2026, 3, 2, 12, 0, tzinfo=UTC),
        START,
        START + timedelta(microseconds=1),
        # a fraction SQLite's julian day rounds up to the next whole second
        datetime(2026, 3, 2, 12, 0, 1, 999_900, tzinfo=UTC),
    ]
    _forecast(database, pd.DatetimeIndex(stamps), risk=None)
    with database.session() as session:
        rows = session.execute(select(ForecastPoint.ts, epoch_us(ForecastPoint.ts))).all()

    assert sorted(micros for _, micros in rows) == [epoch_us_of(ts) for ts in stamps]
    assert all(micros == epoch_us_of(ts) for ts, micros in rows)


def _orm_frame(
    database: Database, forecast_id: int, after: datetime | None, before: datetime | None
) -> pd.DataFrame:
    """A forecast's points in (after, before) as the ORM reads them, as a frame."""
    with database.session() as session:
        points = session.execute(
            select(ForecastPoint)
            .where(ForecastPoint.forecast_id == forecast_id)
            .order_by(ForecastPoint.ts)
        ).scalars()
        rows = [
            (point.ts, point.p50, point.p90, point.p95, point.p99, point.risk)
            for point in points
            if (after is None or point.ts > after) and (before is None or point.ts < before)
        ]
    frame = pd.DataFrame(rows, columns=["ts", "p50", "p90", "p95", "p99", "risk"])
    frame["ts"] = pd.to_datetime(frame["ts"], utc=True)
    return frame.set_index("ts").astype("float64")


def test_forecast_frames_of_many_windows_are_the_orms_rows_of_each_alone(
    database: Database,
) -> None:
    index = pd.DatetimeIndex([START + STEP * k for k in range(24)])
    plain = _forecast(database, index, risk=None)
    risky = _forecast(database, index, risk=0.975)
    later = _forecast(database, index + timedelta(hours=1), risk=None)
    shared = (START + STEP * 3, START + STEP * 9)  # two forecasts' windows share their bounds
    windows = {plain: shared, risky: shared, later: (None, START + STEP * 20)}
    with database.session() as session:
        together = forecast_frames(session=session, windows=windows)

    for forecast_id, (after, before) in windows.items():
        expected = _orm_frame(database, forecast_id, after, before)
        if forecast_id == risky:
            expected = expected.rename(columns={"risk": "p97.5"})
        else:
            expected = expected.drop(columns="risk")
        assert len(expected) == (5 if forecast_id != later else 8)
        pd.testing.assert_frame_equal(together[forecast_id], expected)
