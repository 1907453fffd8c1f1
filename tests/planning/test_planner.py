"""Plan arithmetic on hand-computed cases: rounding, lead time, hold, clamping, step cap."""

from __future__ import annotations

import numpy as np
import pandas as pd

from forecaster.planning.planner import plan_capacity
from forecaster.profiles import ScalingProfile


def plan(loads: list[float], **profile: float) -> list[int]:
    fields = {
        "capacity_per_replica": 10.0,
        "target_utilization": 0.5,
        "min_replicas": 0,
        "max_replicas": 100,
        "startup_seconds": 0,
        "scale_down_delay_seconds": 0,
    }
    fields.update(profile)
    index = pd.date_range("2024-01-01", periods=len(loads), freq="5min", tz="UTC")
    frame = plan_capacity(pd.Series(loads, index=index), ScalingProfile(**fields), step_seconds=300)
    return frame["replicas"].tolist()


def test_replicas_are_load_over_usable_capacity_rounded_up() -> None:
    # 5 req/s per replica at 50 % of 10: 0 -> 0, 5 -> 1, 5.01 -> 2, 50 -> 10
    assert plan([0, 5, 5.01, 50]) == [0, 1, 2, 10]


def test_lead_time_pulls_requirement_earlier() -> None:
    # 600 s start-up = 2 steps: the spike at step 4 must be requested from step 2
    assert plan([0, 0, 0, 0, 50, 0, 0], startup_seconds=600) == [0, 0, 10, 10, 10, 0, 0]


def test_partial_lead_step_rounds_up_to_a_whole_step() -> None:
    assert plan([0, 0, 0, 50], startup_seconds=301) == [0, 10, 10, 10]


def test_scale_down_delay_holds_capacity() -> None:
    assert plan([50, 0, 0, 0, 0], scale_down_delay_seconds=600) == [10, 10, 10, 0, 0]


def test_min_and_max_clamp() -> None:
    assert plan([0, 500, 20], min_replicas=2, max_replicas=8) == [2, 8, 4]


def test_max_can_be_raised_by_a_buffer() -> None:
    assert plan(
        [500], max_replicas=10, max_capacity_breach="increase", max_capacity_buffer_pct=20
    ) == [12]


def test_step_cap_ramps_up_early() -> None:
    # at most 3 added per step: to reach 10 at step 4 start at 1, 4, 7, 10
    assert plan([0, 0, 0, 0, 50], max_step_up=3) == [0, 1, 4, 7, 10]


def test_gpus_cost_and_reasons() -> None:
    profile = ScalingProfile(
        capacity_per_replica=10,
        target_utilization=0.5,
        min_replicas=0,
        startup_seconds=0,
        scale_down_delay_seconds=0,
        gpus_per_replica=2,
        cost_per_replica_hour=3.0,
    )
    index = pd.date_range("2024-01-01", periods=2, freq="1h", tz="UTC")
    frame = plan_capacity(pd.Series([12.0, 0.0], index=index), profile, step_seconds=3600)
    assert frame["gpus"].tolist() == [6, 0]
    assert np.allclose(frame["cost_per_hour"], [9.0, 0.0])
    assert "p95 load 12" in frame["reason"].iloc[0] and "needs 3" in frame["reason"].iloc[0]
