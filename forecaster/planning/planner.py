"""Pure capacity-planning arithmetic: a load-quantile forecast in, replica floors out.

Called by the plan job (stored plans), the offline ``forecaster plan`` command and the replay
simulator. Each output row means "from ``ts`` until the next row the floor should be N", already
shifted earlier by the start-up time so the replicas are ready when the load arrives.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from forecaster.profiles import ScalingProfile

# load within this fraction of a replica's capacity does not round up to one more replica
_ROUNDING_SLACK = 1e-9


def replicas_for_load(load: np.ndarray, profile: ScalingProfile) -> np.ndarray:
    """Replicas = ceil(load / (capacity per replica x target utilisation)), at least zero."""
    per_replica = profile.capacity_per_replica * profile.target_utilization
    needed = np.ceil(np.asarray(load, dtype="float64") / per_replica - _ROUNDING_SLACK)
    return np.maximum(np.nan_to_num(needed, nan=0.0), 0).astype("int64")


def forward_max(values: np.ndarray, window: int) -> np.ndarray:
    """max(values[t : t + window + 1]): what must already be up at t to cover the next window."""
    if window <= 0 or len(values) == 0:
        return values.copy()
    reversed_max = pd.Series(values[::-1]).rolling(window + 1, min_periods=1).max()
    return reversed_max.to_numpy()[::-1].astype(values.dtype)


def backward_max(values: np.ndarray, window: int) -> np.ndarray:
    """max(values[t - window : t + 1]): keep capacity for a while after the load falls."""
    if window <= 0 or len(values) == 0:
        return values.copy()
    return (
        pd.Series(values).rolling(window + 1, min_periods=1).max().to_numpy().astype(values.dtype)
    )


def ramp_ahead(values: np.ndarray, max_step_up: int) -> np.ndarray:
    """Raise earlier rows so no row adds more than ``max_step_up`` replicas over the one before.

    r[t] = max_k(values[t + k] - k * cap): a reverse running max of ``values[j] - j * cap``.
    """
    if len(values) == 0:
        return values.copy()
    positions = np.arange(len(values), dtype="int64")
    shifted = values - positions * max_step_up
    reverse_running = np.maximum.accumulate(shifted[::-1])[::-1]
    return np.maximum(values, reverse_running + positions * max_step_up)


def effective_max_replicas(profile: ScalingProfile) -> int:
    """The ceiling plans respect: the profile's max, or above it by the buffer if allowed."""
    if profile.max_capacity_breach == "increase":
        return math.ceil(profile.max_replicas * (1 + profile.max_capacity_buffer_pct / 100))
    return profile.max_replicas


def plan_capacity(
    load: pd.Series,
    profile: ScalingProfile,
    *,
    step_seconds: float,
    current_replicas: int | None = None,
) -> pd.DataFrame:
    """Replica and GPU floors for each step of a load-quantile forecast.

    Returns a frame indexed by step timestamp with ``replicas``, ``gpus``, ``load`` (the quantile
    the step covers), ``cost_per_hour`` and ``reason``.
    """
    values = load.to_numpy(dtype="float64")
    required = replicas_for_load(values, profile)
    lead_steps = math.ceil(profile.startup_seconds / step_seconds)
    hold_steps = math.ceil(profile.scale_down_delay_seconds / step_seconds)
    ceiling = effective_max_replicas(profile)

    led = forward_max(required, lead_steps)
    held = backward_max(led, hold_steps)
    floor = np.clip(held, profile.min_replicas, ceiling)
    if profile.max_step_up is not None:
        floor = ramp_ahead(floor, profile.max_step_up)
        if current_replicas is not None:
            reachable = current_replicas + profile.max_step_up * np.arange(1, len(floor) + 1)
            floor = np.minimum(floor, reachable)
        floor = np.clip(floor, profile.min_replicas, ceiling)

    frame = pd.DataFrame(
        {
            "replicas": floor.astype("int64"),
            "gpus": floor.astype("int64") * profile.gpus_per_replica,
            "load": values,
            "cost_per_hour": floor * profile.cost_per_replica_hour,
        },
        index=load.index,
    )
    frame["reason"] = _reasons(values, required, led, held, floor, profile, ceiling)
    return frame


def plan_cost(plan: pd.DataFrame, step_seconds: float) -> float:
    """Total cost of a plan: cost per hour integrated over its steps."""
    return float(plan["cost_per_hour"].sum() * step_seconds / 3600.0)


def _reasons(
    load: np.ndarray,
    required: np.ndarray,
    led: np.ndarray,
    held: np.ndarray,
    floor: np.ndarray,
    profile: ScalingProfile,
    ceiling: int,
) -> list[str]:
    """One sentence per step saying where its number came from."""
    q = profile.quantile_column
    per_replica = profile.capacity_per_replica * profile.target_utilization
    reasons = []
    for step_load, need, lead, hold, final in zip(load, required, led, held, floor, strict=True):
        text = (
            f"{q} load {step_load:.4g} / ({profile.capacity_per_replica:g} x "
            f"{profile.target_utilization:g} = {per_replica:.4g} per replica) needs {need}"
        )
        if lead > need:
            text += f"; {lead} to be ready for load within {profile.startup_seconds:g}s start-up"
        if hold > lead:
            text += (
                f"; held at {hold} for the {profile.scale_down_delay_seconds:g}s scale-down delay"
            )
        if final > hold and final == profile.min_replicas:
            text += f"; raised to min_replicas {profile.min_replicas}"
        elif final > hold:
            text += f"; ramped early to {final} (at most {profile.max_step_up} added per step)"
        elif final < hold:
            text += f"; capped at {final} (max {ceiling})"
        reasons.append(text)
    return reasons
