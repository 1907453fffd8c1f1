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
# at most five CPU replicas, two L4 and one A100 (a quota of GPUs)
CAPPED_TIERS = [
    CPU.model_copy(update={"max_replicas": 5}),
    L4.model_copy(update={"max_replicas": 2}),
    A100.model_copy(update={"max_replicas": 1}),
]


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


def test_a_replica_far_bigger_than_the_load_is_still_tried() -> None:
    """QA: with the load under a billionth of a tier's replica, float slack left that tier out
    of the search, and 92 one-dollar small replicas were bought instead of one big one."""
    small = CapacityTier(name="small", capacity_per_replica=1, cost_per_replica_hour=1)
    for capacity in (1e3, 1e11, 1e12):  # 1e12: the most a profile accepts
        huge = CapacityTier(name="huge", capacity_per_replica=capacity, cost_per_replica_hour=1)
        found = cheapest_mix(
            np.array([63.3, 70.0]), [small, huge], utilization=0.7, ceilings=np.array([100, 100])
        )
        assert format_mix(found, ["small", "huge"]) == ["huge:1", "huge:1"], capacity
    # the finest tier itself far above the load (review): one replica, not none
    for tiers in ([huge], [huge, huge.model_copy(update={"name": "other"})]):
        found = cheapest_mix(
            np.array([0.0, 63.3]), tiers, utilization=0.7, ceilings=np.array([100] * len(tiers))
        )
        assert found.sum(axis=1).tolist() == [0, 1]


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


def test_a_binding_replica_total_still_gets_the_cheapest_cover_of_large_loads() -> None:
    """Spot CPUs cheapest per req/s, at most 200 replicas in all, 48 hours of loads too large to
    enumerate at once: the bulk was bought from the CPUs up to the total, so every step got
    200 CPUs, a third of loads that 193 mixed replicas covered (or, planned another way, 200
    A100s at ten times the cost)."""
    spot = [CPU.model_copy(update={"cost_per_replica_hour": 0.03}), L4, A100]
    usable = np.array([4, 40, 150]) * 0.7
    price = np.array([0.03, 0.80, 3.00])
    loads = np.linspace(1000, 3200, 576)
    ceilings = np.array([200] * 3)
    found = cheapest_mix(loads, spot, utilization=0.7, ceilings=ceilings, total_ceiling=200)
    assert (found @ usable >= loads).all() and (found.sum(axis=1) <= 200).all()
    for step in (0, 200, 400, 575):  # one load alone is enumerated exactly
        exact = cheapest_mix(
            loads[[step]], spot, utilization=0.7, ceilings=ceilings, total_ceiling=200
        )[0]
        assert found[step] @ price <= exact @ price * 1.01, (found[step], exact)


def test_a_day_of_loads_gets_the_cheapest_mix_at_every_step() -> None:
    """QA: with four tiers and a day of 5-minute loads up to 3,000 req/s the search was too big
    to enumerate, fell back to a greedy fill, and 284 of 288 steps cost more than the
    cheapest cover (an A100 at $3/h carrying 39 req/s). Checked against every combination."""
    t4 = CapacityTier(name="T4", capacity_per_replica=16, cost_per_replica_hour=0.35)
    tiers = [CPU, t4, L4, A100]
    usable = np.array([4, 16, 40, 150]) * 0.7
    price = np.array([0.10, 0.35, 0.80, 3.00])
    loads = np.random.default_rng(0).uniform(15, 3000, 288)
    found = cheapest_mix(loads, tiers, utilization=0.7, ceilings=np.array([200] * 4))
    assert (found @ usable >= loads - 1e-9).all()
    # every count of T4, L4 and A100 up to the largest load, topped up with CPUs
    grid = np.stack(
        np.meshgrid(*(np.arange(int(3000 / u) + 2) for u in usable[1:]), indexing="ij"), axis=-1
    ).reshape(-1, 3)
    for load, mix in zip(loads, found, strict=True):
        cpus = np.ceil(np.clip(load - grid @ usable[1:], 0, None) / usable[0] - 1e-9)
        cheapest = float(np.min(grid @ price[1:] + cpus * price[0]))
        assert mix @ price <= cheapest + 1e-9, (load, mix)


