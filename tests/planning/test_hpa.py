"""The emulated Kubernetes HPA on hand-made loads whose answer is worked out by hand."""

from __future__ import annotations

import numpy as np

from forecaster.planning.hpa import HpaConfig, recommend, run_hpa, trailing_mean

# 10 load units per replica at full capacity, target 50 %: 5 units per replica at the target
CONFIG = HpaConfig(
    capacity_per_replica=10,
    target_utilization=0.5,
    min_replicas=1,
    max_replicas=50,
    startup_seconds=180,  # 12 ticks of 15 s
)


def test_trailing_mean_sees_only_earlier_ticks() -> None:
    means = trailing_mean(np.array([4.0, 8.0, 12.0, 16.0, 20.0, 24.0]), 4)
    assert np.isnan(means[0])
    assert means[1:].tolist() == [4.0, 6.0, 8.0, 10.0, 14.0]


def test_recommendation_tolerance_and_starting_pods() -> None:
    assert recommend(21.0, ready=4, spec=4, unit=5.0, tolerance=0.1) == 4  # 5 % over: tolerated
    assert recommend(30.0, ready=4, spec=4, unit=5.0, tolerance=0.1) == 6
    # 4 ready + 2 starting would serve 32 within tolerance: wait for them
    assert recommend(32.0, ready=4, spec=6, unit=5.0, tolerance=0.1) == 6
    assert recommend(40.0, ready=4, spec=6, unit=5.0, tolerance=0.1) == 8
    assert recommend(10.0, ready=4, spec=4, unit=5.0, tolerance=0.1) == 2


def test_step_up_is_served_late_by_the_start_up_time() -> None:
    # 20 -> 60 at tick 40. Syncs after the step see 60 s averages of 30, 40, 50, 60 and ask for
    # 6, 8, 10, 12 replicas (the +4 pods / 100 % limit allows each); pods start 12 ticks later.
    load = np.array([20.0] * 40 + [60.0] * 40)
    timeline = run_hpa(load, tick_seconds=15, config=CONFIG, initial_replicas=4)
    assert timeline.spec[39:46].tolist() == [4, 4, 6, 8, 10, 12, 12]
    assert timeline.ready[52:58].tolist() == [4, 6, 8, 10, 12, 12]
    short = load > timeline.ready * CONFIG.capacity_per_replica
    # 60 needs 6 ready replicas at full capacity: short from tick 40 until 53
    assert np.flatnonzero(short).tolist() == list(range(40, 53))


def test_scale_down_waits_for_the_stabilisation_window() -> None:
    load = np.array([60.0] * 40 + [20.0] * 60)
    timeline = run_hpa(load, tick_seconds=15, config=CONFIG, initial_replicas=12)
    # recommendations after the drop: 10, 8, 6, 4, ...; the 12 recommended at tick 40 stays in
    # the 300 s window (20 syncs) until tick 60
    assert timeline.spec[59] == 12
    assert timeline.spec[60:64].tolist() == [10, 8, 6, 4]


def test_the_stabilisation_window_lasts_300_s_at_any_tick() -> None:
    """Found by a QA pass: at 30-s ticks (a sync each) the window counted 20 syncs of 15 s,
    so the HPA held its peak 600 s."""
    for tick in (5, 15, 30, 60):
        before, after = round(600 / tick), round(900 / tick)
        load = np.array([60.0] * before + [20.0] * after)
        timeline = run_hpa(load, tick_seconds=tick, config=CONFIG, initial_replicas=12)
        first_down = int(np.argmax(timeline.spec < 12)) * tick - 600
        assert 300 <= first_down <= 300 + 60 + 2 * tick, (tick, first_down)


def test_scale_up_rate_limit_and_floor_bypass() -> None:
    load = np.array([5.0] * 10 + [500.0] * 10)
    capped = run_hpa(load, tick_seconds=15, config=CONFIG, initial_replicas=1)
    # the first sync after the jump sees 128.75 -> 26 wanted, but one pod may become 5 (+4)
    assert capped.spec[11] == 5
    floor = np.array([1] * 10 + [40] * 10)
    floored = run_hpa(load, tick_seconds=15, config=CONFIG, initial_replicas=1, floor=floor)
    # a raised minReplicas applies at the next sync whatever the rate limit
    assert floored.spec[10] == 40


def test_zero_start_up_serves_at_once() -> None:
    config = HpaConfig(
        capacity_per_replica=10,
        target_utilization=0.5,
        min_replicas=1,
        max_replicas=9,
        startup_seconds=0,
    )
    timeline = run_hpa(
        np.array([5.0] * 5 + [100.0] * 10), tick_seconds=15, config=config, initial_replicas=1
    )
    assert (timeline.ready == timeline.spec).all()
    assert timeline.spec.max() == 9  # max_replicas


def test_a_raised_floor_is_set_exactly_and_the_load_read_a_sync_later() -> None:
    """Found by a QA pass: below minReplicas the controller sets exactly minReplicas and reads
    no metric that sync; the emulation had taken the larger of its rate-limited recommendation
    and the floor (15, not 12, here), a sync ahead of a real HPA under our plans."""
    load = np.array([50.0] * 10 + [150.0] * 20)  # 10 replicas' worth at 5 each, then 30
    floor = np.array([1] * 11 + [12] * 19)
    timeline = run_hpa(load, tick_seconds=15, config=CONFIG, initial_replicas=10, floor=floor)
    # the first sync after the rise sees a 60-s mean of 75 and would ask for 15
    assert run_hpa(load, tick_seconds=15, config=CONFIG, initial_replicas=10).spec[11] == 15
    assert timeline.spec[10] == 10
    assert timeline.spec[11] == 12  # minReplicas, exactly
    assert timeline.spec[12] > 12  # the next sync scales on the load again


def test_30_s_ticks_scale_up_as_fast_as_a_controller_syncing_every_15_s() -> None:
    """Found by a QA pass: one sync per 30-s tick allowed one 15-s period's scale-up (double or
    +4), so the replay's HPA climbed half as fast and a step load was short 1.75 % of the time
    instead of 1.125 %."""
    reached = {}
    for tick in (15, 30):
        load = np.array([5.0] * round(600 / tick) + [500.0] * round(600 / tick))
        timeline = run_hpa(load, tick_seconds=tick, config=CONFIG, initial_replicas=1)
        reached[tick] = [int(timeline.spec[round((600 + s) / tick)]) for s in (60, 120, 180)]
    assert reached[30] == reached[15]
