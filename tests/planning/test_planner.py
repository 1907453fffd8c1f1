"""Plan arithmetic on hand-computed cases: rounding, lead time, hold, clamping, step cap."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from forecaster.actuators.bounds import bound_floor
from forecaster.planning.planner import plan_capacity
from forecaster.profiles import ScalingProfile


def plan(loads: list[float], peak_factor: float = 1.0, **profile: object) -> list[int]:
    fields = {
        "capacity_per_replica": 10.0,
        "target_utilization": 0.5,
        "min_replicas": 0,
        "max_replicas": 100,
        "startup_seconds": 0,
        "scale_down_delay_seconds": 0,
        "step_edges": "hold",
    }
    fields.update(profile)
    index = pd.date_range("2024-01-01", periods=len(loads), freq="5min", tz="UTC")
    frame = plan_capacity(
        pd.Series(loads, index=index),
        ScalingProfile.model_validate(fields),
        step_seconds=300,
        peak_factor=peak_factor,
    )
    return frame["replicas"].tolist()


def test_replicas_are_load_over_usable_capacity_rounded_up() -> None:
    # 5 req/s per replica at 50 % of 10: 0 -> 0, 5 -> 1, 5.01 -> 2, 50 -> 10
    assert plan([0, 5, 5.01, 50]) == [0, 1, 2, 10]
    # float noise does not add a replica, and a tiny load still needs one (it needed none)
    assert plan([0.1 * 3 / 0.06, 1e-7, 5e-12]) == [1, 1, 1]


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


def test_the_raised_max_is_the_one_the_actuators_allow() -> None:
    """Plans rounded the raised max up (100 + 10 % read 110.00000000000001, so 111; 3 + 10 %
    gave 4) where the actuators round down: a plan asked for replicas no target would get."""
    for maximum, buffer_pct, expected in ((100, 10, 110), (3, 10, 3), (10, 25, 12)):
        fields = {"max_capacity_breach": "increase", "max_capacity_buffer_pct": buffer_pct}
        planned = plan([1e6], max_replicas=maximum, **fields)  # type: ignore[arg-type]
        bounds = bound_floor(
            10**6,
            current_min=maximum,
            baseline_min=1,
            baseline_max=maximum,
            profile=ScalingProfile(capacity_per_replica=10, **fields),
        )
        assert planned == [expected] and bounds.minimum == expected, (maximum, buffer_pct)


def test_step_cap_ramps_up_early() -> None:
    # at most 3 added per step: to reach 10 at step 4 start at 1, 4, 7, 10
    assert plan([0, 0, 0, 0, 50], max_step_up=3) == [0, 1, 4, 7, 10]


def test_reasons_name_the_cap_that_held_the_floor() -> None:
    profile = ScalingProfile.model_validate(
        {
            "capacity_per_replica": 10.0,
            "target_utilization": 0.5,
            "min_replicas": 0,
            "max_replicas": 8,
            "max_step_up": 1,
            "startup_seconds": 0,
            "scale_down_delay_seconds": 0,
            "step_edges": "hold",
        }
    )
    index = pd.date_range("2024-01-01", periods=2, freq="5min", tz="UTC")
    load = pd.Series([500.0, 500.0], index=index)
    # the max
    assert (
        plan_capacity(load, profile, step_seconds=300)["reason"]
        .iloc[1]
        .endswith("needs 100; capped at 8 (max 8)")
    )


def test_gpus_cost_and_reasons() -> None:
    profile = ScalingProfile(
        capacity_per_replica=10,
        target_utilization=0.5,
        min_replicas=0,
        startup_seconds=0,
        scale_down_delay_seconds=0,
        gpus_per_replica=2,
        cost_per_replica_hour=3.0,
        step_edges="hold",
    )
    index = pd.date_range("2024-01-01", periods=2, freq="1h", tz="UTC")
    frame = plan_capacity(pd.Series([12.0, 0.0], index=index), profile, step_seconds=3600)
    assert frame["gpus"].tolist() == [6, 0]
    assert np.allclose(frame["cost_per_hour"], [9.0, 0.0])
    assert "p95 load 12" in frame["reason"].iloc[0] and "needs 3" in frame["reason"].iloc[0]


def test_blended_edges_cover_the_climb_between_steps() -> None:
    # a step's mean holds only in its middle: at the boundary from 10 to 50 the load is about
    # 30, so the step before the climb needs 6 replicas, as does the one after the fall
    assert plan([10, 10, 50, 50, 10], step_edges="blend") == [2, 6, 10, 10, 6]


def test_peak_factor_scales_the_covered_load() -> None:
    # 5 per replica: a mean of 10 with 30-s peaks 1.5x above it needs 3, not 2
    assert plan([10, 10], peak_factor=1.5) == [3, 3]
    index = pd.date_range("2024-01-01", periods=1, freq="5min", tz="UTC")
    profile = ScalingProfile(capacity_per_replica=10, target_utilization=0.5, step_edges="hold")
    frame = plan_capacity(
        pd.Series([10.0], index=index), profile, step_seconds=300, peak_factor=1.5
    )
    assert "x 1.5 peak/mean = 15" in frame["reason"].iloc[0]
    with pytest.raises(ValueError, match="peak_factor"):
        plan_capacity(pd.Series([10.0], index=index), profile, step_seconds=300, peak_factor=0.5)