def test_a_binding_total_gets_a_mix_no_dearer_than_one_checked_by_hand() -> None:
    """QA: five tiers, at most 300 replicas, 6,596 req/s: the plan held 300 A100-class replicas
    at $3,651.60/h, where 5 + 277 + 18 of three tiers cover it for $561.57/h."""
    capacities, costs = [2, 4, 16, 24, 150], [0.036, 0.268, 0.575, 1.226, 12.172]
    tiers = [
        CapacityTier(name=f"t{i}", capacity_per_replica=c, cost_per_replica_hour=p)
        for i, (c, p) in enumerate(zip(capacities, costs, strict=True))
    ]
    found = cheapest_mix(
        np.array([6596.4]), tiers, utilization=0.7, ceilings=np.array([300] * 5), total_ceiling=300
    )[0]
    by_hand = np.array([0, 0, 5, 277, 18])
    usable = np.array(capacities) * 0.7
    assert by_hand @ usable >= 6596.4 and by_hand.sum() <= 300  # the hand-checked mix is valid
    assert found @ usable >= 6596.4 and found.sum() <= 300
    assert found @ np.array(costs) <= by_hand @ np.array(costs) + 1e-9


@settings(max_examples=60, deadline=None)
@given(
    capacities=st.lists(st.integers(min_value=1, max_value=9), min_size=1, max_size=3),
    costs=st.lists(st.integers(min_value=1, max_value=9), min_size=3, max_size=3),
    ceiling=st.integers(min_value=1, max_value=6),
    total=st.one_of(st.none(), st.integers(min_value=1, max_value=18)),
    load=st.integers(min_value=0, max_value=40),
)
def test_mix_matches_brute_force(
    capacities: list[int], costs: list[int], ceiling: int, total: int | None, load: int
) -> None:
    costs = costs[: len(capacities)]
    tiers = [
        CapacityTier(name=f"t{i}", capacity_per_replica=c, cost_per_replica_hour=costs[i])
        for i, c in enumerate(capacities)
    ]
    found = cheapest_mix(
        np.array([float(load)]),
        tiers,
        utilization=1.0,
        ceilings=np.array([ceiling] * len(tiers)),
        total_ceiling=total,
    )[0]
    allowed = [
        combo
        for combo in itertools.product(range(ceiling + 1), repeat=len(tiers))
        if total is None or sum(combo) <= total
    ]
    feasible = [combo for combo in allowed if np.dot(combo, capacities) >= load]
    if total is not None:
        assert found.sum() <= total
    if not feasible:
        # nothing covers the load: the most capacity allowed
        assert np.dot(found, capacities) == max(np.dot(combo, capacities) for combo in allowed)
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


def test_max_replicas_bounds_the_total_over_tiers() -> None:
    # 400 req/s at 0.7 would take CPU:1+L4:3+A100:3 (7 replicas); the profile allows 3 in all
    profile = ScalingProfile(
        capacity_per_replica=4, min_replicas=1, max_replicas=3, startup_seconds=0, tiers=TIERS
    )
    index = pd.date_range("2024-01-01", periods=2, freq="5min", tz="UTC")
    plan = plan_capacity(pd.Series([400.0, 400.0], index=index), profile, step_seconds=300)
    assert plan["tier"].tolist() == ["A100:3", "A100:3"]
    assert plan["replicas"].tolist() == [3, 3]
    assert "fullest mix A100:3" in plan["reason"].iloc[0]
    assert plan["reason"].iloc[0].endswith("; capped at 3 (max 3)")


