"""Pure capacity-planning arithmetic: a load-quantile forecast in, replica floors out.

Called by the plan job (stored plans), the offline ``forecaster plan`` command and the replay
simulator. Each output row means "from ``ts`` until the next row the floor should be N", already
shifted earlier by the start-up time so the replicas are ready when the load arrives. With
capacity tiers each row carries the cheapest mix (``tier`` = ``"A100:1+L4:3"``), each tier
shifted by its own start-up time.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from forecaster.planning.shaping import Shaped, forward_max, shape
from forecaster.planning.tiers import cheapest_mix, format_mix, tier_ceilings
from forecaster.profiles import ScalingProfile

# replicas within this fraction of a whole number do not round up to one more (3.0000000001
# is 3): relative, so that a tiny load still needs one replica (less 1e-9 absolute, 1e-7 of
# load on a replica of 1,000 needed none, and even the oracle was short all the time)
_ROUNDING_SLACK = 1e-9
# beyond any real fleet; keeps absurd inputs (a capacity of 1e-300) from overflowing int64
MOST_REPLICAS = 10**9

PLAN_COLUMNS = ("replicas", "gpus", "load", "tier", "cost_per_hour", "reason")


def replicas_for_load(
    load: np.ndarray, profile: ScalingProfile, utilization: float | None = None
) -> np.ndarray:
    """Replicas = ceil(load / (capacity per replica x utilisation)), at least zero; the
    utilisation defaults to the profile's target."""
    per_replica = profile.capacity_per_replica * (utilization or profile.target_utilization)
    with np.errstate(over="ignore"):
        needed = np.ceil(np.asarray(load, dtype="float64") / per_replica * (1 - _ROUNDING_SLACK))
    return np.clip(np.nan_to_num(needed, nan=0.0), 0, MOST_REPLICAS).astype("int64")


def blend_edges(load: np.ndarray) -> np.ndarray:
    """Each step's load raised to the average with either neighbour (along the last axis).

    A forecast step is a mean: when traffic climbs from one step to the next, the last moments
    of the low step already carry about the average of the two, and the first moments after a
    fall still do. Without this a plan is short at every rising edge for part of a step.
    """
    values = np.asarray(load, dtype="float64")
    if values.shape[-1] < 2:
        return values.copy()
    pair = (values[..., 1:] + values[..., :-1]) / 2
    blended = values.copy()
    blended[..., :-1] = np.maximum(blended[..., :-1], pair)
    blended[..., 1:] = np.maximum(blended[..., 1:], pair)
    return blended


def covered_load(load: np.ndarray, profile: ScalingProfile, peak_factor: float) -> np.ndarray:
    """The load a step's replicas must serve: its quantile, edges blended, times peak/mean."""
    values = np.asarray(load, dtype="float64")
    if profile.step_edges == "blend":
        values = blend_edges(values)
    return values * peak_factor


def effective_max_replicas(profile: ScalingProfile) -> int:
    """The ceiling plans respect: the max, or above it by the buffer if the profile allows."""
    if profile.max_capacity_breach == "increase":
        return buffered_max(profile.max_replicas, profile.max_capacity_buffer_pct)
    return profile.max_replicas


def buffered_max(maximum: int, buffer_pct: float) -> int:
    """``maximum`` raised by at most ``buffer_pct`` %, in whole replicas: plans and the
    actuators' bounds share it (plans rounded up, 100 + 10 % was 111, one replica more than the
    actuators then allowed; and 110.00000000000001 is 110)."""
    return max(maximum, math.floor(maximum * (1 + buffer_pct / 100) * (1 + _ROUNDING_SLACK)))


def lead_steps(startup_seconds: float, step_seconds: float) -> int:
    """Whole plan steps a replica needs to start: a partial step counts as a whole one."""
    return math.ceil(startup_seconds / step_seconds - 1e-9)


def plan_capacity(
    load: pd.Series,
    profile: ScalingProfile,
    *,
    step_seconds: float,
    peak_factor: float = 1.0,
    led_before: np.ndarray | None = None,
) -> pd.DataFrame:
    """Replica and GPU floors for each step of a load-quantile forecast.

    ``peak_factor`` (>= 1) scales the step's mean load up to the short peaks inside it (see
    :func:`forecaster.planning.burst.peak_to_mean`). ``led_before``: the plan in force before
    this one, as :func:`led_requirement` of its last steps, which the scale-down delay holds
    into this one (single-type profiles). Returns a frame indexed by step timestamp
    with ``replicas``, ``gpus``, ``load`` (the quantile the step covers), ``tier`` (the mix, or
    None without tiers), ``cost_per_hour`` and ``reason``.
    """
    if peak_factor < 1 or not math.isfinite(peak_factor):
        raise ValueError(f"peak_factor must be a finite number >= 1, got {peak_factor}")
    values = load.to_numpy(dtype="float64")
    covered = covered_load(values, profile, peak_factor)
    if profile.tiers:
        return _plan_tiers(load.index, values, covered, peak_factor, profile, step_seconds)
    required = replicas_for_load(covered, profile, profile.floor_utilization)
    ceiling = effective_max_replicas(profile)
    shaped = _shape_single(required, profile, step_seconds, led_before)
    floor = shaped.floor
    frame = pd.DataFrame(
        {
            "replicas": floor,
            "gpus": floor * profile.gpus_per_replica,
            "load": values,
            "tier": None,
            "cost_per_hour": floor * profile.cost_per_replica_hour,
        },
        index=load.index,
    )
    utilization = profile.floor_utilization
    per_replica = profile.capacity_per_replica * utilization
    needs = [
        f"{_load_note(profile, v, c, peak_factor)} / ({per_replica:.4g} per replica = "
        f"{profile.capacity_per_replica:g} x {utilization:g}) needs {n}"
        for v, c, n in zip(values, covered, required, strict=True)
    ]
    frame["reason"] = _reasons(needs, required, shaped, profile, ceiling)
    return frame


