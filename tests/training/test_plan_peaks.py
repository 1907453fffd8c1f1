"""A service whose samples come finer than its plan step is planned for the peaks inside each
step, as ``forecaster plan`` and the simulator plan it: the stored plan covered the step's mean
alone, so the service's plan and the offline plan of the same history differed."""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd
import pytest

from forecaster.planning.planner import plan_capacity
from forecaster.planning.reactive import reactive_short_pct
from forecaster.profiles import ScalingProfile
from forecaster.settings import Settings
from forecaster.storage.db import Database
from forecaster.storage.forecasts import forecast_frame, quantile_series
from forecaster.storage.orm import Plan
from forecaster.storage.plans import plan_steps
from forecaster.timeutil import utc_now
from forecaster.training.train import train_service
from tests.helpers import store_points, store_service

PROFILE = ScalingProfile(step_seconds=300, horizon_hours=6, capacity_per_replica=10)
# each 5 minutes: one minute at three times the others, so every step's peak is 15/7 its mean
BURST = 15 / 7


def _bursty(now: datetime, step: str) -> pd.Series:
    index = pd.date_range(end=pd.Timestamp(now).floor("5min"), periods=3 * 1440, freq="min")
    hours = index.hour.to_numpy() + index.minute.to_numpy() / 60
    base = 40 + 20 * np.sin(2 * np.pi * hours / 24)
    minutely = pd.Series(np.where(index.minute % 5 == 0, 3 * base, base), index=index)
    return minutely if step == "min" else minutely.resample(step).mean()


def _stored_plan(database: Database, plan_id: int) -> tuple[pd.Series, pd.Series]:
    """The plan's replicas by step, and the p95 of the forecast it was made from."""
    with database.session() as session:
        forecast_id = session.get_one(Plan, plan_id).forecast_id
        assert forecast_id is not None
        load = quantile_series(forecast_frame(session=session, forecast_id=forecast_id), 0.95)
        steps = plan_steps(session=session, plan_id=plan_id)
    replicas = pd.Series(
        [step.replicas for step in steps], index=pd.DatetimeIndex([step.ts for step in steps])
    )
    return replicas, load.iloc[: PROFILE.horizon_steps]


@pytest.mark.parametrize(("sent", "factor"), [("min", BURST), ("5min", 1.0)])
def test_samples_finer_than_the_plan_step_plan_for_the_peaks_inside_it(
    database: Database, settings: Settings, sent: str, factor: float
) -> None:
    store_service(database, settings, "chat", _bursty(utc_now(), sent), PROFILE)
    result = train_service(database, "chat", settings, model="seasonal_naive_daily")
    replicas, load = _stored_plan(database, result.plan_id)
    step_mean = plan_capacity(load, PROFILE, step_seconds=300)["replicas"]
    expected = plan_capacity(load, PROFILE, step_seconds=300, peak_factor=factor)["replicas"]
    assert replicas.tolist() == expected.tolist()
    if factor > 1:  # the peaks need more than the means: the factor is really applied
        assert (replicas > step_mean.to_numpy()).mean() > 0.9


def test_the_newest_label_set_tells_how_fine_the_samples_come(
    database: Database, settings: Settings
) -> None:
    """The look at how fine samples come read the oldest label set: a pod replaced a week ago,
    its points rolled up to the step, hid the live pod's 1-minute peaks."""
    from forecaster.storage.services import upsert_service

    with database.session() as session:
        upsert_service(session=session, name="chat", profile=PROFILE)
    live = _bursty(utc_now(), "min")
    gone = _bursty(utc_now() - pd.Timedelta(days=9), "5min")  # rolled up, as retention leaves it
    store_points(database, settings, "chat", gone, labels={"pod": "a"})
    store_points(database, settings, "chat", live, labels={"pod": "b"})
    result = train_service(database, "chat", settings, model="seasonal_naive_daily")
    replicas, load = _stored_plan(database, result.plan_id)
    expected = plan_capacity(load, PROFILE, step_seconds=300, peak_factor=BURST)["replicas"]
    assert replicas.tolist() == expected.tolist()


def test_the_reactive_check_replays_the_samples_as_they_came(
    database: Database, settings: Settings
) -> None:
    """With ``reactive_tolerance_pct`` a plan keeps its floor only where the HPA alone falls
    short. The service judged the HPA on step means, where the offline plan replays the
    samples as they came: on 1-second traffic 4.3 % short against 8.1 %, and the service
    dropped a floor the offline plan kept. Both now replay the samples."""
    tolerant = PROFILE.model_copy(
        update={"reactive_tolerance_pct": 50.0, "startup_seconds": 180, "min_replicas": 1}
    )
    minutely = _bursty(utc_now(), "min")
    store_service(database, settings, "chat", minutely, tolerant)
    result = train_service(database, "chat", settings, model="seasonal_naive_daily")
    with database.session() as session:
        reason = plan_steps(session=session, plan_id=result.plan_id)[0].reason
    as_sent = reactive_short_pct(minutely, tolerant)
    on_step_means = reactive_short_pct(minutely.resample("5min").mean(), tolerant)
    assert f"alone was short {as_sent:.3g}% of the last" in reason, reason
    assert f"{as_sent:.3g}" != f"{on_step_means:.3g}"  # the two readings differ here