def test_a_tier_held_at_its_own_max_says_so() -> None:
    # at most one A100 and two L4: 400 req/s at 1.0 gets L4:2+A100:1 and CPU for the rest
    profile = ScalingProfile(
        capacity_per_replica=4,
        target_utilization=1.0,
        min_replicas=0,
        max_replicas=10,
        startup_seconds=0,
        scale_down_delay_seconds=0,
        step_edges="hold",
        tiers=CAPPED_TIERS,
    )
    index = pd.date_range("2024-01-01", periods=2, freq="5min", tz="UTC")
    plan = plan_capacity(pd.Series([400.0, 3.0], index=index), profile, step_seconds=300)
    assert plan["tier"].tolist() == ["CPU:5+L4:2+A100:1", "CPU:1"]
    assert plan["reason"].iloc[0].endswith("; capped at 8 (max CPU:5+L4:2+A100:1)")
    assert "capped" not in plan["reason"].iloc[1]


def test_the_max_capacity_buffer_lifts_the_total_but_never_a_tiers_own_max() -> None:
    # a tier's max is a quota (GPUs that exist): "increase" lets the total pass max_replicas
    # by the buffer, and lets no tier pass its own
    profile = ScalingProfile(
        capacity_per_replica=4,
        target_utilization=1.0,
        min_replicas=0,
        max_replicas=4,
        max_capacity_breach="increase",
        max_capacity_buffer_pct=50,
        startup_seconds=0,
        tiers=CAPPED_TIERS,
    )
    index = pd.date_range("2024-01-01", periods=2, freq="5min", tz="UTC")
    plan = plan_capacity(pd.Series([400.0, 400.0], index=index), profile, step_seconds=300)
    counts = [parse_mix(text) for text in plan["tier"]]
    assert all(
        c.get("L4", 0) <= 2 and c.get("A100", 0) <= 1 and c.get("CPU", 0) <= 5 for c in counts
    )
    assert plan["replicas"].tolist() == [6, 6]  # 4 plus its 50 % buffer
    assert plan["tier"].iloc[0] == "CPU:3+L4:2+A100:1"


def test_start_up_leads_that_stack_above_the_max_are_cut_smallest_first() -> None:
    # the A100 for step 1 starts a step early, while step 0 still needs its two CPUs
    slow_a100 = A100.model_copy(update={"startup_seconds": 300})
    profile = ScalingProfile(
        capacity_per_replica=4,
        target_utilization=1.0,
        min_replicas=0,
        max_replicas=2,
        startup_seconds=0,
        scale_down_delay_seconds=0,
        step_edges="hold",
        tiers=[CPU, slow_a100],
    )
    index = pd.date_range("2024-01-01", periods=2, freq="5min", tz="UTC")
    plan = plan_capacity(pd.Series([8.0, 150.0], index=index), profile, step_seconds=300)
    assert plan["tier"].tolist() == ["CPU:1+A100:1", "A100:1"]
    assert plan["reason"].iloc[0].endswith("; capped at 2 (max 2)")


def test_min_replicas_spill_into_the_next_cheapest_tier() -> None:
    profile = ScalingProfile(
        capacity_per_replica=4,
        min_replicas=3,
        startup_seconds=0,
        tiers=[L4, CPU.model_copy(update={"max_replicas": 2}), A100],
    )
    index = pd.date_range("2024-01-01", periods=1, freq="5min", tz="UTC")
    plan = plan_capacity(pd.Series([0.0], index=index), profile, step_seconds=300)
    assert plan["tier"].tolist() == ["L4:1+CPU:2"]
    assert plan["reason"].iloc[0].endswith("; raised to min_replicas 3")


def test_tiers_that_cannot_reach_min_replicas_are_refused() -> None:
    limited = [t.model_copy(update={"max_replicas": 1}) for t in (CPU, L4)]
    with pytest.raises(ValueError, match="add up to 2, fewer than min_replicas"):
        ScalingProfile(capacity_per_replica=4, min_replicas=3, tiers=limited)
    ScalingProfile(capacity_per_replica=4, min_replicas=3, tiers=[*limited, A100])
