"""Cheapest tier mixes on hand-computed cases and against brute force; tiered plans."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from forecaster.planning.planner import plan_capacity, plan_cost
from forecaster.planning.tiers import cheapest_mix, format_mix, parse_mix
from forecaster.profiles import CapacityTier, ScalingProfile

CPU = CapacityTier(
    name="CPU", capacity_per_replica=4, cost_per_replica_hour=0.10, startup_seconds=0
)
L4 = CapacityTier(
    name="L4",
    capacity_per_replica=40,
    cost_per_replica_hour=0.80,
    startup_seconds=0,
    gpus_per_replica=1,
    gpu_type="nvidia-l4",
)
A100 = CapacityTier(
    name="A100",
    capacity_per_replica=150,
    cost_per_replica_hour=3.00,
    startup_seconds=0,
    gpus_per_replica=1,
    gpu_type="nvidia-a100",
)
TIERS = [CPU, L4, A100]


def mixes(loads: list[float], ceilings: list[int] | None = None) -> list[str]:
    limits = np.array(ceilings or [100, 100, 100])
    found = cheapest_mix(np.array(loads), TIERS, utilization=1.0, ceilings=limits)
    return format_mix(found, [t.name for t in TIERS])


def test_cheapest_mix_by_hand() -> None:
    # 3 -> one CPU ($0.10); 12 -> three CPUs ($0.30) beat an L4 ($0.80); 40 -> one L4 ($0.80)
    # beats ten CPUs ($1.00); 44 -> L4 + CPU ($0.90); 150 -> A100 ($3.00) beats 4 L4 ($3.20);
    # 160 -> four L4 ($3.20) beat A100 + 3 CPU ($3.30)
    assert mixes([0, 3, 12, 40, 44, 150, 160]) == [
        "",
        "CPU:1",
        "CPU:3",
        "L4:1",
        "CPU:1+L4:1",
        "A100:1",
        "L4:4",
    ]


def test_tier_maximum_is_respected() -> None:
    # with at most two L4: A100 + 3 CPU ($3.30) beats 2 L4 + 20 CPU ($3.60)
    assert mixes([160], ceilings=[100, 2, 100]) == ["CPU:3+A100:1"]
    # nothing covers 10,000 within the ceilings: everything runs
    assert mixes([10_000], ceilings=[1, 2, 3]) == ["CPU:1+L4:2+A100:3"]


def test_large_loads_stay_cheap_and_covered() -> None:
    loads = np.array([10_000.0, 12_345.0])
    found = cheapest_mix(loads, TIERS, utilization=0.7, ceilings=np.array([10_000] * 3))
    capacity = found @ np.array([4, 40, 150]) * 0.7
    cost = found @ np.array([0.1, 0.8, 3.0])
    assert (capacity >= loads).all()
    # lower bound: the best cost per unit of capacity (L4 and A100: $0.02/req/s) times the load
    assert (cost <= loads / 0.7 * 0.02 + 3.0 + 0.8).all()


@settings(max_examples=60, deadline=None)
@given(
    capacities=st.lists(st.integers(min_value=1, max_value=9), min_size=1, max_size=3),
    costs=st.lists(st.integers(min_value=1, max_value=9), min_size=3, max_size=3),
    ceiling=st.integers(min_value=1, max_value=6),
    load=st.integers(min_value=0, max_value=40),
)
def test_mix_matches_brute_force(
    capacities: list[int], costs: list[int], ceiling: int, load: int
) -> None:
    costs = costs[: len(capacities)]
    tiers = [
        CapacityTier(name=f"t{i}", capacity_per_replica=c, cost_per_replica_hour=costs[i])
        for i, c in enumerate(capacities)
    ]
    found = cheapest_mix(
        np.array([float(load)]), tiers, utilization=1.0, ceilings=np.array([ceiling] * len(tiers))
    )[0]
    feasible = [
        combo
        for combo in itertools.product(range(ceiling + 1), repeat=len(tiers))
        if np.dot(combo, capacities) >= load
    ]
    if not feasible:
        assert (found == ceiling).all()
        return
    best = min(float(np.dot(combo, costs)) for combo in feasible)
    assert np.dot(found, capacities) >= load
    assert float(np.dot(found, costs)) == best


def test_tiered_plan_shifts_each_tier_by_its_own_start_up() -> None:
    slow_a100 = A100.model_copy(update={"startup_seconds": 600})
    profile = ScalingProfile(
        capacity_per_replica=4,
        target_utilization=1.0,
        min_replicas=0,
        startup_seconds=0,
        scale_down_delay_seconds=0,
        tiers=[CPU, L4, slow_a100],
        step_edges="hold",
    )
    index = pd.date_range("2024-01-01", periods=6, freq="5min", tz="UTC")
    plan = plan_capacity(
        pd.Series([3, 3, 3, 150, 3, 3], index=index, dtype="float64"), profile, step_seconds=300
    )
    # the A100 for step 3 is requested two steps (600 s) early; the CPU only when needed
    assert plan["tier"].tolist() == [
        "CPU:1",
        "CPU:1+A100:1",
        "CPU:1+A100:1",
        "A100:1",
        "CPU:1",
        "CPU:1",
    ]
    assert plan["replicas"].tolist() == [1, 2, 2, 1, 1, 1]
    assert plan["gpus"].tolist() == [0, 1, 1, 1, 0, 0]
    assert np.allclose(plan["cost_per_hour"], [0.1, 3.1, 3.1, 3.0, 0.1, 0.1])
    assert plan_cost(plan, 300) == pytest.approx((0.1 + 3.1 + 3.1 + 3.0 + 0.1 + 0.1) / 12)
    assert "cheapest mix A100:1" in plan["reason"].iloc[3]
    assert parse_mix(plan["tier"].iloc[1]) == {"CPU": 1, "A100": 1}


def test_min_replicas_are_met_with_the_cheapest_tier() -> None:
    profile = ScalingProfile(
        capacity_per_replica=4, min_replicas=2, startup_seconds=0, tiers=[L4, CPU]
    )
    index = pd.date_range("2024-01-01", periods=2, freq="5min", tz="UTC")
    plan = plan_capacity(pd.Series([0.0, 0.0], index=index), profile, step_seconds=300)
    assert plan["tier"].tolist() == ["CPU:2", "CPU:2"]
