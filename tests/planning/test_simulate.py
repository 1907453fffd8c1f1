"""The replay simulator on hand-made traces with known answers, and its no-look-ahead rule."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from forecaster.errors import InvalidInputError
from forecaster.planning.policies import ForecastSettings, predictive_floor
from forecaster.planning.replay import Trace
from forecaster.planning.simulate import (
    EQUAL_SPEND,
    SimulationOptions,
    forecast_trail,
    prepare,
    simulate,
    simulate_trace,
)
from forecaster.profiles import CapacityTier, ScalingProfile
from tests.helpers import synthetic_traffic

START = pd.Timestamp("2024-01-01", tz="UTC")
# 10 units per replica at full capacity, 5 at the 50 % target
PROFILE = ScalingProfile(
    capacity_per_replica=10,
    target_utilization=0.5,
    min_replicas=1,
    max_replicas=100,
    startup_seconds=180,
    scale_down_delay_seconds=0,
    step_seconds=300,
)
NO_FORECAST = SimulationOptions(policies=("static", "reactive", "oracle"), equal_spend=False)


def trace_of(load: list[float] | np.ndarray) -> Trace:
    return Trace(START, 15.0, np.asarray(load, dtype="float64"), 15.0, 0)


def test_step_change() -> None:
    # 100 training ticks at 20, replay 40 ticks at 20 then 60 ticks at 60
    trace = trace_of([20.0] * 140 + [60.0] * 60)
    result = simulate_trace(trace, 100, PROFILE, NO_FORECAST)
    scores = result.scores
    # static peak sized on training (20 -> 4 replicas, 40 units) misses all 60 ticks at 60
    assert scores["static"].under_provisioned_pct == pytest.approx(60 / 100 * 100)
    assert scores["static"].unserved_load_pct == pytest.approx(60 * 20 / (40 * 20 + 60 * 60) * 100)
    # the HPA needs 13 ticks (one sync to notice, two more to grow, 180 s start-up)
    assert scores["reactive"].under_provisioned_pct == pytest.approx(13)
    # the oracle starts 12 replicas 12 ticks (180 s) early: 28 ticks of 4, 72 of 12
    assert scores["oracle"].under_provisioned_pct == 0
    assert scores["oracle"].replica_hours == pytest.approx((28 * 4 + 72 * 12) * 15 / 3600)
    assert scores["oracle"].scale_events == 1


def test_every_policy_may_use_the_max_capacity_buffer_the_plan_uses() -> None:
    # 110 needs 22 replicas at the target, 11 at full capacity: max 10 never carries it, its
    # 50 % buffer (15) does, as the actuators raise the HPA's maximum
    profile = PROFILE.model_copy(
        update={
            "max_replicas": 10,
            "max_capacity_breach": "increase",
            "max_capacity_buffer_pct": 50,
        }
    )
    trace = trace_of([20.0] * 100 + [110.0] * 100)
    scores = simulate_trace(trace, 100, profile, NO_FORECAST).scores
    assert scores["oracle"].under_provisioned_pct == 0
    assert scores["static"].under_provisioned_pct == 100  # sized on training's 20: 4 replicas
    assert scores["reactive"].under_provisioned_pct < 20  # catches up
    assert scores["oracle"].peak_replicas == 15
    honored = simulate_trace(
        trace, 100, profile.model_copy(update={"max_capacity_breach": "honor"}), NO_FORECAST
    )
    assert honored.scores["oracle"].under_provisioned_pct == 100  # 10 replicas never carry 60


def test_ramp() -> None:
    slow = np.concatenate([np.full(100, 20.0), np.linspace(20, 200, 240), np.full(60, 200.0)])
    result = simulate_trace(trace_of(slow), 100, PROFILE, NO_FORECAST)
    # an hour from 20 to 200: the 2x headroom of a 50 % target outlasts the HPA's ~4 min lag
    assert result.scores["reactive"].under_provisioned_pct == 0
    # 200 needs 40 replicas at the target; the HPA stops within its 10 % tolerance of that
    assert 200 / (result.timelines["reactive"].spec[-1] * 5) - 1 <= 0.1
    steep = np.concatenate([np.full(100, 20.0), np.linspace(20, 200, 8), np.full(192, 200.0)])
    result = simulate_trace(trace_of(steep), 100, PROFILE, NO_FORECAST)
    assert result.scores["reactive"].under_provisioned_pct > 0
    assert result.scores["reactive"].unserved_load_pct > 0
    assert result.scores["oracle"].under_provisioned_pct == 0


def test_outage_gap_then_recovery() -> None:
    # 15-s points at 20, then a 30-minute gap (an outage: no points), then 20 again
    index = pd.date_range(START, periods=600, freq="15s")
    points = pd.Series(20.0, index=index)
    points = points[(index < index[300]) | (index >= index[420])]
    result = simulate(
        points,
        PROFILE,
        SimulationOptions(policies=("reactive", "oracle"), equal_spend=False, train_fraction=0.4),
    )
    assert result.trace.missing_ticks == 120
    replay = result.replay.load
    reactive = result.timelines["reactive"]
    gap = slice(300 - 240, 420 - 240)
    assert (replay[gap] == 0).all()
    assert reactive.spec[gap][-1] == 1  # scaled down to min_replicas during the outage
    # back at 20 with one replica: noticed at the second sync, served 12 ticks later
    short = np.flatnonzero(replay > reactive.ready * PROFILE.capacity_per_replica)
    assert short.tolist() == list(range(180, 194))
    assert result.scores["oracle"].under_provisioned_pct == 0


def daily_ramps(days: int) -> pd.Series:
    """5-minute load: 20 at night, 200 from 08:00 to 18:00, the same every day."""
    index = pd.date_range(START, periods=days * 288, freq="5min")
    hours = index.hour
    return pd.Series(np.where((hours >= 8) & (hours < 18), 200.0, 20.0), index=index)


def test_predictive_is_ready_for_the_morning_when_the_hpa_is_not() -> None:
    profile = PROFILE.model_copy(update={"startup_seconds": 600})
    options = SimulationOptions(
        train_fraction=2 / 3,
        forecast=ForecastSettings(model="seasonal_naive_daily"),
    )
    result = simulate(daily_ramps(3), profile, options)
    scores = result.scores
    assert scores["predictive"].under_provisioned_pct == 0
    assert scores["reactive"].under_provisioned_pct > 0
    assert scores["predictive"].replica_hours < scores["static"].replica_hours
    # the equal-spend HPA really spends at least what the predictive policy spends
    assert scores[EQUAL_SPEND].replica_hours >= scores["predictive"].replica_hours
    report = json.loads(json.dumps(result.report()))
    assert set(report["policies"]) == {"static", "reactive", "predictive", "oracle", EQUAL_SPEND}
    assert report["trace"]["replay_ticks"] == 288 * 20


def test_the_replayed_floor_ramps_up_within_max_step_up() -> None:
    """20 at night, 200 by day: 4 then 40 replicas. With at most 2 added per step the floor
    must climb from 4 to 40 in the 18 steps before 08:00; the replay's forecasts reached only
    the re-plan interval and start-up ahead, too short to see the rise coming, and the floor
    jumped by 36 in one step."""
    profile = PROFILE.model_copy(update={"max_step_up": 2})
    options = SimulationOptions(
        policies=("predictive",),
        equal_spend=False,
        train_fraction=2 / 3,
        forecast=ForecastSettings(model="seasonal_naive_daily"),
    )
    prepared = prepare(daily_ramps(3), profile, options)
    trail = forecast_trail(prepared.trace, prepared.start, profile, options)
    floor = predictive_floor(prepared.trace, prepared.start, profile, trail)
    assert np.diff(floor).max() <= 2
    ticks = prepared.trace.index_of(prepared.start, len(prepared.trace.load))
    morning = (ticks.hour == 8) & (ticks.minute == 0) & (ticks.second == 0)
    assert morning.any() and (floor[morning] >= 40).all()


def test_progress_counts_every_decision() -> None:
    heard: list[tuple[int, int]] = []
    options = SimulationOptions(
        policies=("predictive",),
        equal_spend=False,
        train_fraction=2 / 3,
        forecast=ForecastSettings(model="seasonal_naive_daily"),
        progress=lambda done, total: heard.append((done, total)),
    )
    simulate(daily_ramps(3), PROFILE, options)
    decisions = 24 * 4  # one simulated day re-planned every 15 minutes
    assert heard == [(done, decisions) for done in range(decisions + 1)]


@pytest.mark.parametrize(("update", "tolerance"), [(True, None), (False, None), (True, 0.1)])
def test_no_policy_reads_the_future(update: bool, tolerance: float | None) -> None:
    profile = PROFILE.model_copy(update={"reactive_tolerance_pct": tolerance})
    series = synthetic_traffic(days=3, step_seconds=300, seed=7)
    options = SimulationOptions(
        train_fraction=2 / 3,
        equal_spend=False,
        forecast=ForecastSettings(
            model="seasonal_naive_daily", refit_seconds=6 * 3600, update=update
        ),
    )
    base = simulate(series, profile, options)
    cut = 2000  # replay tick after which the future is rewritten
    start = base.replay_start
    load = base.trace.load.copy()
    load[start + cut :] = load[start + cut :] * 3 + 50
    changed = simulate_trace(Trace(base.trace.start, 15.0, load, 300.0, 0), start, profile, options)
    for name in ("static", "reactive", "predictive"):
        before, after = base.timelines[name], changed.timelines[name]
        assert (before.spec[: cut + 1] == after.spec[: cut + 1]).all(), name
        assert (before.ready[: cut + 1] == after.ready[: cut + 1]).all(), name
    # the perturbation is real: decisions after it do change, and the oracle sees it coming
    assert (base.timelines["reactive"].spec[cut:] != changed.timelines["reactive"].spec[cut:]).any()
    assert (
        base.timelines["predictive"].spec[cut:] != changed.timelines["predictive"].spec[cut:]
    ).any()
    assert (base.timelines["oracle"].spec[:cut] != changed.timelines["oracle"].spec[:cut]).any()


def test_no_policy_reads_a_row_before_its_time() -> None:
    """Found by a QA pass: 5-minute rows were interpolated between their middles onto the
    ticks, so the load climbed towards a row two and a half minutes before it and the reactive
    HPA changed its replicas 120 s before the rows it was rewritten from. Rows are held flat
    over their steps now: rewriting the rows from ``T`` on changes nothing before ``T``."""
    series = synthetic_traffic(days=3, step_seconds=300, seed=5)
    options = SimulationOptions(
        train_fraction=2 / 3,
        equal_spend=False,
        forecast=ForecastSettings(model="seasonal_naive_daily"),
    )
    base = simulate(series, PROFILE, options)
    row = len(series) - 100  # a row inside the replay
    changed_series = series.copy()
    changed_series.iloc[row:] = changed_series.iloc[row:] * 3 + 50
    changed = simulate(changed_series, PROFILE, options)
    cut = (row * 300) // 15 - base.replay_start  # the replay tick the rewritten rows start at
    for name in ("static", "reactive", "predictive"):
        before, after = base.timelines[name], changed.timelines[name]
        assert (before.spec[:cut] == after.spec[:cut]).all(), name
        assert (before.spec[cut:] != after.spec[cut:]).any() or name == "static", name


def test_refuses_what_it_cannot_replay() -> None:
    points = daily_ramps(1)
    with pytest.raises(InvalidInputError, match="unknown policies"):
        simulate(points, PROFILE, SimulationOptions(policies=("magic",)))
    with pytest.raises(InvalidInputError, match="tick_seconds"):
        simulate(points, PROFILE, SimulationOptions(tick_seconds=7))
    tier = CapacityTier(name="a", capacity_per_replica=1, cost_per_replica_hour=1)
    with pytest.raises(InvalidInputError, match="tiers"):
        simulate(points, PROFILE.model_copy(update={"tiers": [tier]}), NO_FORECAST)
    with pytest.raises(InvalidInputError, match="training window"):
        simulate(points.iloc[:2], PROFILE, NO_FORECAST)


def test_years_of_history_replay_their_last_days() -> None:
    """Only the last ``max_replay_days`` are replayed, so a daily trace of eight years (17
    million 15-s ticks, over the replay grid's limit) replays on its latest years instead of
    being refused; without the limit on the replay it is refused, saying why."""
    days = pd.date_range("2016-01-01", periods=8 * 365, freq="D", tz="UTC")
    points = pd.Series(np.full(len(days), 50.0), index=days)
    points.iloc[:365] = 500.0  # the first year's peak: gone with the years cut
    options = SimulationOptions(
        policies=("static", "reactive", "oracle"), equal_spend=False, max_replay_days=3
    )
    profile = PROFILE.model_copy(update={"step_seconds": 3600})
    result = simulate(points, profile, options)
    report = result.report()["trace"]
    assert report["end"].startswith(str(days[-1].date() + pd.Timedelta(days=1)))
    assert report["replay_ticks"] == 3 * 86_400 // 15
    assert pd.Timestamp(report["start"]) > days[365]
    assert result.scores["static"].as_dict()["under_provisioned_pct"] == 0.0
    assert max(result.timelines["static"].spec) == 10  # sized on 50, not the first year's 500
    with pytest.raises(InvalidInputError, match="ticks of 15s"):
        simulate(points, profile, replace(options, max_replay_days=None))


def test_predictive_covers_bursts_inside_a_plan_step() -> None:
    # 15-s load: 20, but 60 for 30 s of every 5 minutes (step mean 24, peak/mean 2.5)
    index = pd.date_range(START, periods=2 * 5760, freq="15s")
    burst = (np.arange(len(index)) % 20) >= 18
    points = pd.Series(np.where(burst, 60.0, 20.0), index=index)
    profile = PROFILE.model_copy(update={"plan_utilization": 1.0})

    def predictive(peak_seconds: float) -> float:
        options = SimulationOptions(
            policies=("predictive",),
            equal_spend=False,
            forecast=ForecastSettings(model="seasonal_naive_daily", peak_seconds=peak_seconds),
        )
        return simulate(points, profile, options).scores["predictive"].under_provisioned_pct

    assert predictive(30.0) == 0  # the plan covers 24 x 2.5 = 60 at full capacity: 6 replicas
    assert predictive(300.0) > 0  # a factor learned over whole steps is 1: 3 replicas, short


def floor_of_three_re_plans(profile: ScalingProfile, loads: list[float], ticks: int) -> np.ndarray:
    """The replayed floor of three re-plans 15 minutes apart (15 s ticks, 5-minute steps, the
    replay starting at tick 120), each forecasting ``loads[i]`` flat over four steps."""
    from forecaster.planning.policies import ForecastTrail

    replay_start, replan = 120, 60
    origins = START.value + (replay_start + replan * np.arange(3)) * 15 * 10**9
    trail = ForecastTrail(
        step_seconds=300,
        quantile=profile.risk_quantile,
        replan_ticks=replan,
        origins_ns=origins.astype("int64"),
        values=np.array([[load] * 4 for load in loads]),
        peak_factors=np.ones(3),
    )
    return predictive_floor(trace_of([10.0] * ticks), replay_start, profile, trail)


@pytest.mark.parametrize("delay", [600, 0])
def test_a_re_plan_keeps_what_the_scale_down_delay_holds_of_the_plan_before(delay: int) -> None:
    """Each re-plan starts a new plan; its first steps must still hold the plan before it for
    the scale-down delay, as steps within one plan do (the floor was a saw-tooth: replicas
    stopped at every re-plan and started again minutes later)."""
    profile = PROFILE.model_copy(update={"scale_down_delay_seconds": delay, "startup_seconds": 0})
    high, low = 100.0, 10.0  # 20 replicas at the 50 % target, then 2
    floor = floor_of_three_re_plans(profile, [high, low, low], ticks=300)
    assert (floor[:60] == 20).all()
    held = 40 if delay else 0  # two 5-minute steps of the second plan
    assert (floor[60 : 60 + held] == 20).all() and (floor[60 + held :] == 2).all()


def test_a_re_plan_that_jumps_is_paced_as_the_actuators_pace_it() -> None:
    """A re-plan whose forecast rose asks for 40 at once after a plan of 2; the actuators add
    at most max_step_up per 5-minute push, so the replayed floor must too (it jumped 2 -> 40
    at the re-plan: the simulator's predictive policy got capacity no real push gives)."""
    profile = PROFILE.model_copy(update={"max_step_up": 3, "startup_seconds": 0})
    low, high = 10.0, 200.0  # 2 replicas at the 50 % target, then 40
    floor = floor_of_three_re_plans(profile, [low, high, high], ticks=400)
    assert (floor[:60] == 2).all()
    pushes = floor[60::20]  # one value per 5-minute push after the jump
    assert list(pushes[:5]) == [5, 8, 11, 14, 17]
    assert np.diff(floor).max() <= 3
    assert floor[-1] == 2 + 3 * len(pushes)  # still climbing towards 40 when the replay ends


def test_the_replayed_floor_holds_each_push_until_the_next_has_taken_effect() -> None:
    """The service pushes every 5 minutes the highest row until the next push has had its
    minute to take effect; replayed row by row, the floor dropped to the row in force and the
    simulator's replica-hours came out below what the service spends."""
    from forecaster.planning.policies import ForecastTrail

    profile = PROFILE.model_copy(update={"startup_seconds": 0})
    replay_start = 120
    trail = ForecastTrail(
        step_seconds=300,
        quantile=profile.risk_quantile,
        replan_ticks=400,
        origins_ns=np.array([START.value + replay_start * 15 * 10**9], dtype="int64"),
        values=np.array([[10.0, 10.0, 100.0, 100.0]]),  # 2 replicas, then 20
        peak_factors=np.ones(1),
    )
    floor = predictive_floor(trace_of([10.0] * 200), replay_start, profile, trail)
    # the plan's rows are 2, 11 (half way into the rise), 20, 20: each push holds the next row
    # for the minute that push takes to land
    assert list(floor[::20]) == [11, 20, 20, 20] and (floor == np.repeat(floor[::20], 20)).all()


def test_the_replayed_floor_is_what_the_actuators_push() -> None:
    """The same plan read by the actuators' window (every 5 minutes, 60 s of margin) and by
    the replay (15 s ticks) gives the same floor at every push."""
    from datetime import UTC

    from forecaster.actuators.window import Step, build_window
    from forecaster.planning.planner import plan_capacity
    from forecaster.planning.shaping import as_pushed

    values = synthetic_traffic(days=1, step_seconds=300, noise=0.3).to_numpy()
    load = pd.Series(values, index=pd.date_range(START, periods=len(values), freq="300s"))
    plan = plan_capacity(load, PROFILE, step_seconds=300)
    steps = [
        Step(ts.to_pydatetime(), int(r), float(x))
        for ts, r, x in zip(plan.index, plan["replicas"], plan["load"], strict=True)
    ]
    pushes = plan.index[:-2]
    pushed = [
        build_window(
            service="chat",
            profile=PROFILE,
            plan_id=1,
            generated_at=now.to_pydatetime(),
            data_until=now.to_pydatetime(),
            step_seconds=300,
            steps=steps,
            now=now.to_pydatetime().astimezone(UTC),
            window_seconds=360,
            max_age_seconds=86_400,
        ).floor
        for now in pushes
    ]
    ticks = np.arange(len(pushes) * 20)
    tick_ns = START.value + ticks * 15 * 10**9
    rows = plan["replicas"].to_numpy()[ticks // 20]
    push = tick_ns // (300 * 10**9)
    replayed = as_pushed(rows, rows, tick_ns - push * 300 * 10**9 < 60 * 10**9, push)
    assert list(replayed[::20]) == pushed
    assert (replayed > rows).any()  # the check reads something: pushes held rises early
