"""Odd but valid input never crashes the simulator: it replays or refuses with a clear error."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from forecaster.errors import InvalidInputError
from forecaster.planning.policies import ForecastSettings
from forecaster.planning.simulate import SimulationOptions, simulate
from forecaster.profiles import (
    MAX_CAPACITY,
    MAX_REPLICAS,
    MAX_STARTUP_SECONDS,
    MIN_CAPACITY,
    MIN_UTILIZATION,
    ScalingProfile,
)

profiles = st.builds(
    ScalingProfile,
    capacity_per_replica=st.floats(min_value=MIN_CAPACITY, max_value=MAX_CAPACITY),
    target_utilization=st.floats(min_value=MIN_UTILIZATION, max_value=1.0),
    min_replicas=st.integers(min_value=0, max_value=3),
    max_replicas=st.integers(min_value=3, max_value=MAX_REPLICAS),
    startup_seconds=st.floats(min_value=0, max_value=MAX_STARTUP_SECONDS),
    scale_down_delay_seconds=st.floats(min_value=0, max_value=3600),
    step_seconds=st.sampled_from([60, 300, 3600]),
    plan_utilization=st.one_of(st.none(), st.floats(min_value=MIN_UTILIZATION, max_value=1.0)),
    max_step_up=st.one_of(st.none(), st.integers(min_value=1, max_value=MAX_REPLICAS)),
)


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    profile=profiles,
    values=st.lists(st.floats(min_value=0, max_value=1e12), min_size=2, max_size=300),
    step=st.sampled_from(["1s", "15s", "5min", "1h"]),
    predictive=st.booleans(),
)
def test_replays_or_refuses_clearly(
    profile: ScalingProfile, values: list[float], step: str, predictive: bool
) -> None:
    index = pd.date_range("2024-01-01", periods=len(values), freq=step, tz="UTC")
    policies = ("static", "reactive", "oracle") + (("predictive",) if predictive else ())
    options = SimulationOptions(
        policies=policies,
        equal_spend=predictive,
        forecast=ForecastSettings(model="seasonal_naive_daily"),
    )
    try:
        result = simulate(pd.Series(values, index=index), profile, options)
    except InvalidInputError:
        return
    for timeline in result.timelines.values():
        assert (timeline.ready <= timeline.spec).all()
        assert (timeline.spec >= 0).all()
    for score in result.scores.values():
        assert np.isfinite(list(score.as_dict().values())).all()
