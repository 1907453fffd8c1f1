"""Planner properties over random loads and profiles (hypothesis)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from forecaster.planning.planner import effective_max_replicas, plan_capacity, replicas_for_load
from forecaster.planning.tiers import parse_mix
from forecaster.profiles import CapacityTier, ScalingProfile

STEP = 300

loads = st.lists(st.floats(min_value=0, max_value=500, allow_nan=False), min_size=1, max_size=40)
profiles = st.builds(
    ScalingProfile,
    capacity_per_replica=st.floats(min_value=0.5, max_value=50),
    target_utilization=st.floats(min_value=0.1, max_value=1.0),
    min_replicas=st.integers(min_value=0, max_value=5),
    max_replicas=st.integers(min_value=5, max_value=60),
    startup_seconds=st.sampled_from([0, 60, 180, 300, 600, 1000]),
    scale_down_delay_seconds=st.sampled_from([0, 300, 900]),
    max_step_up=st.one_of(st.none(), st.integers(min_value=1, max_value=6)),
    max_capacity_breach=st.sampled_from(["honor", "increase"]),
)


def replicas(values: list[float], profile: ScalingProfile, **kwargs: int) -> np.ndarray:
    index = pd.date_range("2024-01-01", periods=len(values), freq=f"{STEP}s", tz="UTC")
    frame = plan_capacity(pd.Series(values, index=index), profile, step_seconds=STEP, **kwargs)
    return frame["replicas"].to_numpy()


@settings(max_examples=150, deadline=None)
@given(
    values=loads,
    extra=st.lists(st.floats(min_value=0, max_value=200), min_size=40),
    profile=profiles,
)
def test_more_load_never_gives_fewer_replicas(
    values: list[float], extra: list[float], profile: ScalingProfile
) -> None:
    more = [v + e for v, e in zip(values, extra, strict=False)]
    assert (replicas(more, profile) >= replicas(values, profile)).all()


@settings(max_examples=150, deadline=None)
@given(values=loads, profile=profiles)
def test_rows_stay_within_min_and_max(values: list[float], profile: ScalingProfile) -> None:
    plan = replicas(values, profile)
    assert (plan >= profile.min_replicas).all()
    assert (plan <= effective_max_replicas(profile)).all()


@settings(max_examples=150, deadline=None)
@given(values=loads, profile=profiles)
def test_capacity_is_requested_a_start_up_ahead(
    values: list[float], profile: ScalingProfile
) -> None:
    plan = replicas(values, profile)
    needed = np.minimum(
        replicas_for_load(np.array(values), profile), effective_max_replicas(profile)
    )
    lead = int(np.ceil(profile.startup_seconds / STEP))
    for t in range(len(values)):
        # whatever step t + k (k <= lead) needs is already requested at t
        assert plan[t] >= needed[t : t + lead + 1].max()


@settings(max_examples=150, deadline=None)
@given(values=loads, profile=profiles)
def test_no_row_adds_more_than_the_step_cap(values: list[float], profile: ScalingProfile) -> None:
    if profile.max_step_up is None:
        profile = profile.model_copy(update={"max_step_up": 2})
    cap = profile.max_step_up
    assert cap is not None
    plan = replicas(values, profile)
    assert (np.diff(plan) <= cap).all()


tier_lists = st.lists(
    st.builds(
        CapacityTier,
        name=st.just("tier"),
        capacity_per_replica=st.floats(min_value=0.5, max_value=200),
        cost_per_replica_hour=st.floats(min_value=0, max_value=5),
        startup_seconds=st.sampled_from([0, 60, 300, 600]),
        max_replicas=st.one_of(st.none(), st.integers(min_value=1, max_value=20)),
    ),
    min_size=1,
    max_size=3,
).map(lambda tiers: [t.model_copy(update={"name": f"t{i}"}) for i, t in enumerate(tiers)])


@st.composite
def tiered_profiles(draw: st.DrawFn) -> ScalingProfile:
    """Any consistent profile with tiers (their own maxima leave room for min_replicas)."""
    profile = draw(profiles)
    tiers = draw(tier_lists)
    if all(t.max_replicas is not None for t in tiers):
        room = sum(t.max_replicas or 0 for t in tiers)
        profile = profile.model_copy(update={"min_replicas": min(profile.min_replicas, room)})
    return ScalingProfile.model_validate({**profile.model_dump(), "tiers": tiers})


@settings(max_examples=150, deadline=None)
@given(values=loads, profile=tiered_profiles())
def test_tiered_rows_stay_within_min_and_max(values: list[float], profile: ScalingProfile) -> None:
    # min_replicas and max_replicas bound the total over tiers, a tier's own max that tier
    index = pd.date_range("2024-01-01", periods=len(values), freq=f"{STEP}s", tz="UTC")
    plan = plan_capacity(pd.Series(values, index=index), profile, step_seconds=STEP)
    assert (plan["replicas"] >= profile.min_replicas).all()
    assert (plan["replicas"] <= effective_max_replicas(profile)).all()
    for tier in profile.tiers:
        counts = plan["tier"].map(lambda mix, name=tier.name: parse_mix(mix).get(name, 0))
        # the buffer lifts the total only: a tier's own max is a quota
        limit = tier.max_replicas or effective_max_replicas(profile)
        assert (counts <= limit).all()
    assert (plan["tier"].map(lambda mix: sum(parse_mix(mix).values())) == plan["replicas"]).all()
