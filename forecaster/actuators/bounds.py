"""The safety rules every actuator applies before it writes a replica floor.

One function so HPA, KEDA and the AWS schedules agree: keep at least the target's own baseline
minimum (unless allowed lower), never exceed its maximum unless the profile allows raising it
(then by at most the buffer), and never add more than ``max_step_up`` replicas at once.
"""

from __future__ import annotations

from dataclasses import dataclass

from forecaster.planning.planner import buffered_max
from forecaster.profiles import ScalingProfile


@dataclass(frozen=True)
class Bounds:
    """The minimum and maximum to write, and why they differ from what the plan asked."""

    minimum: int
    maximum: int
    notes: tuple[str, ...] = ()


def bound_floor(
    floor: int,
    *,
    current_min: int,
    baseline_min: int,
    baseline_max: int,
    profile: ScalingProfile,
    allow_below_baseline: bool = False,
    lowest: int = 0,
) -> Bounds:
    """Turn a plan floor into a (minimum, maximum) pair a target may be given.

    ``current_min`` is what the target holds now (the step cap counts from it), ``baseline_*``
    what it held before forecaster touched it, ``lowest`` the smallest minimum the target
    accepts (an HPA needs at least 1). The step cap never leaves the target below its baseline
    minimum: a person who raised it meanwhile (or a target found below it) is not undercut.
    """
    notes: list[str] = []
    # what the target keeps whatever the plan says; coming back up to it is never step-capped
    keep = lowest if allow_below_baseline else max(baseline_min, lowest)
    want = floor
    if want < baseline_min and not allow_below_baseline:
        notes.append(f"plan floor {floor} is below the baseline minimum {baseline_min}: kept")
    want = max(want, keep)
    if want > baseline_max:
        if profile.max_capacity_breach == "increase":
            ceiling = buffered_max(baseline_max, profile.max_capacity_buffer_pct)
            if want > ceiling:
                notes.append(
                    f"plan floor {want} is above max {baseline_max} plus the "
                    f"{profile.max_capacity_buffer_pct:g}% buffer: capped at {ceiling}"
                )
                want = ceiling
            else:
                notes.append(f"max raised from {baseline_max} to {want} (max_capacity_breach)")
        else:
            notes.append(f"plan floor {want} is above max {baseline_max}: capped (honor)")
            want = baseline_max
    if profile.max_step_up is not None and want > current_min + profile.max_step_up:
        capped = max(current_min + profile.max_step_up, keep)
        notes.append(
            f"step capped at +{profile.max_step_up}: {current_min} -> {capped}, not {want}"
        )
        want = capped
    return Bounds(minimum=want, maximum=max(baseline_max, want), notes=tuple(notes))
