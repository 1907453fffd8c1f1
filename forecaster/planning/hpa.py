"""A Kubernetes HorizontalPodAutoscaler emulated tick by tick, for the replay simulator.

Follows the controller's documented algorithm: sync every 15 s on the load averaged over the
last 60 s, desired = ceil(load / (capacity x target)), a 10 % tolerance, pods still starting
counted at 0 % usage before scaling up further, the default scale-up limit (double or +4 pods
per 15 s, compounded over a sync when ticks of 30 s or more sync less often), a 300 s
scale-down stabilisation window, and minReplicas applied last (so a raised floor, as our
predictive plans set it, bypasses the scale-up limit). Below minReplicas, as when our plan
raises it, a sync sets exactly minReplicas and reads no metric (the controller's
``reconcileAutoscaler``); the next one scales on the load. New pods serve only after
the start-up time; scale-down removes pods still starting first. Called by
:mod:`forecaster.planning.simulate` for the reactive and predictive policies.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

import numpy as np

from forecaster.planning.planner import MOST_REPLICAS, effective_max_replicas, replicas_for_load
from forecaster.profiles import ScalingProfile


@dataclass(frozen=True)
class HpaConfig:
    """The autoscaler's knobs, in seconds and replicas."""

    capacity_per_replica: float
    target_utilization: float
    min_replicas: int
    max_replicas: int
    startup_seconds: float
    sync_seconds: float = 15.0
    metric_window_seconds: float = 60.0
    tolerance: float = 0.1
    downscale_stabilization_seconds: float = 300.0
    scale_up_pods: int = 4
    scale_up_percent: float = 100.0


@dataclass(frozen=True)
class Timeline:
    """Per tick: replicas that exist (and are billed) and replicas ready to serve."""

    spec: np.ndarray
    ready: np.ndarray


def trailing_mean(load: np.ndarray, window_ticks: int) -> np.ndarray:
    """Mean of the ``window_ticks`` ticks before each tick (not including it): what a metrics
    pipeline has seen when the controller syncs at the start of the tick. NaN at tick 0."""
    sums = np.concatenate(([0.0], np.cumsum(load, dtype="float64")))
    ends = np.arange(len(load))
    starts = np.maximum(ends - window_ticks, 0)
    counts = ends - starts
    with np.errstate(invalid="ignore", divide="ignore"):
        return (sums[ends] - sums[starts]) / counts


def recommend(average: float, ready: int, spec: int, unit: float, tolerance: float) -> int:
    """The replica calculator for a per-pod average target: the usage ratio over ready pods,
    no change within the tolerance, and no further scale-up while the pods already starting
    (counted at 0 % usage) would bring the ratio within it."""
    wanted = math.ceil(min(average / unit, MOST_REPLICAS) - 1e-9)
    if ready == 0:  # nothing serves yet: any load means scale up
        return spec if average <= 0 else max(spec, wanted)
    ratio = average / (ready * unit)
    if abs(ratio - 1) <= tolerance:
        return spec
    if ratio > 1 and spec > ready and average / (spec * unit) <= 1 + tolerance:
        return spec
    return wanted


def run_hpa(
    load: np.ndarray,
    *,
    tick_seconds: float,
    config: HpaConfig,
    initial_replicas: int,
    floor: np.ndarray | None = None,
) -> Timeline:
    """Replay ``load`` (per tick) through the autoscaler; ``floor`` raises minReplicas per tick.

    Starts in steady state with ``initial_replicas`` ready. Reads only ticks before each sync.
    """
    n = len(load)
    sync_every = max(1, round(config.sync_seconds / tick_seconds))
    startup_ticks = min(math.ceil(config.startup_seconds / tick_seconds - 1e-9), n + 1)
    window = max(1, round(config.metric_window_seconds / tick_seconds))
    # recommendations newer than the window: the current one and those of the last 285 s, at
    # the syncs the ticks allow (30-s ticks sync every 30 s: counted at 15 s, it held 600 s)
    stabilise = max(1, round(config.downscale_stabilization_seconds / (sync_every * tick_seconds)))
    unit = config.capacity_per_replica * config.target_utilization
    observed = trailing_mean(np.asarray(load, dtype="float64"), window).tolist()
    floors = (
        np.maximum(np.asarray(floor, dtype="int64"), config.min_replicas).tolist()
        if floor is not None
        else [config.min_replicas] * n
    )
    upper, tolerance = config.max_replicas, config.tolerance
    up_pods, up_factor = config.scale_up_pods, 1 + config.scale_up_percent / 100
    # the limit's periods of 15 s one sync spans (two at 30-s ticks: allowed once, it scaled
    # up half as fast as a controller syncing every 15 s)
    up_periods = max(1, round(sync_every * tick_seconds / config.sync_seconds))

    ready = min(max(initial_replicas, floors[0] if n else 0), upper)
    # pods starting, as [tick they become ready, how many], oldest first
    starting: deque[list[int]] = deque()
    pending = 0  # pods in ``starting``
    recommendations: deque[int] = deque(maxlen=stabilise)
    spec_out = [0] * n
    ready_out = [0] * n
    for t in range(n):
        while starting and starting[0][0] <= t:
            arrived = starting.popleft()[1]
            ready += arrived
            pending -= arrived
        spec = ready + pending
        if t % sync_every == 0 and t > 0:
            if spec < floors[t]:  # below minReplicas: set it, no metric read
                desired = min(floors[t], upper)
            else:
                recommended = recommend(observed[t], ready, spec, unit, tolerance)
                recommendations.append(recommended)
                # behaviour: scale-down stabilisation, scale-up rate limit, then min/max
                desired = spec
                if recommended > spec:
                    allowed = spec
                    for _ in range(up_periods):
                        allowed = max(math.ceil(allowed * up_factor), allowed + up_pods)
                    desired = min(recommended, allowed)
                elif (highest := max(recommendations)) < spec:
                    desired = highest
                desired = min(max(desired, floors[t]), upper)
            if desired > spec and startup_ticks == 0:
                ready += desired - spec
            elif desired > spec:
                starting.append([t + startup_ticks, desired - spec])
                pending += desired - spec
            elif desired < spec:
                remove = spec - desired
                while remove and starting:  # the newest starting pods go first
                    cancel = min(remove, starting[-1][1])
                    starting[-1][1] -= cancel
                    if starting[-1][1] == 0:
                        starting.pop()
                    pending -= cancel
                    remove -= cancel
                ready -= remove
            spec = desired
        spec_out[t] = spec
        ready_out[t] = ready
    return Timeline(
        spec=np.array(spec_out, dtype="int64"), ready=np.array(ready_out, dtype="int64")
    )


def hpa_config(profile: ScalingProfile) -> HpaConfig:
    """The reactive autoscaler a profile implies (Kubernetes defaults for the rest); its
    maximum is the one the actuators leave it (raised by the buffer under ``increase``)."""
    return HpaConfig(
        capacity_per_replica=profile.capacity_per_replica,
        target_utilization=profile.target_utilization,
        min_replicas=profile.min_replicas,
        max_replicas=effective_max_replicas(profile),
        startup_seconds=profile.startup_seconds,
    )


def steady_replicas(train_load: np.ndarray, tick_seconds: float, profile: ScalingProfile) -> int:
    """Replicas an HPA would be running at the end of training: the last minute's load."""
    window = max(1, round(60 / tick_seconds))
    recent = trailing_mean(np.append(train_load, 0.0), window)[-1] if len(train_load) else 0.0
    needed = int(replicas_for_load(np.array([recent]), profile)[0])
    return int(np.clip(needed, profile.min_replicas, effective_max_replicas(profile)))