def plan_floor(
    load: np.ndarray,
    profile: ScalingProfile,
    *,
    step_seconds: float,
    peak_factor: float = 1.0,
    led_before: np.ndarray | None = None,
) -> np.ndarray:
    """Just the ``replicas`` column of :func:`plan_capacity` for a single-type profile: the
    simulator re-plans thousands of times and needs no reasons or frame."""
    required = replicas_for_load(
        covered_load(load, profile, peak_factor), profile, profile.floor_utilization
    )
    return _shape_single(required, profile, step_seconds, led_before).floor


def led_requirement(
    load: np.ndarray, profile: ScalingProfile, *, step_seconds: float, peak_factor: float = 1.0
) -> np.ndarray:
    """Replicas each step needs, pulled earlier by the start-up lead, before the hold and the
    bounds: what a plan's steps pass on to the plan that replaces it (``led_before``)."""
    required = replicas_for_load(
        covered_load(load, profile, peak_factor), profile, profile.floor_utilization
    )
    return forward_max(required, lead_steps(profile.startup_seconds, step_seconds))


def hold_steps(profile: ScalingProfile, step_seconds: float) -> int:
    """Whole steps the scale-down delay holds a requirement for."""
    return lead_steps(profile.scale_down_delay_seconds, step_seconds)


def _shape_single(
    required: np.ndarray,
    profile: ScalingProfile,
    step_seconds: float,
    led_before: np.ndarray | None = None,
) -> Shaped:
    return shape(
        required,
        lead_steps=lead_steps(profile.startup_seconds, step_seconds),
        hold_steps=hold_steps(profile, step_seconds),
        lower=profile.min_replicas,
        upper=effective_max_replicas(profile),
        max_step_up=profile.max_step_up,
        led_before=led_before,
    )


def plan_cost(plan: pd.DataFrame, step_seconds: float) -> float:
    """Total cost of a plan: cost per hour integrated over its steps."""
    return float(plan["cost_per_hour"].sum() * step_seconds / 3600.0)


def _plan_tiers(
    index: pd.Index,
    values: np.ndarray,
    covered: np.ndarray,
    peak_factor: float,
    profile: ScalingProfile,
    step_seconds: float,
) -> pd.DataFrame:
    """Cheapest mix per step, then each tier led by its own start-up and held like the rest.

    ``min_replicas`` and ``max_replicas`` bound the total over tiers, as they bound the count
    of a single-type plan; a tier's own ``max_replicas`` bounds that tier.
    """
    tiers = profile.tiers
    total_ceiling = effective_max_replicas(profile)
    # a tier's own max is a hard quota (GPUs that exist); the buffer only lifts the total
    ceilings = np.minimum(tier_ceilings(tiers, total_ceiling), total_ceiling)
    usable = np.array([t.capacity_per_replica for t in tiers]) * profile.floor_utilization
    mixes = cheapest_mix(
        covered,
        tiers,
        utilization=profile.floor_utilization,
        ceilings=ceilings,
        total_ceiling=total_ceiling,
    )
    # steps whose load no mix within the ceilings covers (cheapest_mix gave the fullest one)
    short = covered - mixes @ usable > 1e-6 * usable.max()
    hold = hold_steps(profile, step_seconds)
    floors = (
        np.column_stack(
            [
                shape(
                    mixes[:, i],
                    lead_steps=lead_steps(tier.startup_seconds, step_seconds),
                    hold_steps=hold,
                    lower=0,
                    upper=int(ceilings[i]),
                    max_step_up=profile.max_step_up,
                ).floor
                for i, tier in enumerate(tiers)
            ]
        )
        if len(values)
        else np.zeros((0, len(tiers)), dtype="int64")
    )
    shaped_total = floors.sum(axis=1)
    floors = _trim_to_max(floors, usable, total_ceiling)
    trimmed_total = floors.sum(axis=1)
    floors = _raise_to_min(floors, profile, ceilings)
    totals = floors.sum(axis=1).astype("int64")
    trimmed, raised = trimmed_total < shaped_total, totals > trimmed_total
    costs = np.array([tier.cost_per_replica_hour for tier in tiers])
    gpus = np.array([tier.gpus_per_replica for tier in tiers])
    names = [tier.name for tier in tiers]
    needed = format_mix(mixes, names)
    floor_mix = format_mix(floors, names)
    per_tier = ", ".join(
        f"{t.name} {t.capacity_per_replica:g}/replica ${t.cost_per_replica_hour:g}/h "
        f"{t.startup_seconds:g}s start-up"
        for t in tiers
    )
    tier_limits = _tier_limits(mixes, ceilings, names, total_ceiling)
    reasons = []
    for row, (v, c, need, have) in enumerate(zip(values, covered, needed, floor_mix, strict=True)):
        text = (
            f"{_load_note(profile, v, c, peak_factor)} at {profile.floor_utilization:g} "
            f"utilisation: {'fullest' if short[row] else 'cheapest'} mix {need or 'none'} "
            f"(of {per_tier})"
        )
        if have != need:
            text += f"; floor {have or 'none'} after start-up lead, hold and min/max"
        if raised[row]:
            text += _raised_note(profile.min_replicas)
        elif trimmed[row]:
            text += _capped_note(int(totals[row]), f"max {total_ceiling}")
        elif short[row]:
            text += _capped_note(int(totals[row]), tier_limits[row])
        reasons.append(text)
    return pd.DataFrame(
        {
            "replicas": totals,
            "gpus": (floors @ gpus).astype("int64"),
            "load": values,
            "tier": floor_mix,
            "cost_per_hour": floors @ costs,
            "reason": reasons,
        },
        index=index,
    )


def _tier_limits(
    mixes: np.ndarray, ceilings: np.ndarray, names: list[str], total_ceiling: int
) -> list[str]:
    """What held each step's mix back: the total ``max N`` when the mix reaches it, else the
    tiers at their own ceilings (``max L4:20+A100:3``)."""
    at_ceiling = np.where(mixes >= ceilings, ceilings, 0)
    return [
        f"max {total_ceiling}" if total >= total_ceiling else f"max {limits}"
        for total, limits in zip(mixes.sum(axis=1), format_mix(at_ceiling, names), strict=True)
    ]


def _trim_to_max(floors: np.ndarray, usable: np.ndarray, total_ceiling: int) -> np.ndarray:
    """Cut a total above the max, smallest replicas first: each tier's lead and hold can stack
    above the max, and the replicas kept should carry the most load."""
    excess = (floors.sum(axis=1) - total_ceiling).clip(min=0)
    if not excess.any():
        return floors
    trimmed = floors.copy()
    for tier in np.argsort(usable, kind="stable"):
        cut = np.minimum(excess, trimmed[:, tier])
        trimmed[:, tier] -= cut
        excess = excess - cut
    return trimmed


def _raise_to_min(floors: np.ndarray, profile: ScalingProfile, ceilings: np.ndarray) -> np.ndarray:
    """Meet ``min_replicas`` (a total) with the tier that costs least per replica-hour."""
    short = (profile.min_replicas - floors.sum(axis=1)).clip(min=0)
    if not short.any():
        return floors
    raised = floors.copy()
    for tier in np.argsort([t.cost_per_replica_hour for t in profile.tiers], kind="stable"):
        add = np.minimum(short, ceilings[tier] - raised[:, tier]).clip(min=0)
        raised[:, tier] += add
        short = short - add
    return raised


def _raised_note(min_replicas: int) -> str:
    """``; raised to min_replicas 2``, in the same words on single-type and tiered rows."""
    return f"; raised to min_replicas {min_replicas}"


def _capped_note(final: int, limit: str) -> str:
    """``; capped at 10 (max 10)``: single-type and tiered reasons name a cap the same way."""
    return f"; capped at {final} ({limit})"


def _load_note(profile: ScalingProfile, value: float, covered: float, peak_factor: float) -> str:
    """``p95 load 42.5, 110 at the edge with a neighbour step, x 1.3 peak/mean = 143``."""
    text = f"{profile.quantile_column} load {value:.4g}"
    edge = covered / peak_factor
    if edge > value * (1 + 1e-9):
        text += f", {edge:.4g} at the edge with a neighbour step"
    if peak_factor > 1 + 1e-9:
        text += f", x {peak_factor:.3g} peak/mean = {covered:.4g}"
    return text


def _reasons(
    needs: list[str],
    required: np.ndarray,
    shaped: Shaped,
    profile: ScalingProfile,
    ceiling: int,
) -> list[str]:
    """One sentence per step saying where its number came from."""
    startup_seconds = profile.startup_seconds
    reasons = []
    for text, need, lead, hold, final in zip(
        needs, required, shaped.led, shaped.held, shaped.floor, strict=True
    ):
        if lead > need:
            text += f"; {lead} to be ready for load within {startup_seconds:g}s start-up"
        if hold > lead:
            text += (
                f"; held at {hold} for the {profile.scale_down_delay_seconds:g}s scale-down delay"
            )
        if final > hold and final == profile.min_replicas:
            text += _raised_note(profile.min_replicas)
        elif final > hold:
            text += f"; ramped early to {final} (at most {profile.max_step_up} added per step)"
        elif final < hold:
            text += _capped_note(final, f"max {ceiling}")
        reasons.append(text)
    return reasons
